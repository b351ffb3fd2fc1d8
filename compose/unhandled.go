package compose

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// handled is the tree of compose fields the mapping acts on, by their YAML
// names: a leaf (true) is taken whole, by code that warns itself about what
// of it skiff cannot honour; a subtree is taken field by field. Everything
// else that is set in a service is reported by unhandled, so that a field
// compose-go learns later is a warning too, never a silent drop.
type handled map[string]any

var serviceFields = handled{
	"name": true, "profiles": true, "image": true, "command": true, "entrypoint": true,
	"environment": true, "env_file": true, "labels": true, "user": true, "working_dir": true,
	"hostname": true, "extra_hosts": true, "ulimits": true, "sysctls": true, "tmpfs": true,
	"shm_size": true, "stop_grace_period": true, "privileged": true, "cap_add": true, "cap_drop": true,
	"devices": true, "network_mode": true, "networks": true, "healthcheck": true, "restart": true,
	"scale": true, "secrets": true, "logging": true, "log_driver": true, "log_opt": true,
	"volumes": true, "ports": true, "depends_on": true, "init": true, "read_only": true,
	"dns": true, "dns_search": true, "security_opt": true, "stdin_open": true, "tty": true,
	"pid": true, "ipc": true, "mem_limit": true, "mem_reservation": true, "cpus": true, "pids_limit": true,
	"build": true,
	"deploy": handled{
		"mode": true, "replicas": true,
		"resources": handled{
			"limits":       handled{"cpus": true, "memory": true, "pids": true},
			"reservations": handled{"cpus": true, "memory": true, "devices": true},
		},
		"placement": handled{"constraints": true, "preferences": true, "max_replicas_per_node": true},
	},
}

// unhandled lists, as dotted paths under prefix, the fields of v that are
// set but not in h.
func unhandled(prefix string, v reflect.Value, h handled) []string {
	var out []string
	walkStruct(prefix, v, h, &out)
	sort.Strings(out)
	return out
}

func walkStruct(prefix string, v reflect.Value, h handled, out *[]string) {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return
	}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if strings.Contains(opts, "inline") && !strings.HasPrefix(name, "#") {
			walkStruct(prefix, v.Field(i), h, out)
			continue
		}
		// "-" fields are the loader's own bookkeeping, and #extensions
		// are the x- fields compose itself leaves to tools.
		if name == "" || name == "-" || strings.HasPrefix(name, "#") {
			continue
		}
		fv := v.Field(i)
		if fv.IsZero() {
			continue
		}
		path := prefix + "." + name
		switch sub := h[name].(type) {
		case bool:
		case handled:
			walkValue(path, fv, sub, out)
		default:
			*out = append(*out, path)
		}
	}
}

// walkValue walks a partly handled field: a struct, or a list or map of
// them, whose items are named by index or key.
func walkValue(path string, v reflect.Value, h handled, out *[]string) {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			walkValue(fmt.Sprintf("%s[%d]", path, i), v.Index(i), h, out)
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			walkValue(fmt.Sprintf("%s.%v", path, k.Interface()), v.MapIndex(k), h, out)
		}
	default:
		walkStruct(path, v, h, out)
	}
}
