package structs

// What an API token may do.
const (
	// PolicyManagement may do anything a person can.
	PolicyManagement = "management"
	// PolicyReadOnly may list, read and follow logs, and nothing else.
	PolicyReadOnly = "read-only"
)

// ACLToken is an API token as the state keeps it: its secret only as a
// SHA-256 hash, so that neither a snapshot nor a replica gives it away.
// The secret is shown once, when the token is created.
type ACLToken struct {
	// AccessorID names the token in listings and deletions; it grants
	// nothing.
	AccessorID string `json:"accessorId"`
	Name       string `json:"name,omitempty"`
	Policy     string `json:"policy"`
	SecretHash string `json:"secretHash"`
	CreatedAt  int64  `json:"createdAt"`
}
