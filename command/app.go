// Package command is skiff's command line: the agent command that runs a
// node, and the client commands that talk to an agent's HTTP API. main
// hands it the process's arguments and output streams; every command
// writes to those, so that tests can run the whole command line in process
// against a fake API.
package command

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/pki"
)

// Run runs the command line args (args[0] is the program's name), writing
// output to stdout and errors and warnings to stderr, and returns the exit
// code for the process.
func Run(args []string, stdout, stderr io.Writer) int {
	e := &env{stdin: os.Stdin, now: time.Now}
	return e.run(args, stdout, stderr)
}

// env is what the commands take from the process besides their arguments
// and output streams. Tests replace the standard input and the clock, so
// that apply -f - and the AGE and SINCE columns can be checked.
type env struct {
	stdin io.Reader
	now   func() time.Time
	// ctx, when set, is the context the commands run in; ending it ends
	// a command that otherwise runs until Ctrl-C, as ps --watch does.
	ctx context.Context
}

func (e *env) run(args []string, stdout, stderr io.Writer) int {
	ctx := e.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	err := e.newApp(stdout, stderr).RunContext(ctx, args)
	if err == nil {
		return 0
	}
	// urfave/cli reports some of its own failures, such as an unknown help
	// topic, with an exit code of their own; they keep it, and are printed
	// as urfave/cli prints them.
	var exit cli.ExitCoder
	if errors.As(err, &exit) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(stderr, msg)
		}
		return exit.ExitCode()
	}
	fmt.Fprintln(stderr, "skiff:", err)
	return 1
}

func (e *env) newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:      "skiff",
		Usage:     "a single-binary container orchestrator for small fleets",
		Version:   agent.Version,
		Writer:    stdout,
		ErrWriter: stderr,
		// Without this urfave/cli would print errors that carry an exit
		// code itself and end the process; run does both instead.
		ExitErrHandler: func(*cli.Context, error) {},
		// The completion scripts ask the binary itself what may come
		// next.
		EnableBashCompletion: true,
		// Without arguments skiff shows its help; an argument that is no
		// command is refused with the nearest one.
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return cli.ShowAppHelp(c)
			}
			return unknownCommand(c, c.Args().First())
		},
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:7070", EnvVars: []string{"SKIFF_ADDR"}, Usage: "the agent API to talk to: host:port (https when a CA certificate is known, http otherwise), http://... or https://..."},
			&cli.BoolFlag{Name: "consistent", Usage: "read through the leader instead of the agent's local replica"},
			&cli.StringFlag{Name: "token", EnvVars: []string{"SKIFF_TOKEN"}, Usage: "API token (default: the one in ./skiff-data/management-token, if there is one)"},
			&cli.StringFlag{Name: "cacert", EnvVars: []string{"SKIFF_CACERT"}, Usage: "the cluster's CA certificate (PEM), which the agent's https certificate must chain to (default: ./skiff-data/ca.pem, if there is one)"},
		},
		Commands: []*cli.Command{
			agentCommand(),
			installCommand(),
			e.applyCommand(),
			e.diffCommand(),
			e.runCommand(),
			e.psCommand(),
			endpointsCommand(),
			servicesCommand(),
			e.deploymentsCommand(),
			rollbackCommand(),
			restartCommand(),
			scaleCommand(),
			e.schedulesCommand(),
			stopCommand(),
			rmCommand(),
			e.logsCommand(),
			e.execCommand(),
			e.inspectCommand(),
			eventsCommand(),
			e.topCommand(),
			snapshotCommand(),
			e.operatorCommand(),
			nodesCommand(),
			e.taskdefsCommand(),
			volumesCommand(),
			e.membersCommand(),
			raftCommand(),
			drainCommand(),
			leaveCommand(),
			tokenCommand(),
			aclCommand(),
			e.secretCommand(),
			versionCommand(),
			completionCommand(),
		},
	}
	refuseUnknownSubcommands(app.Commands)
	return app
}

// dataDirs are the data dirs whose files a client command run on an
// agent's host uses when no flag says otherwise, the first that exists:
// that of an agent started in the current directory with the default
// --data-dir, then that of an agent skiff install set up. Tests replace it.
var dataDirs = []string{dataDir, installedDataDir}

// dataDir is the data dir of an agent started in the current directory
// with the default --data-dir.
const dataDir = "skiff-data"

// localDataDir is the first of dataDirs that exists, or the first of all.
func localDataDir() string {
	for _, d := range dataDirs {
		if _, err := os.Stat(d); err == nil {
			return d
		}
	}
	return dataDirs[0]
}

// client is an API client for the global --addr, --consistent, --token and
// --cacert flags. Without a token it uses the management token of the
// agent whose data dir is ./skiff-data, as on the host where the cluster
// began, else /var/lib/skiff, as on a host where skiff install set one
// up; and without a CA certificate that agent's ca.pem.
func client(c *cli.Context) (*api.Client, error) {
	tlsConfig, err := clientTLS(c)
	if err != nil {
		return nil, err
	}
	cl := api.NewClient(c.String("addr"), tlsConfig)
	cl.Consistent = c.Bool("consistent")
	// Commands with a --cluster flag list, or run in, that pool only.
	cl.Cluster = c.String("cluster")
	cl.Token = c.String("token")
	if cl.Token == "" {
		if raw, err := os.ReadFile(filepath.Join(localDataDir(), agent.ManagementTokenFile)); err == nil {
			cl.Token = strings.TrimSpace(string(raw))
		}
	}
	return cl, nil
}

// clientTLS is how the client checks an agent's https certificate: against
// the CA certificate of --cacert, else of the local data dir's ca.pem when
// there is one. Nil, without either, talks plain http to an address without a
// scheme, as a --dev agent serves.
func clientTLS(c *cli.Context) (*tls.Config, error) {
	path, flag := c.String("cacert"), "--cacert"
	if path == "" {
		path, flag = filepath.Join(localDataDir(), agent.CAFile), "the default CA certificate"
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	cfg, err := pki.ClientTLS(raw)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", flag, path, err)
	}
	return cfg, nil
}

// clientFor checks that the command got want positional arguments, and
// returns a client for the agent the global flags name.
func clientFor(c *cli.Context, want int) (*api.Client, error) {
	if err := args(c, want); err != nil {
		return nil, err
	}
	return client(c)
}

// args checks the count of positional arguments.
func args(c *cli.Context, want int) error {
	if c.NArg() != want {
		return fmt.Errorf("%s takes %d argument(s): %s", c.Command.Name, want, c.Command.ArgsUsage)
	}
	return nil
}
