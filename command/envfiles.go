package command

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/compose-spec/compose-go/v2/dotenv"
)

// inlineEnvironmentFiles reads the local environmentFiles of the
// definition in raw (a service file, or a task definition bare or as
// describe-task-definition prints it) and puts their variables into the
// containers' environment, as ECS does with the files it fetches: a
// variable the container's environment sets itself wins. A file's path is
// taken relative to dir, the folder of the file raw came from. Agents never
// read files of the machine skiff runs on, so the file's content travels
// as environment; an s3 entry is left for the agent to refuse. raw comes
// back unchanged when it names no environment file.
func inlineEnvironmentFiles(raw []byte, dir string) ([]byte, error) {
	if !bytes.Contains(raw, []byte(`"environmentFiles"`)) {
		return raw, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		// The agent's decoder says what is wrong with a file that is not
		// an object.
		return raw, nil
	}
	td, path := doc, ""
	if inner, ok := doc["taskDefinition"].(map[string]any); ok {
		td, path = inner, "taskDefinition."
	}
	containers, _ := td["containerDefinitions"].([]any)
	changed := false
	for i, c := range containers {
		cd, ok := c.(map[string]any)
		if !ok {
			continue
		}
		files, _ := cd["environmentFiles"].([]any)
		var left []any
		vars := map[string]string{}
		for j, f := range files {
			entry, _ := f.(map[string]any)
			value, _ := entry["value"].(string)
			if typ, _ := entry["type"].(string); typ == "s3" || value == "" {
				left = append(left, f)
				continue
			}
			file := value
			if !filepath.IsAbs(file) {
				file = filepath.Join(dir, file)
			}
			got, err := dotenv.Read(file)
			if err != nil {
				return nil, fmt.Errorf("%scontainerDefinitions[%d].environmentFiles[%d].value: %w", path, i, j, err)
			}
			for k, v := range got {
				vars[k] = v
			}
			changed = true
		}
		if len(files) == 0 {
			continue
		}
		env, _ := cd["environment"].([]any)
		set := map[string]bool{}
		for _, e := range env {
			if kv, ok := e.(map[string]any); ok {
				name, _ := kv["name"].(string)
				set[name] = true
			}
		}
		names := make([]string, 0, len(vars))
		for k := range vars {
			if !set[k] {
				names = append(names, k)
			}
		}
		slices.Sort(names)
		for _, k := range names {
			env = append(env, map[string]any{"name": k, "value": vars[k]})
		}
		if len(env) > 0 {
			cd["environment"] = env
		}
		if left == nil {
			delete(cd, "environmentFiles")
		} else {
			cd["environmentFiles"] = left
		}
	}
	if !changed {
		return raw, nil
	}
	return json.Marshal(doc)
}

// inputDir is the folder relative paths in the file at path are taken
// from: its own, or the working directory for standard input.
func inputDir(path string) string {
	if path == "-" {
		if wd, err := os.Getwd(); err == nil {
			return wd
		}
		return "."
	}
	return filepath.Dir(path)
}
