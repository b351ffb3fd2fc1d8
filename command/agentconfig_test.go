package command

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/skiff-run/skiff/agent"
)

// agentConfigFromFile parses args as the agent command does, config file
// included, without starting an agent.
func agentConfigFromFile(t *testing.T, args ...string) (agent.Config, error) {
	t.Helper()
	cmd := agentCommand()
	var cfg agent.Config
	cmd.Action = func(c *cli.Context) error {
		if err := loadConfigFile(c, c.String("config")); err != nil {
			return err
		}
		var err error
		cfg, err = agentConfig(c)
		return err
	}
	app := &cli.App{Name: "skiff", ErrWriter: &strings.Builder{}, Commands: []*cli.Command{cmd}}
	err := app.Run(append([]string{"skiff", "agent"}, args...))
	cfg.Logger, cfg.RaftLog = nil, nil
	return cfg, err
}

func configFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestAgentConfigFile checks that a YAML or JSON config file sets agent
// flags by their long names, and that the command line overrides it.
func TestAgentConfigFile(t *testing.T) {
	yamlFile := configFile(t, "skiff.yaml", `
name: pi-1
data-dir: /var/lib/skiff
advertise: 10.0.0.1
http-port: 8080
join: [10.0.0.2, "10.0.0.3:7946"]
attr: {zone: a, rack: 3}
voters: 5
cpu: 2048
probe-interval: 1s
allow-privileged: true
allow-host-path: /srv
`)
	cfg, err := agentConfigFromFile(t, "--config", yamlFile, "--http-port", "9090", "--attr", "zone=b")
	if err != nil {
		t.Fatal(err)
	}
	// The file gives what the same flags on the command line give, but
	// where the command line overrides it.
	want, err := agentConfigFromFile(t, "--name", "pi-1", "--data-dir", "/var/lib/skiff", "--advertise", "10.0.0.1", "--http-port", "9090",
		"--join", "10.0.0.2", "--join", "10.0.0.3:7946", "--attr", "zone=b", "--voters", "5", "--cpu", "2048", "--probe-interval", "1s",
		"--allow-privileged", "--allow-host-path", "/srv")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("YAML file and flags: got %+v\nwant %+v", cfg, want)
	}
	if cfg.HTTPAddr != "0.0.0.0:9090" || !reflect.DeepEqual(cfg.Attributes, map[string]string{"zone": "b"}) || cfg.Voters != 5 ||
		!reflect.DeepEqual(cfg.Join, []string{"10.0.0.2", "10.0.0.3:7946"}) || cfg.ProbeInterval != time.Second || !cfg.AllowPrivileged {
		t.Errorf("YAML file and flags: got %+v", cfg)
	}
	jsonFile := configFile(t, "skiff.json", `{"bootstrap-expect": 1, "attr": ["zone=c"], "raft-timeout": "2s", "gpus": 0, "image-gc-high": 90.5, "cluster": "edge"}`)
	cfg, err = agentConfigFromFile(t, "--config", jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BootstrapExpect != 1 || cfg.Attributes["zone"] != "c" || cfg.RaftTimeout != 2*time.Second || cfg.GPUs != 0 ||
		cfg.ImageGCHigh != 90.5 || cfg.Cluster != "edge" {
		t.Errorf("JSON file: got %+v", cfg)
	}
}

// TestAgentConfigFileErrors checks that an unknown key, or a value of the
// wrong type, is an error naming the key, even when the command line
// overrides it.
func TestAgentConfigFileErrors(t *testing.T) {
	for content, want := range map[string]string{
		"colour: red":          "colour: not an agent flag",
		"config: other.yaml":   "config: not an agent flag",
		"http-port: eighty":    `http-port: expected a whole number, got the text "eighty"`,
		"dev: 1":               "dev: expected true or false, got the number 1",
		"join: 5":              "join: expected a list of text, got the number 5",
		"join: [a, 5]":         "join: [1]: expected text, got the number 5 (quote it)",
		"probe-interval: 5":    "probe-interval: expected a duration such as 500ms or 2m, got the number 5",
		"down-after: soon":     `down-after: "soon": expected a duration such as 500ms or 2m`,
		"name: 12":             "name: expected text, got the number 12 (quote it)",
		"image-gc-high: full":  `image-gc-high: expected a number, got the text "full"`,
		"attr: {zone: [a, b]}": "attr: zone: expected a value such as text or a number, got a list",
		"- a\n- b":             "expected a YAML or JSON object of agent flags",
	} {
		path := configFile(t, "skiff.yaml", content)
		_, err := agentConfigFromFile(t, "--config", path, "--http-port", "9090", "--name", "n")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want an error with %q", content, err, want)
		}
	}
	if _, err := agentConfigFromFile(t, "--config", filepath.Join(t.TempDir(), "none.yaml")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("a missing file: got %v", err)
	}
}
