package fsm

import (
	"fmt"

	"github.com/skiff-run/skiff/structs"
)

// rotateSecret accepts only the rotation that follows the newest one, and
// only from the secret that one rotated to, so that two rotations started
// at once cannot both land and leave agents on different secrets.
func (w *writer) rotateSecret(c *RotateSecret) (any, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	latest, digest := 0, ""
	it, err := w.txn.Get(tableRotations, "id")
	if err != nil {
		panic(fmt.Sprintf("fsm: read rotations: %v", err))
	}
	for obj := it.Next(); obj != nil; obj = it.Next() {
		r := obj.(*structs.SecretRotation)
		latest, digest = r.Generation, r.Digest
	}
	r := c.Rotation
	switch {
	case r.Generation != latest+1:
		return nil, fmt.Errorf("rotation to generation %d: the cluster is at generation %d; another rotation came first", r.Generation, latest)
	case latest > 0 && r.PrevDigest != digest:
		return nil, fmt.Errorf("rotation to generation %d starts from a secret that is not the cluster's current one", r.Generation)
	}
	if old, ok := w.get(tableTokens, c.Bootstrap.AccessorID).(*structs.ACLToken); ok {
		if err := w.txn.Delete(tableTokens, old); err != nil {
			panic(fmt.Sprintf("fsm: delete token: %v", err))
		}
	}
	if _, err := w.upsertACLToken(&UpsertACLToken{Token: c.Bootstrap}); err != nil {
		return nil, err
	}
	w.insert(tableRotations, &r)
	return nil, nil
}
