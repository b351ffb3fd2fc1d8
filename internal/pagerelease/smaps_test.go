package pagerelease

import (
	"strings"
	"testing"
)

// sample is /proc/PID/smaps of a process whose executable is /usr/bin/skiff
// on device fd:01, inode 1234, cut to the fields that matter and a few
// that do not.
const sample = `00400000-00e63000 r-xp 00000000 fd:01 1234                               /usr/bin/skiff
Size:              10636 kB
Rss:               10148 kB
Pss:               10148 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me dw sd
00e63000-019e3000 r--p 00a63000 fd:01 1234                               /usr/bin/skiff
Size:              11776 kB
Rss:                9720 kB
Anonymous:             0 kB
THPeligible:    0
VmFlags: rd mr mw me dw sd
019e3000-01a7f000 rw-p 015e3000 fd:01 1234                               /usr/bin/skiff
Size:                624 kB
Rss:                 412 kB
Anonymous:           160 kB
VmFlags: rd wr mr mw me dw ac sd
01a7f000-01a80000 r--p 0167f000 fd:01 1234                               /usr/bin/skiff
Size:                  4 kB
Rss:                   4 kB
Anonymous:             4 kB
01a80000-01b00000 r--p 00000000 fd:01 99                                 /usr/bin/skiff
Size:                512 kB
Rss:                 512 kB
Anonymous:             0 kB
01b00000-01c00000 r--p 00000000 fd:02 1234                               /usr/lib/other
Size:               1024 kB
Rss:                 100 kB
Anonymous:             0 kB
c000000000-c004000000 rw-p 00000000 00:00 0
Size:              65536 kB
Rss:                5120 kB
Anonymous:          5120 kB
7f0000000000-7f0000001000 r-xp 00000000 fd:01 1234                       /usr/bin/skiff (deleted)
Size:                  4 kB
Rss:                   4 kB
Anonymous:             0 kB
7ffd1b5f2000-7ffd1b5f4000 r-xp 00000000 00:00 0                          [vdso]
Rss:                   8 kB
`

func TestParseSmaps(t *testing.T) {
	maps, err := parseSmaps(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(maps) != 9 {
		t.Fatalf("got %d mappings, want 9", len(maps))
	}
	first := maps[0]
	if first.start != 0x400000 || first.end != 0xe63000 || first.perms != "r-xp" || first.major != 0xfd || first.minor != 1 ||
		first.inode != 1234 || first.path != "/usr/bin/skiff" || first.rss != 10148*1024 || first.anonymous != 0 {
		t.Errorf("first mapping: %+v", first)
	}
	if heap := maps[6]; heap.path != "" || heap.inode != 0 || heap.anonymous != 5120*1024 {
		t.Errorf("anonymous mapping: %+v", heap)
	}
	if deleted := maps[7]; deleted.path != "/usr/bin/skiff (deleted)" {
		t.Errorf("a path with a space: %q", deleted.path)
	}
}

// TestReleasablePicksTheExecutablesReadOnlyMappings: the text and the
// read-only data of the executable's file are picked, and so is a mapping
// of it whose path says it was deleted; its writable data is not, nor a
// read-only mapping that holds written pages, nor another file of the same
// path or the same inode on another device, nor anonymous memory.
func TestReleasablePicksTheExecutablesReadOnlyMappings(t *testing.T) {
	maps, err := parseSmaps(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	got := releasable(maps, 0xfd, 1, 1234)
	want := []uint64{0x400000, 0xe63000, 0x7f0000000000}
	if len(got) != len(want) {
		t.Fatalf("picked %+v, want the mappings at %x", got, want)
	}
	for i, m := range got {
		if m.start != want[i] {
			t.Errorf("picked %x, want %x", m.start, want[i])
		}
		if strings.Contains(m.perms, "w") {
			t.Errorf("picked a writable mapping: %+v", m)
		}
	}
	if got := releasable(maps, 0, 0, 0); len(got) != 0 {
		t.Errorf("inode 0 (anonymous memory) picked %+v", got)
	}
}

func TestParseSmapsRefusesMalformedLines(t *testing.T) {
	for name, text := range map[string]string{
		"bad address":                 "00400000-zz r-xp 00000000 fd:01 1234 /usr/bin/skiff\n",
		"range ends before it starts": "00500000-00400000 r-xp 00000000 fd:01 1234 /usr/bin/skiff\n",
		"no inode":                    "00400000-00e63000 r-xp 00000000 fd:01\n",
		"bad device":                  "00400000-00e63000 r-xp 00000000 fd01 1234 /usr/bin/skiff\n",
		"bad permissions":             "00400000-00e63000 rx 00000000 fd:01 1234 /usr/bin/skiff\n",
		"bad size":                    "00400000-00e63000 r-xp 00000000 fd:01 1234 /usr/bin/skiff\nRss: many kB\n",
		"size without a unit":         "00400000-00e63000 r-xp 00000000 fd:01 1234 /usr/bin/skiff\nAnonymous: 0\n",
		"field before mapping":        "Rss: 4 kB\n00400000-00e63000 r-xp 00000000 fd:01 1234 /usr/bin/skiff\n",
		"a line cut short":            sample + "7ffd1b5f4000-\n",
	} {
		if maps, err := parseSmaps(strings.NewReader(text)); err == nil {
			t.Errorf("%s: no error, got %+v", name, maps)
		}
	}
}
