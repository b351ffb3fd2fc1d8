package api

import (
	"fmt"
	"strings"

	"github.com/skiff-run/skiff/structs"
)

// checkVolumes checks a definition's volumes and the containers' mount
// points and volumesFrom; path prefixes field names. The rest of the
// definition has been checked, so container names are unique.
func checkVolumes(td *structs.TaskDefinition, path string) error {
	vp := join(path, "volumes")
	if len(td.Volumes) > MaxVolumes {
		return fieldErr(vp, "expected at most %d volumes, got %d", MaxVolumes, len(td.Volumes))
	}
	names := map[string]bool{}
	for i := range td.Volumes {
		v := &td.Volumes[i]
		p := fmt.Sprintf("%s[%d]", vp, i)
		if err := checkName(p+".name", v.Name); err != nil {
			return err
		}
		if names[v.Name] {
			return fieldErr(p+".name", "duplicate volume name %q", v.Name)
		}
		names[v.Name] = true
		if v.Host != nil && v.DockerVolumeConfiguration != nil {
			return fieldErr(p, "give host or dockerVolumeConfiguration, not both")
		}
		if v.Host != nil && v.Host.SourcePath != "" {
			if err := checkAbsPath(p+".host.sourcePath", v.Host.SourcePath, "/srv/data"); err != nil {
				return err
			}
		}
		if c := v.DockerVolumeConfiguration; c != nil {
			cp := p + ".dockerVolumeConfiguration"
			switch c.Scope {
			case "", structs.ScopeTask, structs.ScopeShared:
			default:
				return fieldErr(cp+".scope", "%q: expected task or shared", c.Scope)
			}
			if c.Autoprovision != nil && c.Scope != structs.ScopeShared {
				return fieldErr(cp+".autoprovision", "applies only to a shared volume (a task volume is always created)")
			}
			if c.Driver != "" && c.Driver != "local" {
				return fieldErr(cp+".driver", "%q: only the local driver is supported", c.Driver)
			}
			for _, m := range []struct {
				name string
				kv   map[string]string
			}{{"driverOpts", c.DriverOpts}, {"labels", c.Labels}} {
				for k := range m.kv {
					if k == "" {
						return fieldErr(cp+"."+m.name, "a key is empty")
					}
					if m.name == "labels" && strings.HasPrefix(k, "skiff.") {
						return fieldErr(cp+".labels", "%q: labels beginning with skiff. are skiff's own", k)
					}
				}
			}
		}
	}
	cp := join(path, "containerDefinitions")
	for i := range td.ContainerDefinitions {
		cd := &td.ContainerDefinitions[i]
		p := fmt.Sprintf("%s[%d]", cp, i)
		targets := map[string]bool{}
		for j, m := range cd.MountPoints {
			mp := fmt.Sprintf("%s.mountPoints[%d]", p, j)
			if m.SourceVolume == "" {
				return fieldErr(mp+".sourceVolume", "required: the name of a volume in %s", vp)
			}
			if !names[m.SourceVolume] {
				return fieldErr(mp+".sourceVolume", "no volume %q in %s", m.SourceVolume, vp)
			}
			if err := checkAbsPath(mp+".containerPath", m.ContainerPath, "/data"); err != nil {
				return err
			}
			if targets[m.ContainerPath] {
				return fieldErr(mp+".containerPath", "%s is mounted twice in this container", m.ContainerPath)
			}
			targets[m.ContainerPath] = true
		}
		for j, v := range cd.VolumesFrom {
			if v.SourceContainer == cd.Name || td.Container(v.SourceContainer) == nil {
				return fieldErr(fmt.Sprintf("%s.volumesFrom[%d].sourceContainer", p, j), "%q is not another container of this task definition", v.SourceContainer)
			}
		}
	}
	return nil
}

// checkAbsPath refuses a path that is not absolute and clean, or that
// holds a colon, which the engine reads as the separator of its mount
// options.
func checkAbsPath(field, p, example string) error {
	if !structs.CleanAbsPath(p) || strings.ContainsAny(p, ":\x00") {
		return fieldErr(field, "%q: expected a clean absolute path (no trailing slash, no . or .. elements, no colon), such as %s", p, example)
	}
	return nil
}
