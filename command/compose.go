package command

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
	"go.yaml.in/yaml/v4"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/compose"
	"github.com/skiff-run/skiff/structs"
)

type kind int

const (
	ecsFile kind = iota
	composeFile
)

// fileKind tells a service file from a compose file, and turns a YAML
// service file into JSON, so that it meets the same strict decoder as a
// JSON one: a JSON object is a service file; YAML with a top-level
// services key is a compose file; other YAML is a service file.
func fileKind(raw []byte) (kind, []byte, error) {
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '{' {
		return ecsFile, raw, nil
	}
	var doc any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return ecsFile, nil, fmt.Errorf("neither JSON nor YAML: %w", err)
	}
	if m, ok := doc.(map[string]any); ok {
		if _, ok := m["services"]; ok {
			return composeFile, raw, nil
		}
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return ecsFile, nil, fmt.Errorf("YAML that has no JSON form: %w", err)
	}
	return ecsFile, out, nil
}

// applyCompose loads a compose file as docker compose does and applies
// each of its services. Every service file is checked before anything is
// sent; then the secrets are set (or found, when external) and the
// services applied.
func applyCompose(c *cli.Context, path string) error {
	plan, err := compose.Load(c.Context, path, compose.Options{Project: c.String("project"), Env: os.Environ()})
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	warn(c, plan.Warnings)
	files := make([][]byte, len(plan.Services))
	for i, s := range plan.Services {
		raw, err := json.Marshal(s.File)
		if err != nil {
			return err
		}
		if _, _, _, err := api.DecodeServiceFile(raw); err != nil {
			return fmt.Errorf("%s: services.%s, as skiff service %s: %w", path, s.Compose, s.Name, err)
		}
		files[i] = raw
	}
	cl, err := client(c)
	if err != nil {
		return err
	}
	if err := setComposeSecrets(c, cl, plan.Secrets); err != nil {
		return err
	}
	applied := make([]*structs.Service, 0, len(plan.Services))
	for i, s := range plan.Services {
		res, err := cl.ApplyService(c.Context, s.Name, files[i])
		if err != nil {
			return fmt.Errorf("services.%s: %w", s.Compose, err)
		}
		warn(c, res.Warnings)
		fmt.Fprintf(c.App.Writer, "service %s: %s, %s\n", res.Service.Name, res.Service.TaskDefinition, desired(res.Service))
		applied = append(applied, res.Service)
	}
	// A service the file no longer has keeps running, as under docker
	// compose without --remove-orphans; this says so.
	svcs, err := cl.Services(c.Context)
	if err != nil {
		return err
	}
	for _, s := range svcs {
		if s.Project == plan.Project && !slices.ContainsFunc(plan.Services, func(p compose.Service) bool { return p.Name == s.Name }) {
			warn(c, []string{fmt.Sprintf("service %s of project %s is not in %s any more; it keeps running until skiff rm %s", s.Name, plan.Project, path, s.Name)})
		}
	}
	return watchAll(c, cl, applied)
}

// watchAll watches each service's rollout in turn, as an apply of one
// service file does, unless --detach is set. The services roll at the
// same time, so watching them one after the other takes as long as the
// slowest. A service that fails does not stop the watch of the others;
// the error names every one that failed. An interrupt stops the whole
// watch.
func watchAll(c *cli.Context, cl *api.Client, svcs []*structs.Service) error {
	var errs []error
	for _, svc := range svcs {
		err := watchUnlessDetached(c, cl, svc)
		if errors.Is(err, errStoppedWatching) || c.Context.Err() != nil {
			return err
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// setComposeSecrets sets the secrets a compose file makes, and checks
// that the external ones it names exist.
func setComposeSecrets(c *cli.Context, cl *api.Client, secrets []compose.Secret) error {
	have, err := cl.Secrets(c.Context)
	if err != nil {
		return err
	}
	for _, s := range secrets {
		if !s.External {
			if _, err := cl.SetSecret(c.Context, s.Name, s.Value); err != nil {
				return fmt.Errorf("secret %s (secrets.%s): %w", s.Name, s.Compose, err)
			}
			fmt.Fprintf(c.App.Writer, "secret %s set from %s\n", s.Name, s.From)
			continue
		}
		if !slices.ContainsFunc(have, func(i api.SecretInfo) bool { return i.Name == s.Name }) {
			return fmt.Errorf("secrets.%s is external, and skiff has no secret %s: set it with skiff secret set %s", s.Compose, s.Name, s.Name)
		}
	}
	return nil
}

// rmProject deletes every service of the project, then the secrets its
// compose file made (named <project>_..., as compose names them) that
// only its services read. External secrets, and any other service's, are
// left alone.
func rmProject(c *cli.Context, project string) error {
	cl, err := client(c)
	if err != nil {
		return err
	}
	svcs, err := cl.Services(c.Context)
	if err != nil {
		return err
	}
	var names []string
	for _, s := range svcs {
		if s.Project == project {
			names = append(names, s.Name)
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("project %s has no services", project)
	}
	secrets, err := cl.Secrets(c.Context)
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := cl.DeleteService(c.Context, n); err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "service %s deleted; its tasks are stopping\n", n)
	}
	for _, s := range secrets {
		ours := len(s.UsedBy) > 0 && strings.HasPrefix(s.Name, project+"_")
		for _, u := range s.UsedBy {
			ours = ours && slices.Contains(names, u)
		}
		if !ours {
			continue
		}
		if err := cl.DeleteSecret(c.Context, s.Name); err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "secret %s removed\n", s.Name)
	}
	return nil
}
