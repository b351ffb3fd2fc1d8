package structs

import (
	"fmt"
	"strconv"
	"strings"
)

// TaskDefRef formats a task definition reference.
func TaskDefRef(family string, revision int) string {
	return family + ":" + strconv.Itoa(revision)
}

// ParseTaskDefRef splits "family:revision".
func ParseTaskDefRef(ref string) (family string, revision int, err error) {
	i := strings.LastIndexByte(ref, ':')
	if i <= 0 {
		return "", 0, fmt.Errorf("task definition reference %q: want family:revision", ref)
	}
	revision, err = strconv.Atoi(ref[i+1:])
	if err != nil || revision < 1 {
		return "", 0, fmt.Errorf("task definition reference %q: revision must be a positive number", ref)
	}
	return ref[:i], revision, nil
}

// StartOrder sorts containers so that each comes after those it depends on
// or links to. The definition is validated to be acyclic before it is
// accepted, so a cycle here is reported, not resolved.
func StartOrder(def *TaskDefinition) ([]*ContainerDefinition, error) {
	index := map[string]*ContainerDefinition{}
	for i := range def.ContainerDefinitions {
		index[def.ContainerDefinitions[i].Name] = &def.ContainerDefinitions[i]
	}
	var out []*ContainerDefinition
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(cd *ContainerDefinition) error
	visit = func(cd *ContainerDefinition) error {
		switch state[cd.Name] {
		case 1:
			return fmt.Errorf("containers depend on each other in a cycle through %s", cd.Name)
		case 2:
			return nil
		}
		state[cd.Name] = 1
		for _, d := range Dependencies(cd) {
			if dep := index[d]; dep != nil {
				if err := visit(dep); err != nil {
					return err
				}
			}
		}
		state[cd.Name] = 2
		out = append(out, cd)
		return nil
	}
	for i := range def.ContainerDefinitions {
		if err := visit(&def.ContainerDefinitions[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Dependencies lists the containers cd must start after: its dependsOn
// entries, the targets of its links ("name" or "name:alias") and the
// containers it takes volumes from, which the engine needs to exist first.
func Dependencies(cd *ContainerDefinition) []string {
	var out []string
	for _, d := range cd.DependsOn {
		out = append(out, d.ContainerName)
	}
	for _, l := range cd.Links {
		name, _, _ := strings.Cut(l, ":")
		out = append(out, name)
	}
	for _, v := range cd.VolumesFrom {
		out = append(out, v.SourceContainer)
	}
	return out
}
