package pagerelease

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Release drops the pages of the executable's read-only mappings (its code
// and its read-only data) from this process's page tables and returns how
// many bytes were resident in them, which is how far RSS falls at once.
// Only mappings of the executable's own file (by device and inode) that
// the process cannot write and that hold no page of its own are touched;
// the writable data, the heap, the stacks and every other file are left
// alone.
//
// It is safe to call while other goroutines run: a goroutine that runs
// code, or reads a constant, in a page just dropped takes a minor fault
// and the kernel maps the page back from the page cache. Nothing is read
// from disk unless the kernel had already evicted the page, which it may
// do whether or not Release ran. Each call costs a read of
// /proc/self/smaps and one madvise per mapping, then a few hundred minor
// faults as the code that still runs comes back; call it once start-up has
// settled, not in a loop.
func Release() (int64, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &st); err != nil {
		return 0, fmt.Errorf("pagerelease: stat the executable: %w", err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, fmt.Errorf("pagerelease: %w", err)
	}
	maps, err := parseSmaps(f)
	f.Close()
	if err != nil {
		return 0, err
	}
	// Dev is 32 bits wide on some platforms, 64 on most.
	dev := uint64(st.Dev)
	picked := releasable(maps, unix.Major(dev), unix.Minor(dev), uint64(st.Ino))
	if len(picked) == 0 {
		// The device and inode of a mapping are those of the file the
		// kernel maps, which on an older overlay file system is the
		// layer's file, not the one /proc/self/exe names. Nothing is
		// released then, rather than anything picked by its path.
		return 0, fmt.Errorf("pagerelease: no read-only mapping of the executable (device %d:%d, inode %d) in /proc/self/smaps",
			unix.Major(dev), unix.Minor(dev), st.Ino)
	}
	var released int64
	for _, m := range picked {
		// The addresses go to the kernel as numbers; no Go pointer is
		// made of them.
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(m.start), uintptr(m.end-m.start), unix.MADV_DONTNEED); errno != 0 {
			return released, fmt.Errorf("pagerelease: madvise %x-%x %s: %w", m.start, m.end, m.perms, errno)
		}
		released += m.rss
	}
	return released, nil
}
