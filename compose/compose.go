// Package compose turns a Compose file into skiff services. The file is
// loaded by the Compose Specification's own loader (compose-go), which
// resolves .env files, interpolation, extends, profiles, includes and
// anchors exactly as docker compose does, and refuses what docker compose
// refuses with its own message. Each compose service then becomes one
// service file of one container, named <project>-<service>, for the
// ordinary API. Every compose field skiff cannot honour is a warning that
// names it: nothing is dropped in silence.
package compose

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/skiff-run/skiff/api"
)

// Options of Load.
type Options struct {
	// Project is the project's name; empty takes compose's: the file's
	// name field, else COMPOSE_PROJECT_NAME, else the folder's name.
	Project string
	// Env is the environment the file is interpolated with (KEY=VALUE),
	// before the folder's .env, as docker compose takes the process's.
	Env []string
}

// Plan is what a compose project asks of skiff.
type Plan struct {
	Project string
	// Services are in the order of their names; the leader holds each
	// back until the services it depends on are ready, so the order in
	// which they are applied does not matter.
	Services []Service
	// Secrets are the skiff secrets the services read.
	Secrets []Secret
	// Warnings name every compose field skiff does not honour, and how it
	// honours those it honours differently.
	Warnings []string
}

// Service is one compose service as a skiff service file.
type Service struct {
	// Compose is the service's name in the compose file; Name is the
	// skiff service's, <project>-<service>.
	Compose string
	Name    string
	File    api.ServiceFile
}

// Secret is a skiff secret a project's services read.
type Secret struct {
	// Compose is the secret's key in the file's secrets; Name the skiff
	// secret's name (compose's name for it, <project>_<key> unless the
	// file names it).
	Compose string
	Name    string
	// External secrets must exist already; the others are set to Value,
	// read from From (a file or an environment variable).
	External bool
	Value    []byte
	From     string
}

// Load reads the compose file at path (with the override files and
// includes it names) and maps it. An error is either compose-go's, for a
// file docker compose would refuse too, or the mapping's, for one skiff
// cannot run at all (a service with nothing but a build, say).
func Load(ctx context.Context, path string, opts Options) (*Plan, error) {
	o, err := cli.NewProjectOptions([]string{path},
		cli.WithName(opts.Project),
		cli.WithEnv(opts.Env),
		cli.WithEnvFiles(),
		cli.WithDotEnv,
		cli.WithDefaultProfiles(),
		cli.WithDiscardEnvFile,
	)
	if err != nil {
		return nil, err
	}
	p, err := o.LoadProject(ctx)
	if err != nil {
		return nil, err
	}
	return Map(p)
}

// Map turns a loaded project into skiff services, secrets and warnings.
func Map(p *types.Project) (*Plan, error) {
	if len(p.Services) == 0 {
		return nil, errors.New("services: the file has no services to run")
	}
	m := &mapper{p: p, plan: &Plan{Project: p.Name}}
	if err := m.project(); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(p.Services))
	for name := range p.Services {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		svc, err := m.service(p.Services[name])
		if err != nil {
			return nil, fmt.Errorf("services.%s: %w", name, err)
		}
		m.plan.Services = append(m.plan.Services, svc)
	}
	return m.plan, nil
}

// ServiceName is the skiff service a compose service of the project
// becomes.
func ServiceName(project, service string) string { return project + "-" + service }

type mapper struct {
	p    *types.Project
	plan *Plan
	// secrets are the skiff names of the file's secrets, by key.
	secrets map[string]string
}

func (m *mapper) warn(format string, args ...any) {
	m.plan.Warnings = append(m.plan.Warnings, fmt.Sprintf(format, args...))
}
