//go:build pprof

package main

import (
	"log"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof on the default mux
	"os"
)

// A build with the pprof tag (`go build -tags pprof`) serves Go's profiles
// on SKIFF_PPROF (host:port) when it is set, so that the CPU of an idle
// agent can be taken apart where it runs. Release builds leave this file
// out: the profiles would show the cluster's internals to anyone who can
// reach the port.
func init() {
	addr := os.Getenv("SKIFF_PPROF")
	if addr == "" {
		return
	}
	go func() { log.Println(http.ListenAndServe(addr, nil)) }()
}
