//go:build !linux

package pagerelease

// Release does nothing outside Linux: it reads the mappings from
// /proc/self/smaps, which only Linux has. It returns 0 and no error, so
// that a caller needs no build tags of its own.
func Release() (int64, error) { return 0, nil }
