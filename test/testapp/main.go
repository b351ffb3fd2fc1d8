// Command testapp is the program inside the FROM scratch image that skiff's
// Docker tests run: a small HTTP server with a health endpoint, a way to
// exit with a chosen code, a health probe that needs no shell, and a
// command that prints its environment.
//
//	testapp serve [-addr :8080] [-exit-after 2s] [-exit-code 3] [-upstream http://db:8080/health] [-append /data/starts]
//	testapp probe [-url http://127.0.0.1:8080/health]
//	testapp write -path /data/f -text hello   (exits 1 when the write fails)
//	testapp cat -path /data/f                 (exits 1 when the read fails)
//	testapp env
//	testapp proxied [-addr :9000]             (see proxied.go)
//	testapp hostname|caps|ls|procs            (see inspect.go)
//	testapp say|size                          (see say.go)
//
// serve's /health fails once /sick has been asked for, so that tests can
// make a health check fail. serve also answers GET /file?path=P with the file's content and
// POST /file?path=P by writing the body there (500 with the error when
// that fails), so that tests can check what a volume keeps.
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
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
	case "write", "cat":
		file(os.Args[1], os.Args[2:])
	case "proxied":
		proxied(os.Args[2:])
	case "say":
		say(os.Args[2:])
	case "size":
		size()
	case "env":
		for _, kv := range os.Environ() {
			fmt.Println(kv)
		}
	default:
		if !inspect(os.Args[1], os.Args[2:]) {
			fmt.Fprintf(os.Stderr, "testapp: unknown command %q\n", os.Args[1])
			os.Exit(2)
		}
	}
}

func serve(args []string) {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	addr := fs.String("addr", ":8080", "listen address")
	exitAfter := fs.Duration("exit-after", 0, "exit this long after starting (0: never)")
	exitCode := fs.Int("exit-code", 0, "exit code for -exit-after and /exit")
	upstream := fs.String("upstream", "", "URL that must answer 200 before serving")
	appendTo := fs.String("append", "", "file to add a line to at start, printing how many it then holds (exits 5 when that fails)")
	_ = fs.Parse(args)
	if *appendTo != "" {
		n, err := appendLine(*appendTo)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(5)
		}
		fmt.Printf("%s holds %d starts\n", *appendTo, n)
	}
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
	var sick atomic.Bool
	http.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		if sick.Load() {
			http.Error(w, "sick", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	http.HandleFunc("/sick", func(w http.ResponseWriter, r *http.Request) {
		sick.Store(true)
		fmt.Println("sick from now on")
		fmt.Fprintln(w, "sick from now on")
	})
	http.HandleFunc("/whoami", whoami)
	http.HandleFunc("/greet", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, os.Getenv("GREETING")) })
	http.HandleFunc("/file", serveFile)
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

// serveFile reads or writes the file a request names.
func serveFile(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Query().Get("path")
	if r.Method == http.MethodPost {
		body, _ := io.ReadAll(r.Body)
		if err := os.WriteFile(path, body, 0o644); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "written")
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	w.Write(b)
}

// file writes -text to -path, or prints the file at -path.
func file(cmd string, args []string) {
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	path := fs.String("path", "", "file to write or print")
	text := fs.String("text", "", "what write writes")
	_ = fs.Parse(args)
	var err error
	if cmd == "write" {
		err = os.WriteFile(*path, []byte(*text), 0o644)
	} else {
		var b []byte
		if b, err = os.ReadFile(*path); err == nil {
			fmt.Print(string(b))
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// appendLine adds a line to the file and counts the lines it then holds.
func appendLine(path string) (int, error) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return 0, err
	}
	if _, err := f.WriteString("start\n"); err != nil {
		f.Close()
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	b, err := os.ReadFile(path)
	return strings.Count(string(b), "\n"), err
}
