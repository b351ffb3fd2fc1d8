package token

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Seal encrypts the cluster's next secret under a key derived from this
// one, so that the replicated state can carry a rotation to every agent
// that holds the current secret without the new secret ever being written
// in the clear, and without a snapshot giving it away to anyone else.
func (s Secret) Seal(next Secret) ([]byte, error) {
	aead, err := s.rotationCipher()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	return aead.Seal(nonce, nonce, next[:], nil), nil
}

// Open decrypts a secret that Seal encrypted under s.
func (s Secret) Open(sealed []byte) (Secret, error) {
	var next Secret
	aead, err := s.rotationCipher()
	if err != nil {
		return next, err
	}
	n := aead.NonceSize()
	if len(sealed) < n {
		return next, errors.New("token: sealed secret too short")
	}
	plain, err := aead.Open(nil, sealed[:n], sealed[n:], nil)
	if err != nil {
		return next, errors.New("token: the sealed secret was not made with this cluster secret")
	}
	if len(plain) != secretBytes {
		return next, fmt.Errorf("token: sealed secret of %d bytes, want %d", len(plain), secretBytes)
	}
	copy(next[:], plain)
	return next, nil
}

func (s Secret) rotationCipher() (cipher.AEAD, error) {
	block, err := aes.NewCipher(s.derive("skiff rotation seal v1", 32))
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	return cipher.NewGCM(block)
}

// RetiredFileName is the file in an agent's data dir that lists the
// hashes of the join tokens the agent held before rotations, so that an
// agent whose service manager still passes an old --token starts with the
// current one instead of refusing.
const RetiredFileName = "token-retired"

// Retire records that the agent moved on from old to the secret now kept
// in its data dir.
func Retire(dataDir string, old Secret) error {
	f, err := os.OpenFile(filepath.Join(dataDir, RetiredFileName), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	if _, err := fmt.Fprintln(f, Hash(old.String())); err != nil {
		f.Close()
		return fmt.Errorf("token: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("token: %w", err)
	}
	return f.Close()
}

// Retired reports whether the agent in dataDir once held s and has since
// moved on through a rotation.
func Retired(dataDir string, s Secret) (bool, error) {
	f, err := os.Open(filepath.Join(dataDir, RetiredFileName))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("token: %w", err)
	}
	defer f.Close()
	want := Hash(s.String())
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == want {
			return true, nil
		}
	}
	return false, sc.Err()
}
