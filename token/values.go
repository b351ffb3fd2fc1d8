package token

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ValueKey seals the values of `skiff secret set`: AES-256-GCM under a key
// derived from a cluster secret, with the value's name as associated data,
// so that a sealed value cannot be passed off as another secret's. Every
// agent that holds the cluster secret derives the same key. It is safe for
// concurrent use.
type ValueKey struct {
	id   string
	aead cipher.AEAD
}

// ValueKey derives the key that seals secret values under s.
func (s Secret) ValueKey() (*ValueKey, error) {
	block, err := aes.NewCipher(s.derive("skiff secret values v1", 32))
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	return &ValueKey{id: hex.EncodeToString(s.derive("skiff secret values key id v1", 8)), aead: aead}, nil
}

// ID names the key without giving it away, so that the state can say
// which key sealed a value.
func (k *ValueKey) ID() string { return k.id }

// Seal encrypts the value of the secret called name.
func (k *ValueKey) Seal(name string, value []byte) ([]byte, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	return k.aead.Seal(nonce, nonce, value, valueAD(name)), nil
}

// Open decrypts what Seal encrypted for the same name.
func (k *ValueKey) Open(name string, sealed []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("token: sealed value too short")
	}
	plain, err := k.aead.Open(nil, sealed[:n], sealed[n:], valueAD(name))
	if err != nil {
		return nil, fmt.Errorf("token: the sealed value of secret %s does not open with key %s", name, k.id)
	}
	return plain, nil
}

func valueAD(name string) []byte { return []byte("skiff secret value v1\x00" + name) }

// LocalKeyFileName is the file in the data dir of an agent without a
// cluster secret (--dev) that keeps the random secret its secret values
// are sealed under.
const LocalKeyFileName = "secrets-key"

// LocalSecret returns the secret kept in dataDir's LocalKeyFileName,
// making one (readable by its owner only) on first use.
func LocalSecret(dataDir string) (Secret, error) {
	path := filepath.Join(dataDir, LocalKeyFileName)
	raw, err := os.ReadFile(path)
	if err == nil {
		s, err := Parse(string(raw))
		if err != nil {
			return s, fmt.Errorf("%s: %w", path, err)
		}
		return s, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return Secret{}, fmt.Errorf("token: %w", err)
	}
	s, err := Generate()
	if err != nil {
		return s, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(s.String()+"\n"), 0o600); err != nil {
		return s, fmt.Errorf("token: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return s, fmt.Errorf("token: %w", err)
	}
	return s, nil
}
