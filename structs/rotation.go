package structs

// SecretRotation records one rotation of the cluster secret. The state
// keeps every rotation, so that an agent that missed some (a follower
// that was behind) can walk from the secret it holds to the newest: each
// record's Sealed opens with the secret before it.
type SecretRotation struct {
	// Generation counts rotations from 1; the secret the cluster was
	// formed with is generation 0.
	Generation int `json:"generation"`
	// PrevDigest and Digest pin the CA of the secret before and after the
	// rotation (the SHA-256 of its certificate), so that an agent can tell
	// which record its own secret opens without trying them all.
	PrevDigest string `json:"prevDigest"`
	Digest     string `json:"digest"`
	// Sealed is the new secret, encrypted under a key derived from the
	// secret before it. No replica or snapshot holds it in the clear.
	Sealed []byte `json:"sealed"`
	At     int64  `json:"at"`
}
