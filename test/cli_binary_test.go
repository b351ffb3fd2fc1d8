package test

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// buildSkiff builds the skiff binary with the go build flags given, and
// returns its path.
func buildSkiff(t *testing.T, flags ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "skiff")
	build := exec.Command("go", append(append([]string{"build"}, flags...), "-o", bin, "..")...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestCLIBinary builds skiff as a release would, with its version stamped,
// and runs what only the built binary shows: the stamped version, and the
// words the completion scripts ask it for (urfave/cli reads them from the
// process's own arguments).
func TestCLIBinary(t *testing.T) {
	bin := buildSkiff(t, "-ldflags", "-X github.com/skiff-run/skiff/agent.Version=7.7.7-e2e")
	run := func(args ...string) (int, string, string) {
		t.Helper()
		var out, errs bytes.Buffer
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = &out, &errs
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			return ee.ExitCode(), out.String(), errs.String()
		case err != nil:
			t.Fatal(err)
		}
		return 0, out.String(), errs.String()
	}

	// No agent listens on port 1: the client's version is printed, and
	// the command fails saying why the server's is missing.
	code, out, errs := run("--addr", "http://127.0.0.1:1", "version")
	if code != 1 || !strings.HasPrefix(out, "client: 7.7.7-e2e (go") || !strings.Contains(errs, "skiff: server: cannot reach the skiff agent") {
		t.Errorf("version: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if code, out, _ := run("--version"); code != 0 || !strings.Contains(out, "7.7.7-e2e") {
		t.Errorf("--version: exit %d, stdout %q", code, out)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--generate-bash-completion"}, []string{"exec", "logs", "ps", "version", "completion"}},
		{[]string{"raft", "--generate-bash-completion"}, []string{"peers"}},
		{[]string{"logs", "--t", "--generate-bash-completion"}, []string{"--tail", "--timestamps"}},
	} {
		code, out, errs := run(tc.args...)
		words := strings.Fields(out)
		for _, w := range tc.want {
			if code != 0 || !slices.Contains(words, w) {
				t.Errorf("%q: exit %d, offers %q (stderr %q), not %q", tc.args, code, words, errs, w)
			}
		}
	}
	if code, _, errs := run("exce"); code != 3 || !strings.Contains(errs, `unknown command "exce". Did you mean "exec"?`) {
		t.Errorf("exce: exit %d, stderr %q", code, errs)
	}
}
