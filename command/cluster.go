package command

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/skiff-run/skiff/api"
)

func (e *env) membersCommand() *cli.Command {
	return &cli.Command{
		Name: "members", Usage: "list the gossip view of the cluster", ArgsUsage: " ", Flags: []cli.Flag{jsonFlag(), outputFlag()},
		Action: func(c *cli.Context) error {
			return list(c, (*api.Client).Members,
				[]string{"NAME", "ID", "ADDRESS", "STATUS", "SINCE", "VERSION"},
				func(ms []api.Member) ([][]any, error) {
					now := e.now()
					rows := make([][]any, len(ms))
					for i, m := range ms {
						rows[i] = []any{m.Name, idCol(m.ID), m.Addr, m.Status, now.Sub(m.Since).Round(time.Second), m.Version}
					}
					return rows, nil
				})
		},
	}
}

func raftCommand() *cli.Command {
	return &cli.Command{Name: "raft", Usage: "inspect Raft", Subcommands: []*cli.Command{{
		Name: "peers", Usage: "list Raft servers: voters, non-voters and the leader", ArgsUsage: " ", Flags: []cli.Flag{jsonFlag(), outputFlag()},
		Action: func(c *cli.Context) error {
			return list(c, (*api.Client).RaftPeers,
				[]string{"ID", "NAME", "ADDRESS", "VOTER", "LEADER"},
				func(peers []api.RaftPeer) ([][]any, error) {
					names := nodeNames(c)
					rows := make([][]any, len(peers))
					for i, p := range peers {
						rows[i] = []any{idCol(p.ID), names[p.ID], p.Address, p.Voter, p.Leader}
					}
					return rows, nil
				})
		},
	}}}
}

func leaveCommand() *cli.Command {
	return &cli.Command{
		Name: "leave", Usage: "make the agent at --addr leave the cluster gracefully and stop", ArgsUsage: " ",
		Action: func(c *cli.Context) error {
			cl, err := clientFor(c, 0)
			if err != nil {
				return err
			}
			if err := cl.Leave(c.Context); err != nil {
				return err
			}
			fmt.Fprintln(c.App.Writer, "the agent left the cluster and is stopping")
			return nil
		},
	}
}
