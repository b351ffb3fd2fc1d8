package command

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/structs"
)

func eventsCommand() *cli.Command {
	return &cli.Command{
		Name: "events", Usage: "print what the cluster did: services applied, tasks placed, started and stopped and why, nodes up and down, deployments", ArgsUsage: " ",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "service", Usage: "only events of this service (repeat for several)"},
			&cli.StringSliceFlag{Name: "node", Usage: "only events of this node, by name or id (repeat for several)"},
			&cli.StringSliceFlag{Name: "task", Usage: "only events of this task, by id or a unique part of it (repeat for several)"},
			&cli.StringSliceFlag{Name: "kind", Usage: "only events of this kind, such as task.stopped (repeat for several)"},
			filterFlag(),
			&cli.Uint64Flag{Name: "since", Usage: "only events of log entries after this index (the INDEX column)"},
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing new events as they happen"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON: an array, or with --follow one event per line"},
		},
		Action: events,
	}
}

func events(c *cli.Context) error {
	cl, err := clientFor(c, 0)
	if err != nil {
		return err
	}
	tags, err := tagFilters(c)
	if err != nil {
		return err
	}
	q := api.EventsQuery{Since: c.Uint64("since"), Tags: tags}
	for _, name := range []string{"service", "node", "task", "kind"} {
		for _, v := range c.StringSlice(name) {
			q.Topics = append(q.Topics, name+":"+v)
		}
	}
	w := c.App.Writer
	if !c.Bool("follow") {
		ans, err := cl.Events(c.Context, q)
		if err != nil {
			return err
		}
		if ans.Missed {
			fmt.Fprintf(c.App.ErrWriter, "warning: the cluster no longer keeps some events after index %d\n", q.Since)
		}
		if c.Bool("json") {
			return printJSON(w, ans.Events)
		}
		printEventHeader(w)
		for _, e := range ans.Events {
			printEvent(w, e)
		}
		return nil
	}
	// Ctrl-C is how one ends --follow, so it ends the command quietly.
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt)
	defer stop()
	if !c.Bool("json") {
		printEventHeader(w)
	}
	enc := json.NewEncoder(w)
	err = cl.StreamEvents(ctx, q, func(it api.StreamItem) error {
		switch {
		case it.Event == nil:
			fmt.Fprintf(c.App.ErrWriter, "warning: the cluster no longer keeps the events up to index %d that this stream missed\n", it.LostThrough)
			return nil
		case c.Bool("json"):
			return enc.Encode(it.Event)
		}
		printEvent(w, it.Event)
		return nil
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// eventLine is the layout of one event: fixed-width columns rather than a
// table, since a followed stream prints each event as it comes.
const eventLine = "%-19s  %-8s  %-19s  %s\n"

func printEventHeader(w io.Writer) { fmt.Fprintf(w, eventLine, "TIME", "INDEX", "KIND", "MESSAGE") }

func printEvent(w io.Writer, e *structs.Event) {
	fmt.Fprintf(w, eventLine, time.UnixMilli(e.Time).Format(time.DateTime), fmt.Sprint(e.Index), e.Kind, e.Message)
}
