package command

import (
	"strings"
	"testing"
)

func TestCompletionScripts(t *testing.T) {
	for shell, want := range map[string][]string{
		"bash": {"PROG=skiff", "--generate-bash-completion", "complete -o bashdefault -o default -o nospace -F _cli_bash_autocomplete $PROG"},
		"zsh":  {"#compdef skiff", "--generate-bash-completion", "compdef _cli_zsh_autocomplete skiff"},
		"fish": {"complete -c skiff -n '__fish_skiff_no_subcommand' -f -l addr", "-a 'exec'", "-l interactive"},
	} {
		r := skiff("", "completion", shell)
		wantOK(t, r)
		for _, w := range want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("%s script lacks %q:\n%s", shell, w, r.stdout)
			}
		}
	}
	r := skiff("", "completion", "tcsh")
	if r.code != 1 || r.stderr != `skiff: completion: "tcsh" is not a shell skiff completes: expected bash, zsh or fish`+"\n" {
		t.Errorf("exit code %d, stderr %q", r.code, r.stderr)
	}
}
