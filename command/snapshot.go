package command

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/raft"
	"github.com/skiff-run/skiff/structs"
)

func snapshotCommand() *cli.Command {
	return &cli.Command{
		Name: "snapshot", Usage: "save the cluster's state to a file, or restore it from one",
		Subcommands: []*cli.Command{
			{
				Name: "save", Usage: "save a consistent snapshot of the cluster's state, taken by the leader (needs a management token)", ArgsUsage: "FILE",
				Action: snapshotSave,
			},
			{
				Name: "restore", Usage: "replace the running cluster's state with a saved snapshot, through Raft, so that every agent takes it", ArgsUsage: "FILE",
				Action: snapshotRestore,
			},
		},
	}
}

// snapshotSave writes the snapshot through a file beside FILE, and
// renames it only once it decodes, so that FILE is never half a snapshot.
func snapshotSave(c *cli.Context) error {
	cl, err := clientFor(c, 1)
	if err != nil {
		return err
	}
	path := c.Args().First()
	var raw bytes.Buffer
	var b structs.Backup
	err = writeFileAtomic(path, 0o600, func(w io.Writer) error {
		if err := cl.SaveSnapshot(c.Context, io.MultiWriter(w, &raw)); err != nil {
			return err
		}
		if err := json.Unmarshal(raw.Bytes(), &b); err != nil {
			return fmt.Errorf("the agent's snapshot does not decode: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "saved the state at index %d to %s (%d bytes)\n", b.Index, path, raw.Len())
	return nil
}

func snapshotRestore(c *cli.Context) error {
	cl, err := clientFor(c, 1)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(c.Args().First())
	if err != nil {
		return err
	}
	res, err := cl.RestoreSnapshot(c.Context, raw)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "restored the state saved at index %d; every agent now holds it\n", res.Index)
	return nil
}

func (e *env) operatorCommand() *cli.Command {
	return &cli.Command{
		Name: "operator", Usage: "repair a cluster by hand",
		Subcommands: []*cli.Command{{
			Name:  "recover",
			Usage: "after quorum is lost for good, make a stopped agent's Raft voters the survivors only (run on each survivor, with the same --keep, before any starts)",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "data-dir", Value: dataDir, Usage: "the stopped agent's data dir"},
				&cli.StringSliceFlag{Name: "keep", Usage: "id of another surviving server to keep as a voter (repeat for several); without it, this agent alone"},
				&cli.BoolFlag{Name: "yes", Usage: "do not ask for confirmation"},
			},
			Action: e.recover,
		}},
	}
}

func (e *env) recover(c *cli.Context) error {
	if err := args(c, 0); err != nil {
		return err
	}
	dir := c.String("data-dir")
	self, servers, err := agent.StoppedRaft(dir)
	if err != nil {
		return err
	}
	keep := append([]string{self}, c.StringSlice("keep")...)
	var voters []raft.Server
	w := c.App.Writer
	fmt.Fprintf(w, "Raft servers in %s (this agent is %s):\n", dir, self)
	for _, s := range servers {
		role := "non-voter"
		if s.Voter {
			role = "voter"
		}
		fate := "removed"
		if slices.Contains(keep, s.ID) {
			fate = "kept as a voter"
			voters = append(voters, raft.Server{ID: s.ID, Address: s.Address, Voter: true})
		}
		fmt.Fprintf(w, "  %s %s at %s: %s\n", role, s.ID, s.Address, fate)
	}
	for _, id := range keep {
		if !slices.ContainsFunc(voters, func(s raft.Server) bool { return s.ID == id }) {
			return fmt.Errorf("--keep %s: not a server of this agent's Raft configuration", id)
		}
	}
	fmt.Fprintln(w, "WARNING: this rewrites the cluster's membership without the consent of the servers removed. Do it only when they are")
	fmt.Fprintln(w, "gone for good and the cluster has lost its quorum; writes the lost servers took but never replicated here are lost.")
	fmt.Fprintln(w, "Every survivor must be recovered with the same --keep before any of them starts again.")
	if !c.Bool("yes") {
		fmt.Fprint(w, "Type yes to go on: ")
		line, _ := bufio.NewReader(e.stdin).ReadString('\n')
		if strings.TrimSpace(line) != "yes" {
			return fmt.Errorf("not recovered: the answer was %q, not yes", strings.TrimSpace(line))
		}
	}
	if err := agent.Recover(dir, voters); err != nil {
		return err
	}
	fmt.Fprintf(w, "recovered: %d voter(s); start the agent, then let new agents join it\n", len(voters))
	return nil
}
