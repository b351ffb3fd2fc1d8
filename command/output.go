package command

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/skiff-run/skiff/api"
)

// jsonFlag is the --json flag of every listing. Each command gets a flag
// of its own because urfave/cli writes to a flag while it parses.
func jsonFlag() cli.Flag {
	return &cli.BoolFlag{Name: "json", Usage: "print a JSON array instead of a table"}
}

// clusterFlag filters a listing by pool; the client reads it.
func clusterFlag() cli.Flag {
	return &cli.StringFlag{Name: "cluster", Usage: "only what belongs to this cluster (pool)"}
}

// outputFlag is the --output flag of every listing, beside --json.
func outputFlag() cli.Flag {
	return &cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "table", Usage: "table, wide (the table with whole ids) or json (as --json)"}
}

// Output formats of the listings.
const (
	outputTable = "table"
	outputWide  = "wide"
	outputJSON  = "json"
)

// outputFormat is the format the --output and --json flags of a listing
// ask for.
func outputFormat(c *cli.Context) (string, error) {
	o := c.String("output")
	if o == "" {
		// A listing without an --output flag prints its table.
		o = outputTable
	}
	switch o {
	case outputTable, outputWide, outputJSON:
	default:
		return "", fmt.Errorf("--output %q: expected table, wide or json", o)
	}
	if c.Bool("json") {
		if c.IsSet("output") && o != outputJSON {
			return "", fmt.Errorf("--json and --output %s ask for two formats; give one", o)
		}
		return outputJSON, nil
	}
	return o, nil
}

// list runs a listing command: it takes no arguments, fetches the items
// from the API, and prints them as an indented JSON array with --json or
// --output json, or else as a table of header and rows, with whole ids
// with --output wide. The JSON is the API's answer
// re-encoded, so scripts see the API's field names. rows runs only for the
// table, so it may ask the API for more (node names, say) without the JSON
// changing.
func list[T any](c *cli.Context, fetch func(*api.Client, context.Context) ([]T, error), header []string, rows func([]T) ([][]any, error)) error {
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	cl, err := clientFor(c, 0)
	if err != nil {
		return err
	}
	items, err := fetch(cl, c.Context)
	if err != nil {
		return err
	}
	if format == outputJSON {
		return printJSON(c.App.Writer, items)
	}
	rs, err := rows(items)
	if err != nil {
		return err
	}
	return printRows(c.App.Writer, header, rs, format == outputWide)
}

// printTable prints aligned columns. Cells are formatted with fmt.Sprint;
// an empty one shows as "-" so that every row has as many words as the
// header, for awk and cut.
func printTable(w io.Writer, header []string, rows [][]any) error {
	return printRows(w, header, rows, false)
}

// idCell is an id in a table: short in a table, whole in a wide one.
type idCell struct{ id, short string }

// idCol is a table's cell of an id that tables show by its start.
func idCol(id string) idCell { return idCell{id, shortID(id)} }

// taskIDCol is a table's cell of a task id, which tables show by its end.
func taskIDCol(id string) idCell { return idCell{id, shortTaskID(id)} }

// printRows is printTable, with whole ids when wide.
func printRows(w io.Writer, header []string, rows [][]any, wide bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, row := range rows {
		cells := make([]string, len(row))
		for i, v := range row {
			switch id, isID := v.(idCell); {
			case isID && wide:
				cells[i] = id.id
			case isID:
				cells[i] = id.short
			default:
				cells[i] = fmt.Sprint(v)
			}
			if cells[i] == "" {
				cells[i] = "-"
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// warn prints the API's warnings, such as ECS fields skiff ignores, to the
// error writer, so that the standard output stays parseable.
func warn(c *cli.Context, ws []string) {
	for _, w := range ws {
		fmt.Fprintln(c.App.ErrWriter, "warning:", w)
	}
}

// shortID is the id prefix tables show; the API accepts any unique prefix.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// shortTaskID is the end of a task id, which tables show: task ids start
// with the time they were made (see the leader's task ids), so their first
// characters are shared by every task of a minute, and their last ones are
// random. The API accepts any unique prefix or suffix of a task id.
func shortTaskID(id string) string {
	if len(id) > 8 {
		return id[len(id)-8:]
	}
	return id
}

// age is how long before now the Unix millisecond time ms was, or "" when
// it is unset.
func age(now time.Time, ms int64) string {
	if ms == 0 {
		return ""
	}
	return now.Sub(time.UnixMilli(ms)).Round(time.Second).String()
}
