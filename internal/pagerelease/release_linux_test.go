package pagerelease

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// rssFile reads RssFile, the resident pages of file mappings, from
// /proc/self/status, in bytes.
func rssFile(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "RssFile:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("RssFile: %v", err)
			}
			return kb * 1024
		}
	}
	t.Skip("this kernel's /proc/self/status has no RssFile")
	return 0
}

// TestReleaseDropsTheExecutablesPages releases the test binary's own code
// and read-only data, sees RssFile fall, then runs code that the release
// dropped (formatting, JSON) to show that it comes back.
func TestReleaseDropsTheExecutablesPages(t *testing.T) {
	before := rssFile(t)
	released, err := Release()
	if err != nil {
		t.Fatal(err)
	}
	after := rssFile(t)
	t.Logf("RssFile %d KB -> %d KB, %d KB released", before/1024, after/1024, released/1024)
	if released <= 0 {
		t.Errorf("released %d bytes, want more than 0", released)
	}
	if after >= before {
		t.Errorf("RssFile did not fall: %d bytes before, %d after", before, after)
	}

	type point struct {
		X, Y int
		Name string
	}
	b, err := json.Marshal([]point{{1, 2, "a"}, {3, 4, "b"}})
	if err != nil {
		t.Fatal(err)
	}
	var back []point
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%v %s", back, b); got != `[{1 2 a} {3 4 b}] [{"X":1,"Y":2,"Name":"a"},{"X":3,"Y":4,"Name":"b"}]` {
		t.Errorf("after the release: %s", got)
	}
	if _, err := Release(); err != nil {
		t.Errorf("a second release: %v", err)
	}
}
