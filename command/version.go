package command

import (
	"fmt"
	goruntime "runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/api"
)

// ClientVersion is the version of this skiff binary as skiff version
// prints it.
type ClientVersion struct {
	Version string `json:"version"`
	// Commit is the source revision the binary was built from, when the
	// build recorded it.
	Commit   string `json:"commit,omitempty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// Versions is what skiff version --json prints: the server is the agent's
// health answer, absent when the agent could not be asked.
type Versions struct {
	Client ClientVersion `json:"client"`
	Server *api.Health   `json:"server"`
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name: "version", Usage: "print the versions of this client and of the agent it talks to", ArgsUsage: " ",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print a JSON object instead of text"}},
		Action: func(c *cli.Context) error {
			cl, err := clientFor(c, 0)
			if err != nil {
				return err
			}
			v := Versions{Client: clientVersion()}
			h, herr := cl.Health(c.Context)
			if herr == nil {
				v.Server = &h
			}
			if c.Bool("json") {
				if err := printJSON(c.App.Writer, v); err != nil {
					return err
				}
			} else {
				cv := v.Client
				detail := cv.Go + ", " + cv.Platform
				if cv.Commit != "" {
					detail += ", commit " + cv.Commit
				}
				fmt.Fprintf(c.App.Writer, "client: %s (%s)\n", cv.Version, detail)
				if v.Server != nil {
					fmt.Fprintf(c.App.Writer, "server: %s (node %s, %s, at %s)\n", h.Version, h.Name, shortID(h.Node), c.String("addr"))
				}
			}
			if herr != nil {
				return fmt.Errorf("server: %w", herr)
			}
			return nil
		},
	}
}

// clientVersion is this binary's version: agent.Version, which builds
// stamp with -ldflags "-X github.com/skiff-run/skiff/agent.Version=V", and
// the revision the Go toolchain recorded, when it did.
func clientVersion() ClientVersion {
	v := ClientVersion{Version: agent.Version, Go: goruntime.Version(), Platform: goruntime.GOOS + "/" + goruntime.GOARCH}
	if info, ok := debug.ReadBuildInfo(); ok {
		modified := false
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Commit = shortID(s.Value)
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && v.Commit != "" {
			v.Commit += "-modified"
		}
	}
	return v
}
