package main

// The inspection commands print what a container sees of itself, so that
// tests can check the options it was created with:
//
//	testapp hostname          its host name
//	testapp caps              its effective capabilities, one name a line
//	testapp ls -path /dev     the names in a directory, one a line
//	testapp procs             the command lines of the processes it sees

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// capabilityNames are Linux's capabilities by bit number.
var capabilityNames = []string{"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
	"SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
	"SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE",
	"SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN",
	"SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE"}

// inspect runs the inspection command cmd, and reports whether it is one.
// A command that fails exits 1.
func inspect(cmd string, args []string) bool {
	var err error
	switch cmd {
	case "hostname":
		var name string
		if name, err = os.Hostname(); err == nil {
			fmt.Println(name)
		}
	case "caps":
		err = printCapabilities()
	case "ls":
		fs := flag.NewFlagSet("ls", flag.ExitOnError)
		path := fs.String("path", "/", "directory to list")
		_ = fs.Parse(args)
		var entries []os.DirEntry
		if entries, err = os.ReadDir(*path); err == nil {
			for _, e := range entries {
				fmt.Println(e.Name())
			}
		}
	case "procs":
		err = printProcesses()
	default:
		return false
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	return true
}

// printCapabilities decodes the CapEff line of /proc/self/status.
func printCapabilities() error {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(b), "\n") {
		hex, ok := strings.CutPrefix(line, "CapEff:")
		if !ok {
			continue
		}
		mask, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
		if err != nil {
			return err
		}
		for bit, name := range capabilityNames {
			if mask&(1<<bit) != 0 {
				fmt.Println(name)
			}
		}
		return nil
	}
	return fmt.Errorf("no CapEff in /proc/self/status")
}

// printProcesses prints the command line of every process in /proc.
func printProcesses() error {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue // the process is gone
		}
		fmt.Printf("%s: %s\n", e.Name(), strings.Join(strings.Split(strings.TrimRight(string(b), "\x00"), "\x00"), " "))
	}
	return nil
}
