package pagerelease

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// mapping is one entry of /proc/PID/smaps: the header line of
// /proc/PID/maps (address range, permissions, offset, device, inode, path)
// and the two of its fields Release reads.
type mapping struct {
	start, end   uint64
	perms        string
	major, minor uint32
	inode        uint64
	path         string
	// rss is how many bytes of the mapping are in the process's page
	// tables; anonymous is how many of them are the process's own copies
	// (pages of a private mapping that were written), which MADV_DONTNEED
	// would throw away.
	rss, anonymous int64
}

// parseSmaps reads the text of /proc/PID/smaps. A line it cannot read is an
// error that names the line: the format is the kernel's, and Release acts
// only on what it understood whole.
func parseSmaps(r io.Reader) ([]mapping, error) {
	var maps []mapping
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if line == "" {
			continue
		}
		fields := strings.Fields(line)
		if strings.HasSuffix(fields[0], ":") {
			// A field of the mapping above: "Rss:  1234 kB".
			if len(maps) == 0 {
				return nil, fmt.Errorf("pagerelease: smaps line %d: a field before any mapping: %q", n, line)
			}
			m := &maps[len(maps)-1]
			switch fields[0] {
			case "Rss:", "Anonymous:":
				kb, err := parseKB(fields)
				if err != nil {
					return nil, fmt.Errorf("pagerelease: smaps line %d: %w: %q", n, err, line)
				}
				if fields[0] == "Rss:" {
					m.rss = kb * 1024
				} else {
					m.anonymous = kb * 1024
				}
			}
			continue
		}
		m, err := parseHeader(fields)
		if err != nil {
			return nil, fmt.Errorf("pagerelease: smaps line %d: %w: %q", n, err, line)
		}
		maps = append(maps, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("pagerelease: smaps: %w", err)
	}
	return maps, nil
}

// parseKB reads the size of a field line such as "Rss: 1234 kB".
func parseKB(fields []string) (int64, error) {
	if len(fields) != 3 || fields[2] != "kB" {
		return 0, fmt.Errorf("expected a size in kB")
	}
	kb, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil || kb < 0 {
		return 0, fmt.Errorf("expected a size in kB")
	}
	return kb, nil
}

// parseHeader reads a line of /proc/PID/maps, split into fields:
// "00400000-00e63000 r-xp 00000000 fd:01 1234 /usr/bin/skiff". The path may
// be missing (anonymous memory) or hold spaces, such as a " (deleted)"
// suffix once the file was replaced.
func parseHeader(fields []string) (mapping, error) {
	var m mapping
	if len(fields) < 5 {
		return m, fmt.Errorf("expected address, permissions, offset, device and inode")
	}
	lo, hi, ok := strings.Cut(fields[0], "-")
	if !ok {
		return m, fmt.Errorf("bad address range")
	}
	var err error
	if m.start, err = strconv.ParseUint(lo, 16, 64); err != nil {
		return m, fmt.Errorf("bad address range")
	}
	if m.end, err = strconv.ParseUint(hi, 16, 64); err != nil || m.end <= m.start {
		return m, fmt.Errorf("bad address range")
	}
	if m.perms = fields[1]; len(m.perms) != 4 {
		return m, fmt.Errorf("bad permissions")
	}
	if _, err := strconv.ParseUint(fields[2], 16, 64); err != nil {
		return m, fmt.Errorf("bad offset")
	}
	major, minor, ok := strings.Cut(fields[3], ":")
	if !ok {
		return m, fmt.Errorf("bad device")
	}
	maj, err1 := strconv.ParseUint(major, 16, 32)
	mnr, err2 := strconv.ParseUint(minor, 16, 32)
	if err1 != nil || err2 != nil {
		return m, fmt.Errorf("bad device")
	}
	m.major, m.minor = uint32(maj), uint32(mnr)
	if m.inode, err = strconv.ParseUint(fields[4], 10, 64); err != nil {
		return m, fmt.Errorf("bad inode")
	}
	m.path = strings.Join(fields[5:], " ")
	return m, nil
}

// releasable picks the mappings of the file on device major:minor with
// this inode that may be dropped from the page tables: those the process
// cannot write (no 'w'), so that they hold the file's bytes and nothing
// the process made, and of those only the ones without anonymous pages. A
// read-only mapping can still hold written pages when it was writable
// once, such as the relocations a dynamic loader writes before it makes
// them read-only (RELRO); MADV_DONTNEED would throw those away. The file
// is named by device and inode, not by path: another file can have the
// same path, and the executable's own path ends in " (deleted)" once it
// was replaced on disk.
func releasable(maps []mapping, major, minor uint32, inode uint64) []mapping {
	var out []mapping
	for _, m := range maps {
		if m.major != major || m.minor != minor || m.inode != inode || inode == 0 {
			continue
		}
		if strings.Contains(m.perms, "w") || m.anonymous != 0 {
			continue
		}
		out = append(out, m)
	}
	return out
}
