// Command skiff is a single-binary container orchestrator: `skiff agent`
// runs on every host, and the other commands talk to an agent's API. The
// command line itself lives in package command.
package main

import (
	"os"

	"github.com/skiff-run/skiff/command"
)

func main() {
	os.Exit(command.Run(os.Args, os.Stdout, os.Stderr))
}
