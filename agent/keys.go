package agent

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/pki"
	"github.com/skiff-run/skiff/structs"
	"github.com/skiff-run/skiff/token"
)

// keyRing is what keys changes when the cluster secret rotates: the
// gossip ring's keys. gossip.Ring implements it.
type keyRing interface {
	AddKey(key []byte) error
	UseKey(key []byte) error
	RemoveKey(key []byte) error
}

// keys keeps this agent on the cluster's current secret. The state carries
// every rotation, sealed under the secret before it; keys opens the ones
// that follow the secret the agent holds and moves to each in turn: it
// keeps the new secret (and the new bootstrap management token and CA
// certificate) in the data dir, shows a certificate of the new CA, and hears gossip under both
// keys. After a quarter of the grace it speaks gossip under the new key,
// which by then every live agent has added; after the whole grace it drops
// the old key and the old CA, so that the old join token admits nobody.
//
// Its methods are safe for concurrent use; mu serialises moves, so that
// the watch loop and a rotation the leader starts itself do not move twice.
type keys struct {
	dataDir string
	node    *pki.Node
	ring    keyRing
	grace   time.Duration
	log     *slog.Logger
	// ctx ends with the agent, and with it the grace timers, which wg
	// tracks so that Close can wait for them.
	ctx context.Context
	wg  sync.WaitGroup

	mu     sync.Mutex
	secret token.Secret
	digest string // of secret's CA
	// held are the secrets the agent moved away from whose grace has not
	// ended, oldest first: secret values sealed under them still open
	// until the leader has sealed them again under the current one.
	held []token.Secret
	// pending counts moves whose grace has not ended; the old CA is
	// retired only when none is left, so that a second rotation inside
	// the grace of the first keeps its cross-signed chain.
	pending int
	// failed is the rotation the agent could not open, logged once.
	failed int
}

func newKeys(ctx context.Context, dataDir string, s token.Secret, node *pki.Node, ring keyRing, grace time.Duration, log *slog.Logger) *keys {
	return &keys{ctx: ctx, dataDir: dataDir, node: node, ring: ring, grace: grace, log: log, secret: s, digest: node.CA().Digest()}
}

// Secret is the cluster secret the agent holds now.
func (k *keys) Secret() token.Secret {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.secret
}

// Secrets is the cluster secret the agent holds now, then those it still
// holds from before rotations whose grace has not ended, newest first.
func (k *keys) Secrets() []token.Secret {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := []token.Secret{k.secret}
	for i := len(k.held) - 1; i >= 0; i-- {
		out = append(out, k.held[i])
	}
	return out
}

// run follows the state and moves to each rotation as it is applied.
func (k *keys) run(replica fsm.Replica) {
	for {
		changed := replica.Watch()
		k.catchUp(replica.State())
		select {
		case <-k.ctx.Done():
			return
		case <-changed:
		}
	}
}

// catchUp moves through every rotation in st that follows the secret the
// agent holds. A rotation it cannot open (not sealed under its secret,
// which only a broken leader writes) is logged once and stops the walk.
func (k *keys) catchUp(st *fsm.State) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for {
		var next *structs.SecretRotation
		for _, r := range st.Rotations() {
			if r.PrevDigest == k.digest {
				next = r
			}
		}
		if next == nil {
			return
		}
		if err := k.move(next); err != nil {
			if k.failed != next.Generation {
				k.log.Error("cannot move to the rotated cluster secret; this agent keeps the old one and will be cut off when the others retire it",
					"generation", next.Generation, "err", err)
				k.failed = next.Generation
			}
			return
		}
	}
}

// move takes the agent to the secret r seals. It keeps the new secret on
// disk before it uses it anywhere, so that an agent killed midway starts
// again on the new secret. The caller holds mu.
func (k *keys) move(r *structs.SecretRotation) error {
	next, err := k.secret.Open(r.Sealed)
	if err != nil {
		return err
	}
	ca, err := pki.ClusterCA(next)
	if err != nil {
		return err
	}
	if ca.Digest() != r.Digest {
		return fmt.Errorf("the sealed secret's CA is not the one the rotation names")
	}
	if err := token.Save(k.dataDir, next); err != nil {
		return err
	}
	if err := token.Retire(k.dataDir, k.secret); err != nil {
		return err
	}
	if _, err := keepManagementToken(k.dataDir, next); err != nil {
		return err
	}
	if err := writeCA(k.dataDir, ca); err != nil {
		return err
	}
	if err := k.node.Rotate(ca); err != nil {
		return err
	}
	oldKey, newKey := k.secret.GossipKey(), next.GossipKey()
	if err := k.ring.AddKey(newKey); err != nil {
		return err
	}
	k.held = append(k.held, k.secret)
	k.secret, k.digest = next, r.Digest
	k.pending++
	k.log.Info("moved to the rotated cluster secret", "generation", r.Generation, "oldKeysRetiredIn", k.grace.String())
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		k.retireAfterGrace(oldKey)
	}()
	return nil
}

// retireAfterGrace switches gossip to the current key after a quarter of
// the grace, then drops oldKey and, once no other move is pending, the old
// CA. An agent stopped during the grace starts again on the new secret
// alone, so nothing is left to retire.
func (k *keys) retireAfterGrace(oldKey []byte) {
	if !sleep(k.ctx, k.grace/4) {
		return
	}
	k.mu.Lock()
	if err := k.ring.UseKey(k.secret.GossipKey()); err != nil {
		k.log.Error("switch gossip to the rotated key", "err", err)
	}
	k.mu.Unlock()
	if !sleep(k.ctx, k.grace-k.grace/4) {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.ring.RemoveKey(oldKey); err != nil {
		k.log.Error("drop the retired gossip key", "err", err)
	}
	k.pending--
	// Graces all last as long and began in the order of the moves, so
	// the one ending now is the oldest held secret's.
	k.held = k.held[1:]
	if k.pending == 0 {
		k.node.Retire()
		k.log.Info("retired the old cluster secret: its token admits nobody now")
	}
}

// sleep waits d, or less when ctx ends first; it reports whether the
// whole wait passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
