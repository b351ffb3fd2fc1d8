package fsm

import (
	"errors"
	"fmt"
	"strings"

	"github.com/skiff-run/skiff/structs"
)

// sealOverhead is what sealing adds to a value: AES-GCM's nonce and tag.
const sealOverhead = 12 + 16

// SetSecret stores a secret's value, sealed by the agent that took it
// before the command was built, so that the log holds no value in the
// clear. A new value of an existing secret keeps its creation time and
// bumps its version.
type SetSecret struct {
	Secret structs.Secret `json:"secret"`
	At     int64          `json:"at"`
}

func (c *SetSecret) validate() error {
	s := c.Secret
	if err := structs.CheckSecretName(s.Name); err != nil {
		return fmt.Errorf("secret.name: %w", err)
	}
	switch {
	case s.KeyID == "":
		return errors.New("secret.keyId: required")
	case s.Size < 0 || s.Size > structs.MaxSecretBytes:
		return fmt.Errorf("secret.size %d: want 0 to %d bytes", s.Size, structs.MaxSecretBytes)
	case len(s.Sealed) != s.Size+sealOverhead:
		return fmt.Errorf("secret.sealed: %d bytes do not seal a value of %d", len(s.Sealed), s.Size)
	}
	return nil
}

// DeleteSecret forgets a secret. A secret that a service's task definition
// reads is refused, naming the services, so that no service is left
// failing every start for a missing secret.
type DeleteSecret struct {
	Name string `json:"name"`
}

// ResealSecrets replaces the sealed values of secrets with the same values
// sealed under another key, after the cluster secret rotated. A value set
// since the leader read it (another version) is left as it is, so that a
// reseal never brings back an older value.
type ResealSecrets struct {
	Secrets []Reseal `json:"secrets"`
}

// Reseal is one secret's value sealed again.
type Reseal struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	KeyID   string `json:"keyId"`
	Sealed  []byte `json:"sealed"`
}

func (c *ResealSecrets) validate() error {
	for i, r := range c.Secrets {
		if r.Name == "" || r.KeyID == "" || len(r.Sealed) < sealOverhead {
			return fmt.Errorf("secrets[%d]: name, keyId and a sealed value are required", i)
		}
	}
	return nil
}

func (w *writer) setSecret(c *SetSecret) (any, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	s := c.Secret
	s.Version, s.CreatedAt, s.UpdatedAt = 1, c.At, c.At
	if old := w.t.secrets.Len(); old >= MaxSecrets && get(w.t.secrets, s.Name) == nil {
		return nil, fmt.Errorf("secret %s: the cluster holds %d secrets, the most it keeps", s.Name, MaxSecrets)
	}
	if old := get(w.t.secrets, s.Name); old != nil {
		s.Version, s.CreatedAt = old.Version+1, old.CreatedAt
	}
	w.t.putSecret(&s)
	return nil, nil
}

// MaxSecrets bounds how many secrets the state keeps, so that the sealed
// values (up to 64 KiB each) cannot grow every snapshot without end.
const MaxSecrets = 1000

func (w *writer) deleteSecret(c *DeleteSecret) (any, error) {
	if get(w.t.secrets, c.Name) == nil {
		return nil, fmt.Errorf("secret %s: %w", c.Name, structs.ErrNotFound)
	}
	if users := w.t.servicesUsingSecret(c.Name); len(users) > 0 {
		return nil, fmt.Errorf("%w: secret %s is read by service(s) %s; apply them without it, or delete them, first",
			ErrInUse, c.Name, strings.Join(users, ", "))
	}
	w.t.deleteSecret(c.Name)
	return nil, nil
}

// ErrInUse marks a command refused because something still needs what it
// would remove.
var ErrInUse = errors.New("in use")

func (w *writer) resealSecrets(c *ResealSecrets) (any, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	for _, r := range c.Secrets {
		old := get(w.t.secrets, r.Name)
		if old == nil || old.Version != r.Version || old.KeyID == r.KeyID || len(r.Sealed) != old.Size+sealOverhead {
			continue
		}
		s := *old
		s.KeyID, s.Sealed = r.KeyID, r.Sealed
		w.t.putSecret(&s)
	}
	return nil, nil
}
