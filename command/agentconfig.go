package command

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"
	"go.yaml.in/yaml/v4"
)

// loadConfigFile sets the agent flags that the YAML or JSON file at path
// names, by their long names, unless the command line or an environment
// variable set them already: those override the file. Every key is
// checked, overridden or not, so that a file with an unknown key or a
// value of the wrong type is an error naming the key rather than a
// setting quietly lost. An empty path reads nothing.
func loadConfigFile(c *cli.Context, path string) error {
	if path == "" {
		return nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("--config %s: expected a YAML or JSON object of agent flags: %w", path, err)
	}
	flags := map[string]cli.Flag{}
	for _, f := range agentFlags() {
		flags[f.Names()[0]] = f
	}
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f, ok := flags[k]
		if !ok {
			return fmt.Errorf("%s: %s: not an agent flag (skiff agent --help lists them, by the long names the file uses)", path, k)
		}
		values, err := configValues(f, doc[k])
		if err != nil {
			return fmt.Errorf("%s: %s: %w", path, k, err)
		}
		if c.IsSet(k) {
			continue
		}
		for _, v := range values {
			if err := c.Set(k, v); err != nil {
				return fmt.Errorf("%s: %s: %w", path, k, err)
			}
		}
	}
	return nil
}

// configValues turns a config file's value for flag f into what the
// command line would give it, one string per occurrence, checking its
// type: true or false for a switch, a whole number for a count, a
// number for a percentage, a duration for a duration (as text, such as 500ms), text for text, and a
// list of text for a repeatable flag (or, for attr, a map of KEY: VALUE).
func configValues(f cli.Flag, v any) ([]string, error) {
	switch f.(type) {
	case *cli.BoolFlag:
		if b, ok := v.(bool); ok {
			return []string{strconv.FormatBool(b)}, nil
		}
		return nil, fmt.Errorf("expected true or false, got %s", describe(v))
	case *cli.IntFlag, *cli.Int64Flag:
		switch n := v.(type) {
		case int:
			return []string{strconv.Itoa(n)}, nil
		case int64:
			return []string{strconv.FormatInt(n, 10)}, nil
		case uint64:
			return []string{strconv.FormatUint(n, 10)}, nil
		}
		return nil, fmt.Errorf("expected a whole number, got %s", describe(v))
	case *cli.Float64Flag:
		switch n := v.(type) {
		case int:
			return []string{strconv.Itoa(n)}, nil
		case float64:
			return []string{strconv.FormatFloat(n, 'g', -1, 64)}, nil
		}
		return nil, fmt.Errorf("expected a number, got %s", describe(v))
	case *cli.DurationFlag:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("expected a duration such as 500ms or 2m, got %s", describe(v))
		}
		if _, err := time.ParseDuration(s); err != nil {
			return nil, fmt.Errorf("%q: expected a duration such as 500ms or 2m", s)
		}
		return []string{s}, nil
	case *cli.StringFlag:
		if s, ok := v.(string); ok {
			return []string{s}, nil
		}
		return nil, fmt.Errorf("expected text, got %s (quote it)", describe(v))
	case *cli.StringSliceFlag:
		return configList(f.Names()[0], v)
	}
	return nil, fmt.Errorf("the flag cannot be set from a config file")
}

// configList is a repeatable flag's values: a list of text, one text, or
// for attr a map of KEY: VALUE, sorted by key.
func configList(name string, v any) ([]string, error) {
	switch l := v.(type) {
	case string:
		return []string{l}, nil
	case []any:
		out := make([]string, len(l))
		for i, item := range l {
			s, ok := item.(string)
			if !ok {
				return nil, fmt.Errorf("[%d]: expected text, got %s (quote it)", i, describe(item))
			}
			out[i] = s
		}
		return out, nil
	case map[string]any:
		if name != "attr" {
			break
		}
		keys := make([]string, 0, len(l))
		for k := range l {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([]string, len(keys))
		for i, k := range keys {
			switch val := l[k].(type) {
			case string, int, int64, uint64, float64, bool:
				out[i] = fmt.Sprintf("%s=%v", k, val)
			default:
				return nil, fmt.Errorf("%s: expected a value such as text or a number, got %s", k, describe(val))
			}
		}
		return out, nil
	}
	if name == "attr" {
		return nil, fmt.Errorf("expected a map of KEY: VALUE or a list of KEY=VALUE, got %s", describe(v))
	}
	return nil, fmt.Errorf("expected a list of text, got %s", describe(v))
}

// describe names the type of a decoded YAML value in a config file's
// terms.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "nothing"
	case bool:
		return fmt.Sprintf("%t", v)
	case int, int64, uint64, float64:
		return fmt.Sprintf("the number %v", v)
	case string:
		return fmt.Sprintf("the text %q", v)
	case []any:
		return "a list"
	case map[string]any:
		return "a map"
	}
	return fmt.Sprintf("a %T", v)
}
