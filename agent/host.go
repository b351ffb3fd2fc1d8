package agent

import (
	"bufio"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
)

// withBuiltinAttributes adds os, arch and hostname to a copy of the
// configured attributes; a configured value wins.
func withBuiltinAttributes(attrs map[string]string) map[string]string {
	out := map[string]string{"os": goruntime.GOOS, "arch": goruntime.GOARCH}
	if h, err := os.Hostname(); err == nil {
		out["hostname"] = h
	}
	for k, v := range attrs {
		out[k] = v
	}
	return out
}

// hostResources reports the host's cpu units (1024 per core) and memory in
// MiB, read from /proc/meminfo; memory is 0 where that file is missing.
func hostResources() (cpu, memMiB int64) {
	cpu = int64(goruntime.NumCPU()) * 1024
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return cpu, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kib, _ := strconv.ParseInt(fields[1], 10, 64)
			return cpu, kib / 1024
		}
	}
	return cpu, 0
}
