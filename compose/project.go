package compose

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/skiff-run/skiff/structs"
)

// project maps the file's top-level parts other than its services:
// secrets become skiff secrets; networks, configs, models and jobs are
// warned about. Named volumes are mapped where services mount them.
func (m *mapper) project() error {
	p := m.p
	if len(p.Configs) > 0 {
		m.warn("configs: skiff has no configs; mount a host path or give a secret instead (%s ignored)", keys(p.Configs))
	}
	if len(p.Models) > 0 {
		m.warn("models: skiff does not run models (%s ignored)", keys(p.Models))
	}
	if len(p.Jobs) > 0 {
		m.warn("jobs: skiff does not run compose jobs (%s ignored); skiff run starts one-off tasks", keys(p.Jobs))
	}
	for _, name := range keys(p.Networks) {
		n := p.Networks[name]
		custom := n
		custom.Name = ""
		if name != "default" || !isZero(custom) {
			m.warn("networks.%s: skiff does not make compose networks; each task has a network of its own", name)
		}
	}
	if len(p.Services) > 1 {
		m.warn("services reach each other by name on the project's network under docker compose; under skiff a container reaches another "+
			"service by its skiff name in the cluster's DNS domain (%s-SERVICE.skiff by default) and the host port it publishes, "+
			"not by its compose name and container port", p.Name)
	}
	for _, name := range keys(p.Volumes) {
		for _, f := range unhandled("volumes."+name, reflectValue(p.Volumes[name]), handled{"name": true, "driver": true, "driver_opts": true, "labels": true, "external": true}) {
			m.warn("%s is a compose field skiff does not act on; it is ignored", f)
		}
	}
	m.secrets = map[string]string{}
	for _, key := range keys(p.Secrets) {
		s := p.Secrets[key]
		path := "secrets." + key
		if err := structs.CheckSecretName(s.Name); err != nil {
			return fmt.Errorf("%s: the secret's name %w", path, err)
		}
		for _, f := range unhandled(path, reflectValue(s), handled{"name": true, "file": true, "environment": true, "content": true, "external": true}) {
			m.warn("%s is a compose field skiff does not act on; it is ignored", f)
		}
		m.secrets[key] = s.Name
		sec := Secret{Compose: key, Name: s.Name, External: bool(s.External)}
		switch {
		case bool(s.External):
		case s.File != "":
			raw, err := os.ReadFile(s.File)
			if err != nil {
				return fmt.Errorf("%s.file: %w", path, err)
			}
			sec.Value, sec.From = raw, s.File
		case s.Environment != "":
			v, ok := p.Environment[s.Environment]
			if !ok {
				return fmt.Errorf("%s.environment: the variable %s is not set", path, s.Environment)
			}
			sec.Value, sec.From = []byte(v), "the variable "+s.Environment
		case s.Content != "":
			sec.Value, sec.From = []byte(s.Content), path+".content"
		default:
			return errors.New(path + ": expected file, environment, content or external")
		}
		// As skiff secret set does, one trailing newline is dropped: a
		// value becomes an environment variable, not a file.
		sec.Value = bytes.TrimSuffix(bytes.TrimSuffix(sec.Value, []byte("\n")), []byte("\r"))
		if len(sec.Value) > structs.MaxSecretBytes {
			return fmt.Errorf("%s: the value from %s is larger than %d bytes", path, sec.From, structs.MaxSecretBytes)
		}
		m.plan.Secrets = append(m.plan.Secrets, sec)
	}
	return nil
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func isZero(n types.NetworkConfig) bool {
	return reflectValue(n).IsZero()
}
