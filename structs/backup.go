package structs

import "encoding/json"

// BackupFormat names the format of a saved snapshot file, so that a file
// of another kind, or of a later format, is refused before anything
// changes.
const BackupFormat = "skiff-snapshot/1"

// Backup is a saved snapshot (`skiff snapshot save`): the state as the
// state machine persists it, with the index it reflects and a digest that
// tells a whole file from a damaged one. It is one JSON document, so that
// it is uploaded as any other write is.
type Backup struct {
	Format string `json:"format"`
	Index  uint64 `json:"index"`
	// SHA256 is the hex digest of State's bytes as they are in the file.
	SHA256 string          `json:"sha256"`
	State  json.RawMessage `json:"state"`
}
