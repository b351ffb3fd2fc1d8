package fsm

import (
	"fmt"
)

// rotateSecret accepts only the rotation that follows the newest one, and
// only from the secret that one rotated to, so that two rotations started
// at once cannot both land and leave agents on different secrets.
func (w *writer) rotateSecret(c *RotateSecret) (any, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	latest, digest := 0, ""
	if r := w.t.latestRotation(); r != nil {
		latest, digest = r.Generation, r.Digest
	}
	r := c.Rotation
	switch {
	case r.Generation != latest+1:
		return nil, fmt.Errorf("rotation to generation %d: the cluster is at generation %d; another rotation came first", r.Generation, latest)
	case latest > 0 && r.PrevDigest != digest:
		return nil, fmt.Errorf("rotation to generation %d starts from a secret that is not the cluster's current one", r.Generation)
	}
	w.t.deleteToken(c.Bootstrap.AccessorID)
	if _, err := w.upsertACLToken(&UpsertACLToken{Token: c.Bootstrap}); err != nil {
		return nil, err
	}
	w.t.putRotation(&r)
	return nil, nil
}
