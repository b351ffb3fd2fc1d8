// Package pagerelease gives back to the kernel the pages of the executable's
// code and read-only data that start-up touched and an idle process no
// longer needs.
//
// An agent's RSS is mostly its own binary: on Linux about 10 MB of text and
// 10 MB of read-only data and pclntab are resident a minute after start,
// against a few MB of heap. They are resident because start-up runs code
// all over the binary once (every package's init function, the flags, the
// compose JSON schema compiled at init) and because the kernel's
// fault-around maps up to 64 KB of page-cache pages around each page
// fault. An idle agent's working set is a small part of that.
//
// Release drops the executable's read-only mappings from the process's
// page tables with madvise(MADV_DONTNEED). For a private file mapping that
// was never written this discards nothing: the pages stay in the page
// cache, shared and reclaimable as before, and any page that is run or
// read again comes back by a minor fault. The kernel may drop these pages
// itself under memory pressure at any time, so this adds no way to fail
// that was not there before; it only makes RSS count what the process
// uses again, not what start-up touched. Elsewhere than Linux, Release does
// nothing.
package pagerelease
