package api

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestSnapshotRoutes(t *testing.T) {
	f := newFake()
	srv := serve(t, f, &logBuffer{})
	cl := NewClient(srv.URL, nil)
	var saved strings.Builder
	if err := cl.SaveSnapshot(context.Background(), &saved); err != nil {
		t.Fatal(err)
	}
	if want := `{"format":"skiff-snapshot/1","index":7,"sha256":"digest","state":{"index":7}}` + "\n"; saved.String() != want {
		t.Errorf("saved %q, want %q: the state's bytes as the backend gave them", saved.String(), want)
	}
	res, err := cl.RestoreSnapshot(context.Background(), []byte(saved.String()))
	if err != nil || res.Index != 7 {
		t.Fatalf("restore: %+v, %v", res, err)
	}
	if !slices.Contains(f.recorded(), `RestoreSnapshot skiff-snapshot/1 7 {"index":7}`) {
		t.Errorf("calls %v: want the restore with the file's format, index and state", f.recorded())
	}
	for _, body := range []string{`not json`, `{"format":"skiff-snapshot/1","extra":1}`} {
		a := send(t, srv.URL, http.MethodPut, "/v1/snapshot", body, nil)
		if a.status != http.StatusBadRequest {
			t.Errorf("restore of %s: status %d, want 400", body, a.status)
		}
		checkJSON(t, a.body, map[string]any{"field": "snapshot"})
	}
}

// TestSnapshotGoesToTheLeader: a follower passes a save on to the leader,
// since only the leader's state is sure to hold every acknowledged write.
func TestSnapshotGoesToTheLeader(t *testing.T) {
	leader := newFake()
	lsrv := serve(t, leader, &logBuffer{})
	follower := newFake()
	follower.leader, follower.leaderAPI = false, strings.TrimPrefix(lsrv.URL, "http://")
	fsrv := serve(t, follower, &logBuffer{})
	if err := NewClient(fsrv.URL, nil).SaveSnapshot(context.Background(), &strings.Builder{}); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(leader.recorded(), "SaveSnapshot") || slices.Contains(follower.recorded(), "SaveSnapshot") {
		t.Errorf("leader's calls %v, follower's %v: want the save on the leader only", leader.recorded(), follower.recorded())
	}
}
