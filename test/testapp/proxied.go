package main

// The client-address commands let tests check what a task behind skiff's
// ingress learns of its client:
//
//	GET /whoami (of serve)        its GREETING, the Host asked for, X-Forwarded-For,
//	                              X-Forwarded-Proto and Forwarded, and its TCP peer
//	testapp proxied [-addr :9000] a TCP server that reads a PROXY protocol v2
//	                              header and answers "client=ADDR" with its source

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/pires/go-proxyproto"
)

func whoami(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, "greeting=%s host=%s xff=%s proto=%s forwarded=%s peer=%s\n", os.Getenv("GREETING"), r.Host,
		r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"), r.Header.Get("Forwarded"), r.RemoteAddr)
}

func proxied(args []string) {
	fs := flag.NewFlagSet("proxied", flag.ExitOnError)
	addr := fs.String("addr", ":9000", "listen address")
	_ = fs.Parse(args)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("listening on", *addr)
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		go func() {
			defer c.Close()
			h, err := proxyproto.Read(bufio.NewReader(c))
			if err != nil {
				fmt.Fprintf(c, "error=%v\n", err)
				return
			}
			fmt.Fprintf(c, "client=%s\n", h.SourceAddr)
		}()
	}
}
