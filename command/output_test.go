package command

import (
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestListingOutput checks that --output json prints what --json does,
// --output table what no flag does, and that every listing takes wide.
func TestListingOutput(t *testing.T) {
	for _, l := range listings {
		t.Run(l.golden, func(t *testing.T) {
			f := clusterAPI(t)
			plain, table := skiffAt(f, l.args...), skiffAt(f, append(l.args, "--output", "table")...)
			js, out := skiffAt(f, append(l.args, "--json")...), skiffAt(f, append(l.args, "-o", "json")...)
			wide := skiffAt(f, append(l.args, "-o", "wide")...)
			for _, r := range []result{plain, table, js, out, wide} {
				wantOK(t, r)
			}
			if table.stdout != plain.stdout || out.stdout != js.stdout {
				t.Errorf("--output table printed\n%s\nnot\n%s\nor --output json printed\n%s\nnot\n%s", table.stdout, plain.stdout, out.stdout, js.stdout)
			}
			if strings.Count(wide.stdout, "\n") != strings.Count(plain.stdout, "\n") {
				t.Errorf("--output wide printed\n%s\nfor\n%s", wide.stdout, plain.stdout)
			}
		})
	}
}

// TestWideOutput checks that wide tables show whole ids.
func TestWideOutput(t *testing.T) {
	for _, args := range [][]string{{"ps"}, {"nodes"}} {
		f := clusterAPI(t)
		r := skiffAt(f, append(args, "--output", "wide")...)
		wantOK(t, r)
		golden(t, args[0]+"-wide", r.stdout)
	}
}

func TestOutputRefusals(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ps", "--output", "yaml"}, `skiff: --output "yaml": expected table, wide or json` + "\n"},
		{[]string{"nodes", "--json", "--output", "wide"}, "skiff: --json and --output wide ask for two formats; give one\n"},
		{[]string{"deployments", "-o", "xml"}, `skiff: --output "xml": expected table, wide or json` + "\n"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			f := clusterAPI(t)
			r := skiffAt(f, tc.args...)
			if r.code != 1 || r.stderr != tc.want {
				t.Errorf("exit code %d, stderr %q; want 1 and %q", r.code, r.stderr, tc.want)
			}
			if got := f.got(); len(got) != 0 {
				t.Errorf("sent %q", got)
			}
		})
	}
}

// TestOutputFormatWithoutTheFlag checks that a listing that has --json but
// no --output flag prints its table, or JSON with --json.
func TestOutputFormatWithoutTheFlag(t *testing.T) {
	for args, want := range map[string]string{"": outputTable, "--json": outputJSON} {
		var got string
		app := &cli.App{Commands: []*cli.Command{{Name: "list", Flags: []cli.Flag{jsonFlag()}, Action: func(c *cli.Context) error {
			var err error
			got, err = outputFormat(c)
			return err
		}}}}
		if err := app.Run(append([]string{"skiff", "list"}, strings.Fields(args)...)); err != nil || got != want {
			t.Errorf("%q: format %q, err %v; want %q", args, got, err, want)
		}
	}
}
