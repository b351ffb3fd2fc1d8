package command

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/compose"
	"github.com/skiff-run/skiff/structs"
)

// serviceExtensions are the names of the files a directory's services are
// read from; other files (a README, a compose project's .env) are left
// alone.
var serviceExtensions = []string{".json", ".yaml", ".yml"}

// entry is one service a set of service files holds, checked and ready to
// send.
type entry struct {
	// from names where the service was read, for messages: the file, and
	// for a compose service its key in the file.
	from string
	name string
	// raw is the service file sent to the agent, with the source set when
	// the service comes from a directory.
	raw []byte
	svc *structs.Service
	td  *structs.TaskDefinition
}

// fileSet is every service of one service file or of one directory's
// files, and the secrets their compose files make.
type fileSet struct {
	// path is the file or directory given; source is what the services
	// of a directory record as theirs, empty for a single file.
	path, source string
	entries      []entry
	secrets      []compose.Secret
	warnings     []string
}

// isDir reports whether path names a directory.
func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// dirSource is the source a directory's services record: the one given,
// else the directory's absolute path.
func dirSource(dir, given string) (string, error) {
	if given != "" {
		return given, nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	return abs, nil
}

// loadServices reads and checks every service of path, a service file, a
// compose file or a directory of them, before anything is sent: an error
// names the file and the field at fault. A directory's services record
// source. Scheduled tasks are refused, as their files are applied on
// their own.
func (e *env) loadServices(ctx context.Context, path, source string) (*fileSet, error) {
	set := &fileSet{path: path, source: source}
	files := []string{path}
	if source != "" {
		des, err := os.ReadDir(path)
		if err != nil {
			return nil, err
		}
		files = files[:0]
		for _, de := range des {
			ext := strings.ToLower(filepath.Ext(de.Name()))
			if de.Type().IsRegular() && !strings.HasPrefix(de.Name(), ".") && slices.Contains(serviceExtensions, ext) {
				files = append(files, filepath.Join(path, de.Name()))
			}
		}
		sort.Strings(files)
		if len(files) == 0 {
			return nil, fmt.Errorf("%s: holds no service file (*.json, *.yaml, *.yml)", path)
		}
	}
	seen := map[string]string{}
	for _, f := range files {
		entries, err := e.loadFile(ctx, set, f)
		if err != nil {
			return nil, err
		}
		for _, en := range entries {
			if other, dup := seen[en.name]; dup {
				return nil, fmt.Errorf("%s: service %s is also in %s; a service comes from one file", en.from, en.name, other)
			}
			seen[en.name] = en.from
			set.entries = append(set.entries, en)
		}
	}
	return set, nil
}

// loadFile reads the services of one file into entries.
func (e *env) loadFile(ctx context.Context, set *fileSet, path string) ([]entry, error) {
	raw, err := e.readInput(path)
	if err != nil {
		return nil, err
	}
	kind, raw, err := fileKind(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if kind == composeFile {
		if path == "-" {
			return nil, fmt.Errorf("-: a compose file is read from its folder, for its .env and the files it names; give its path")
		}
		return loadCompose(ctx, set, path)
	}
	if raw, err = inlineEnvironmentFiles(raw, inputDir(path)); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if api.IsScheduleFile(raw) {
		return nil, fmt.Errorf("%s: the file of a scheduled task: apply it on its own with skiff apply -f %s", path, path)
	}
	if raw, err = withSource(raw, set.source); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	en, err := decodeEntry(path, raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	set.warnings = append(set.warnings, prefixed(path, en.warnings)...)
	return []entry{en.entry}, nil
}

// loadCompose reads a compose file's services and secrets as skiff
// service files.
func loadCompose(ctx context.Context, set *fileSet, path string) ([]entry, error) {
	plan, err := compose.Load(ctx, path, compose.Options{Env: os.Environ()})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	set.warnings = append(set.warnings, prefixed(path, plan.Warnings)...)
	set.secrets = append(set.secrets, plan.Secrets...)
	var out []entry
	for _, s := range plan.Services {
		from := fmt.Sprintf("%s: services.%s", path, s.Compose)
		if set.source != "" {
			s.File.Source = set.source
		}
		raw, err := json.Marshal(s.File)
		if err != nil {
			return nil, err
		}
		en, err := decodeEntry(from, raw)
		if err != nil {
			return nil, fmt.Errorf("%s, as skiff service %s: %w", from, s.Name, err)
		}
		set.warnings = append(set.warnings, prefixed(from, en.warnings)...)
		out = append(out, en.entry)
	}
	return out, nil
}

// decoded is an entry and the warnings of its file.
type decoded struct {
	entry
	warnings []string
}

// decodeEntry decodes one service file as the agent will.
func decodeEntry(from string, raw []byte) (decoded, error) {
	svc, td, warnings, err := api.DecodeServiceFile(raw)
	if err != nil {
		return decoded{}, err
	}
	return decoded{entry: entry{from: from, name: svc.Name, raw: raw, svc: svc, td: td}, warnings: warnings}, nil
}

// withSource sets a service file's source to the directory's, and refuses
// a file that names another; without a source it leaves the file as it is.
func withSource(raw []byte, source string) ([]byte, error) {
	if source == "" {
		return raw, nil
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("expected a JSON object: %w", err)
	}
	if have, ok := doc["source"]; ok {
		var s string
		if err := json.Unmarshal(have, &s); err != nil || s != source {
			return nil, fmt.Errorf("source: %s, but the file is applied from the directory %q, which skiff records as the source; leave source out", have, source)
		}
	}
	b, err := json.Marshal(source)
	if err != nil {
		return nil, err
	}
	doc["source"] = b
	return json.Marshal(doc)
}

func prefixed(from string, ws []string) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = from + ": " + w
	}
	return out
}

// applyDir applies every service of a directory: all of them are checked,
// locally and against the agent's task definitions and secrets, before
// the first is sent. Services that would not change are left as they are,
// and with --prune the services applied from the directory that it no
// longer holds are deleted. Then it watches each rollout unless detached,
// as an apply of a compose file does.
func (e *env) applyDir(c *cli.Context) error {
	set, err := e.loadFileSet(c)
	if err != nil {
		return err
	}
	warn(c, set.warnings)
	cl, err := client(c)
	if err != nil {
		return err
	}
	ch, err := planChanges(c.Context, cl, set, c.Bool("prune"))
	if err != nil {
		return err
	}
	if err := setComposeSecrets(c, cl, set.secrets); err != nil {
		return err
	}
	for _, en := range ch.same {
		fmt.Fprintf(c.App.Writer, "service %s: unchanged\n", en.name)
	}
	var applied []*structs.Service
	for _, en := range append(ch.added, changedEntries(ch.changed)...) {
		res, err := cl.ApplyService(c.Context, en.name, en.raw)
		if err != nil {
			return fmt.Errorf("%s: %w", en.from, err)
		}
		warn(c, res.Warnings)
		fmt.Fprintf(c.App.Writer, "service %s: %s, %s\n", res.Service.Name, res.Service.TaskDefinition, desired(res.Service))
		applied = append(applied, res.Service)
	}
	for _, name := range ch.removed {
		if err := cl.DeleteService(c.Context, name); err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "service %s deleted (no longer in %s); its tasks are stopping\n", name, set.path)
	}
	warn(c, ch.orphanWarnings(set))
	return watchAll(c, cl, applied)
}

func changedEntries(cs []changedService) []*entry {
	out := make([]*entry, len(cs))
	for i, c := range cs {
		out[i] = c.entry
	}
	return out
}
