package main

// The exec commands are for `skiff exec` to run beside the server in a
// running container:
//
//	testapp say [-code N] [-stderr TEXT] [-stdin] WORDS...
//	    prints WORDS, then with -stdin its standard input, and TEXT on
//	    standard error, and exits with code N
//	testapp size
//	    prints its terminal's size as ROWSxCOLS once it has one, or "no
//	    terminal"

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

func say(args []string) {
	fs := flag.NewFlagSet("say", flag.ExitOnError)
	code := fs.Int("code", 0, "exit code")
	stderr := fs.String("stderr", "", "text for standard error")
	stdin := fs.Bool("stdin", false, "copy standard input to standard output")
	_ = fs.Parse(args)
	fmt.Println(strings.Join(fs.Args(), " "))
	if *stdin {
		if _, err := io.Copy(os.Stdout, os.Stdin); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if *stderr != "" {
		fmt.Fprintln(os.Stderr, *stderr)
	}
	os.Exit(*code)
}

// size waits up to two seconds for a terminal that has no size yet to get
// one, as an engine may size it just after the command starts.
func size() {
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		w, h, err := term.GetSize(int(os.Stdout.Fd()))
		if err != nil {
			fmt.Println("no terminal")
			return
		}
		if (w > 0 && h > 0) || time.Since(start) > 2*time.Second {
			fmt.Printf("%dx%d\n", h, w)
			return
		}
	}
}
