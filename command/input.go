package command

import (
	"fmt"
	"io"
	"os"

	"github.com/skiff-run/skiff/api"
)

// readInput reads the file a --file flag names, or the standard input for
// "-". It stops past the API's body limit, so that a huge file fails here
// instead of at the agent.
func (e *env) readInput(path string) ([]byte, error) {
	r := e.stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, api.MaxBodyBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > api.MaxBodyBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, api.MaxBodyBytes)
	}
	return b, nil
}
