package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/skiff-run/skiff/structs"
)

// SnapshotPath is where snapshots are saved (GET) and restored (PUT).
// Both go to the leader, and both need a management token: a snapshot
// holds every token's hash and every sealed secret.
const SnapshotPath = "/v1/snapshot"

// MaxSnapshotBytes caps an uploaded snapshot: the state of a million
// tasks takes about 300 MiB.
const MaxSnapshotBytes = 1 << 30

// RestoreResult is the answer to PUT /v1/snapshot.
type RestoreResult struct {
	Index uint64 `json:"index"`
}

// saveSnapshot writes the backup without indentation, so that its state
// keeps the bytes its digest was taken over.
func (s *server) saveSnapshot(w http.ResponseWriter, r *http.Request) {
	b, err := s.b.SaveSnapshot(r.Context())
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(b); err != nil {
		s.writeErr(w, r, fmt.Errorf("encode snapshot: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="skiff.snap"`)
	_, _ = w.Write(buf.Bytes())
}

func (s *server) restoreSnapshot(w http.ResponseWriter, r *http.Request) (any, error) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxSnapshotBytes))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, &statusError{http.StatusRequestEntityTooLarge, FieldError{Field: "body", Message: fmt.Sprintf("larger than %d bytes", MaxSnapshotBytes)}}
	}
	if err != nil {
		return nil, err
	}
	var b structs.Backup
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return nil, fieldErr("snapshot", "not a skiff snapshot file: %v", err)
	}
	if err := s.b.RestoreSnapshot(r.Context(), &b); err != nil {
		return nil, err
	}
	return RestoreResult{Index: b.Index}, nil
}
