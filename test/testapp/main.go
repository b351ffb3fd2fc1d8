// Command testapp is the program inside the FROM scratch image that skiff's
// Docker tests run: a small HTTP server with a health endpoint, a way to
// exit with a chosen code, a health probe that needs no shell, and a
// command that prints its environment.
//
//	testapp serve [-addr :8080] [-exit-after 2s] [-exit-code 3] [-upstream http://db:8080/health]
//	testapp probe [-url http://127.0.0.1:8080/health]
//	testapp env
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: testapp serve|probe|env [flags]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		serve(os.Args[2:])
	case "probe":
		probe(os.Args[2:])
	case "env":
		for _, kv := range os.Environ() {
			fmt.Println(kv)
		}
	default:
		fmt.Fprintf(os.Stderr, "testapp: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
}

func serve(args []string) {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	addr := fs.String("addr", ":8080", "listen address")
	exitAfter := fs.Duration("exit-after", 0, "exit this long after starting (0: never)")
	exitCode := fs.Int("exit-code", 0, "exit code for -exit-after and /exit")
	upstream := fs.String("upstream", "", "URL that must answer 200 before serving")
	_ = fs.Parse(args)
	if *upstream != "" {
		resp, err := http.Get(*upstream)
		if err != nil || resp.StatusCode != http.StatusOK {
			fmt.Fprintf(os.Stderr, "upstream %s not ready: %v\n", *upstream, err)
			os.Exit(4)
		}
		resp.Body.Close()
		fmt.Println("upstream ready:", *upstream)
	}
	if *exitAfter > 0 {
		go func() {
			time.Sleep(*exitAfter)
			fmt.Println("exiting with code", *exitCode)
			os.Exit(*exitCode)
		}()
	}
	http.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	http.HandleFunc("/greet", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, os.Getenv("GREETING")) })
	http.HandleFunc("/exit", func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("exit requested")
		os.Exit(*exitCode)
	})
	fmt.Println("listening on", *addr)
	if err := http.ListenAndServe(*addr, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func probe(args []string) {
	fs := flag.NewFlagSet("probe", flag.ExitOnError)
	url := fs.String("url", "http://127.0.0.1:8080/health", "URL to GET")
	_ = fs.Parse(args)
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(*url)
	if err != nil || resp.StatusCode != http.StatusOK {
		os.Exit(1)
	}
}
