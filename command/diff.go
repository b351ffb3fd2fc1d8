package command

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/structs"
)

// diffChanged is diff's exit code when applying would change something,
// as `kubectl diff` and `nomad job plan` use it: 0 means nothing would, and
// 1 is an error.
const diffChanged = 2

func (e *env) diffCommand() *cli.Command {
	return &cli.Command{
		Name: "diff", Usage: "show what applying a service file, compose file or directory of them would change, without changing anything",
		Description: "Exits 0 when nothing would change, 2 when something would, and 1 on an error, so that a pipeline can gate on it.",
		ArgsUsage:   " ",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Required: true, Usage: "service file (JSON or YAML), compose file, or directory of them"},
			sourceFlag(),
			&cli.BoolFlag{Name: "prune", Usage: "also show the services applied from the directory that it no longer holds, which apply --prune removes"},
		},
		Action: e.diff,
	}
}

func sourceFlag() cli.Flag {
	return &cli.StringFlag{Name: "source", Usage: "with a directory, the name its services record as where they came from, which --prune goes by (default: the directory's absolute path); give the same one from every checkout of it"}
}

func (e *env) diff(c *cli.Context) error {
	if err := args(c, 0); err != nil {
		return err
	}
	set, err := e.loadFileSet(c)
	if err != nil {
		return err
	}
	cl, err := client(c)
	if err != nil {
		return err
	}
	ch, err := planChanges(c.Context, cl, set, c.Bool("prune"))
	if err != nil {
		return err
	}
	warn(c, set.warnings)
	warn(c, ch.orphanWarnings(set))
	ch.print(c.App.Writer)
	if ch.empty() {
		return nil
	}
	return cli.Exit("", diffChanged)
}

// loadFileSet checks the --file, --source and --prune flags and reads
// the services they name.
func (e *env) loadFileSet(c *cli.Context) (*fileSet, error) {
	path := c.String("file")
	source := ""
	if isDir(path) {
		var err error
		if source, err = dirSource(path, c.String("source")); err != nil {
			return nil, err
		}
	} else {
		for _, f := range []string{"source", "prune"} {
			if c.IsSet(f) {
				return nil, fmt.Errorf("--%s applies to a directory of service files, and %s is not one", f, path)
			}
		}
	}
	return e.loadServices(c.Context, path, source)
}

// changes is what applying a file set would do.
type changes struct {
	added   []*entry
	changed []changedService
	same    []*entry
	// removed are the services the directory no longer holds, when
	// pruning; orphans the same services when not.
	removed, orphans []string
}

// changedService is a service that exists and would change, with a line
// per changed field.
type changedService struct {
	entry  *entry
	fields []string
}

func (ch *changes) empty() bool {
	return len(ch.added) == 0 && len(ch.changed) == 0 && len(ch.removed) == 0
}

// print writes the changes as `nomad job plan` does: + for a service
// added, ~ for one changed, field by field, and - for one removed.
func (ch *changes) print(w io.Writer) {
	for _, en := range ch.added {
		fmt.Fprintf(w, "+ service %s (%s)\n", en.name, en.from)
	}
	for _, c := range ch.changed {
		fmt.Fprintf(w, "~ service %s (%s)\n", c.entry.name, c.entry.from)
		for _, f := range c.fields {
			fmt.Fprintf(w, "    %s\n", f)
		}
	}
	for _, name := range ch.removed {
		fmt.Fprintf(w, "- service %s\n", name)
	}
	if ch.empty() {
		fmt.Fprintln(w, "no changes")
		return
	}
	fmt.Fprintf(w, "%d to add, %d to change, %d to remove\n", len(ch.added), len(ch.changed), len(ch.removed))
}

// orphanWarnings says which services the directory no longer holds when
// they are not being pruned.
func (ch *changes) orphanWarnings(set *fileSet) []string {
	out := make([]string, len(ch.orphans))
	for i, name := range ch.orphans {
		out[i] = fmt.Sprintf("service %s was applied from %s, which no longer holds it; it keeps running until --prune removes it", name, set.path)
	}
	return out
}

// planChanges compares the file set with the services the agent has. It
// also checks what the agent would refuse, a reference to a task
// definition or a secret it does not have, so that applying the set
// writes all of it or nothing.
func planChanges(ctx context.Context, cl *api.Client, set *fileSet, prune bool) (*changes, error) {
	svcs, err := cl.Services(ctx)
	if err != nil {
		return nil, err
	}
	defs, err := cl.TaskDefinitions(ctx)
	if err != nil {
		return nil, err
	}
	secrets, err := cl.Secrets(ctx)
	if err != nil {
		return nil, err
	}
	have := map[string]*structs.Service{}
	for i := range svcs {
		have[svcs[i].Name] = &svcs[i].Service
	}
	secretNames := map[string]bool{}
	for _, s := range secrets {
		secretNames[s.Name] = true
	}
	for _, s := range set.secrets {
		secretNames[s.Name] = true
	}
	ch := &changes{}
	for i := range set.entries {
		en := &set.entries[i]
		td := en.td
		if td == nil {
			if td = newestOf(defs, en.svc.TaskDefinition); td == nil {
				return nil, fmt.Errorf("%s: taskDefinition: %q is not a registered task definition; register it with `skiff taskdefs register -f FILE`, or give the definition inline", en.from, en.svc.TaskDefinition)
			}
		}
		if err := secretsExist(td, secretNames); err != nil {
			return nil, fmt.Errorf("%s: %w", en.from, err)
		}
		old := have[en.name]
		if old == nil {
			ch.added = append(ch.added, en)
			continue
		}
		oldDef := newestOf(defs, old.TaskDefinition)
		fields, err := fieldChanges(old, oldDef, en.svc, td)
		if err != nil {
			return nil, err
		}
		if len(fields) == 0 {
			ch.same = append(ch.same, en)
			continue
		}
		ch.changed = append(ch.changed, changedService{entry: en, fields: fields})
	}
	if set.source != "" {
		for _, s := range svcs {
			if s.Source != set.source || slices.ContainsFunc(set.entries, func(en entry) bool { return en.name == s.Name }) {
				continue
			}
			if prune {
				ch.removed = append(ch.removed, s.Name)
			} else {
				ch.orphans = append(ch.orphans, s.Name)
			}
		}
	}
	sort.Strings(ch.removed)
	sort.Strings(ch.orphans)
	return ch, nil
}

// newestOf returns the definition ref names, a family (its newest
// revision) or family:revision, or nil.
func newestOf(defs []*structs.TaskDefinition, ref string) *structs.TaskDefinition {
	var newest *structs.TaskDefinition
	for _, td := range defs {
		switch {
		case td.Ref() == ref:
			return td
		case td.Family == ref && (newest == nil || td.Revision > newest.Revision):
			newest = td
		}
	}
	return newest
}

// secretsExist checks that every secret td reads is one of names.
func secretsExist(td *structs.TaskDefinition, names map[string]bool) error {
	for i, cd := range td.ContainerDefinitions {
		for j, ref := range cd.Secrets {
			if !names[ref.ValueFrom] {
				return fmt.Errorf("taskDefinition.containerDefinitions[%d].secrets[%d].valueFrom: secret %q does not exist: `skiff secret set %s` makes it", i, j, ref.ValueFrom, ref.ValueFrom)
			}
		}
		if rc := cd.RepositoryCredentials; rc != nil && !names[rc.CredentialsParameter] {
			return fmt.Errorf("taskDefinition.containerDefinitions[%d].repositoryCredentials.credentialsParameter: secret %q does not exist: `skiff secret set %s` makes it", i, rc.CredentialsParameter, rc.CredentialsParameter)
		}
	}
	return nil
}

// fieldChanges lists, one line per field, how the service the agent has
// (old, running oldDef, which may be nil when unknown) differs from the
// file's (svc, running def): "path: old -> new", in the file's field
// names. What only the cluster writes (timestamps, deployments, the
// placement verdict, the revision number) is not compared.
func fieldChanges(old *structs.Service, oldDef *structs.TaskDefinition, svc *structs.Service, def *structs.TaskDefinition) ([]string, error) {
	a, err := specOf(old, oldDef)
	if err != nil {
		return nil, err
	}
	b, err := specOf(svc, def)
	if err != nil {
		return nil, err
	}
	var out []string
	compare("", a, b, &out)
	return out, nil
}

// specOf is what a service file sets of a service, as a JSON document.
func specOf(svc *structs.Service, def *structs.TaskDefinition) (map[string]any, error) {
	// What the leader records of a service, rather than what its file
	// sets, is left out: the fields that JSON leaves out when empty are
	// emptied, the others deleted from the document.
	s := *svc
	s.PlacementFailure, s.Deployments, s.RestartedAt = nil, nil, 0
	doc, err := asJSON(s)
	if err != nil {
		return nil, err
	}
	m, _ := doc.(map[string]any)
	delete(m, "name")
	delete(m, "taskDefinition")
	delete(m, "createdAt")
	delete(m, "updatedAt")
	if def == nil {
		m["taskDefinition"] = svc.TaskDefinition
		return m, nil
	}
	d := *def
	d.Revision = 0
	td, err := asJSON(d)
	if err != nil {
		return nil, err
	}
	m["taskDefinition"] = td
	return m, nil
}

func asJSON(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	return out, json.Unmarshal(b, &out)
}

// compare appends a line for every leaf that differs between a and b, two
// decoded JSON documents, under path. Objects are compared key by key and
// lists item by item, so that one changed field is one line.
func compare(path string, a, b any, out *[]string) {
	am, aObj := a.(map[string]any)
	bm, bObj := b.(map[string]any)
	if aObj && bObj {
		keys := make([]string, 0, len(am)+len(bm))
		for k := range am {
			keys = append(keys, k)
		}
		for k := range bm {
			if _, ok := am[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			compare(joinPath(path, k), am[k], bm[k], out)
		}
		return
	}
	al, aList := a.([]any)
	bl, bList := b.([]any)
	if aList && bList {
		for i := range max(len(al), len(bl)) {
			var x, y any
			if i < len(al) {
				x = al[i]
			}
			if i < len(bl) {
				y = bl[i]
			}
			compare(fmt.Sprintf("%s[%d]", path, i), x, y, out)
		}
		return
	}
	if jsonEqual(a, b) {
		return
	}
	*out = append(*out, fmt.Sprintf("%s: %s -> %s", path, shown(a), shown(b)))
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// shown is a value as a diff line prints it: JSON, or (none) for a field
// one side does not set.
func shown(v any) string {
	if v == nil {
		return "(none)"
	}
	b, _ := json.Marshal(v)
	return strings.TrimSpace(string(b))
}
