package command

import (
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// clearScreen moves a terminal's cursor home and clears the screen, so
// that each round of a watch replaces the last.
const clearScreen = "\x1b[H\x1b[2J"

// watch runs show every --interval until Ctrl-C or the end of the
// command's context. On a terminal each round replaces the last; other
// writers get the rounds one after another, a blank line apart. A first
// round that fails ends the watch with its error (a bad flag, an agent
// that cannot be reached); a later one is reported and the watch goes on,
// as an agent may be down for a moment.
func watch(c *cli.Context, show func(*cli.Context) error) error {
	interval := c.Duration("interval")
	if interval <= 0 {
		return fmt.Errorf("--interval %v: expected a positive duration such as 2s", interval)
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt)
	defer stop()
	c.Context = ctx
	f, isFile := c.App.Writer.(*os.File)
	tty := isFile && term.IsTerminal(int(f.Fd()))
	for round := 0; ; round++ {
		switch {
		case tty:
			fmt.Fprint(c.App.Writer, clearScreen)
		case round > 0:
			fmt.Fprintln(c.App.Writer)
		}
		err := show(c)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && round == 0:
			return err
		case err != nil:
			fmt.Fprintln(c.App.ErrWriter, "skiff:", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}
