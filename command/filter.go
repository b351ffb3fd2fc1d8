package command

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/skiff-run/skiff/structs"
)

// filterFlag is the --filter of listings. Tags are the one kind of filter
// so far; the "tag:" prefix leaves room for others, as docker's filters
// have.
func filterFlag() cli.Flag {
	return &cli.StringSliceFlag{Name: "filter", Usage: "only what has the tag: tag:KEY=VALUE, or tag:KEY for any value (repeatable; all must match)"}
}

// tagFilters reads --filter into the tag filters the API takes, checked
// here so that a mistyped one is named before any request.
func tagFilters(c *cli.Context) ([]string, error) {
	var out []string
	for _, f := range c.StringSlice("filter") {
		tag, ok := strings.CutPrefix(f, "tag:")
		if !ok {
			return nil, fmt.Errorf("--filter %q: expected tag:KEY=VALUE or tag:KEY", f)
		}
		if _, err := structs.ParseTagFilter(tag); err != nil {
			return nil, fmt.Errorf("--filter %q: %v", f, err)
		}
		out = append(out, tag)
	}
	return out, nil
}
