// Package token is skiff's cluster secret: the join token that admits an
// agent to a cluster, its text form, and the keys derived from it. The
// secret never travels in the clear and is never logged; what the cluster
// needs of it (the gossip key) is derived with HKDF, so that no derived key
// gives the secret away.
package token

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// prefix starts every join token, with the format's version, so that a
// token is recognisable in a shell history and a later format can be told
// apart.
const prefix = "SKT1-"

// secretBytes is the length of a cluster secret.
const secretBytes = 32

// Secret is a cluster secret.
type Secret [secretBytes]byte

// Generate returns a new random secret.
func Generate() (Secret, error) {
	var s Secret
	if _, err := rand.Read(s[:]); err != nil {
		return Secret{}, fmt.Errorf("token: %w", err)
	}
	return s, nil
}

// String is the join token: SKT1-<64 hex digits>.
func (s Secret) String() string { return prefix + hex.EncodeToString(s[:]) }

// Parse reads a join token.
func Parse(text string) (Secret, error) {
	var s Secret
	body, ok := strings.CutPrefix(strings.TrimSpace(text), prefix)
	if !ok {
		return s, errors.New("not a skiff join token (it starts with " + prefix + "; `skiff token generate` makes one)")
	}
	raw, err := hex.DecodeString(body)
	if err != nil || len(raw) != secretBytes {
		return s, fmt.Errorf("%s is followed by %d characters; want %d hex digits", prefix, len(body), 2*secretBytes)
	}
	copy(s[:], raw)
	return s, nil
}

// GossipKey is the AES-256 key the gossip ring encrypts with: a member
// without the secret is not heard.
func (s Secret) GossipKey() []byte { return s.derive("skiff gossip key v1", 32) }

// CASeed is the Ed25519 seed of the cluster's certificate authority.
func (s Secret) CASeed() []byte { return s.derive("skiff cluster CA v1", 32) }

// ManagementToken is the API token every agent of the cluster keeps in its
// data dir (management-token) and the leader registers when the cluster
// has none: whoever holds the join token could join an agent and act as
// the cluster anyway, so it gives nothing more away.
func (s Secret) ManagementToken() string {
	return clientPrefix + hex.EncodeToString(s.derive("skiff management token v1", 32))
}

// clientPrefix starts every API token.
const clientPrefix = "SKC1-"

// NewClientToken returns a new random API token.
func NewClientToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	return clientPrefix + hex.EncodeToString(b[:]), nil
}

// Hash is how the state keeps an API token: the hex SHA-256 of its text.
// Tokens are random and long, so no salt is needed.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func (s Secret) derive(purpose string, n int) []byte {
	key, err := hkdf.Key(sha256.New, s[:], nil, purpose, n)
	if err != nil {
		// Only an impossible length makes HKDF fail.
		panic("token: " + err.Error())
	}
	return key
}

// FileName is the file in an agent's data dir that keeps the secret, so
// that a restarted agent needs no token on its command line.
const FileName = "token"

// Load reads the secret an agent kept in its data dir; ok is false when
// there is none.
func Load(dataDir string) (s Secret, ok bool, err error) {
	raw, err := os.ReadFile(filepath.Join(dataDir, FileName))
	if errors.Is(err, os.ErrNotExist) {
		return s, false, nil
	}
	if err != nil {
		return s, false, fmt.Errorf("token: %w", err)
	}
	s, err = Parse(string(raw))
	if err != nil {
		return s, false, fmt.Errorf("%s: %w", filepath.Join(dataDir, FileName), err)
	}
	return s, true, nil
}

// Save keeps the secret in the data dir, readable by its owner only,
// through a new file renamed into place.
func Save(dataDir string, s Secret) error {
	path := filepath.Join(dataDir, FileName)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(s.String()+"\n"), 0o600); err != nil {
		return fmt.Errorf("token: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("token: %w", err)
	}
	return nil
}
