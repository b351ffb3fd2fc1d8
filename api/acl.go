package api

import (
	"fmt"
	"net/http"
	"path"
	"strings"

	"github.com/skiff-run/skiff/structs"
)

// Access is what a request's token may do.
type Access int

// Access levels, each including the ones before it. Agents' own calls
// to each other need no token: they show their node certificates.
const (
	AccessNone Access = iota
	// AccessRead lists, reads and follows logs. It cannot exec.
	AccessRead
	// AccessWrite may do anything a person can.
	AccessWrite
)

// TokenHeader carries a token for clients that cannot set Authorization.
const TokenHeader = "X-Skiff-Token"

// BearerToken reads a request's token: "Authorization: Bearer T", or the
// X-Skiff-Token header.
func BearerToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(t)
		}
	}
	return strings.TrimSpace(r.Header.Get(TokenHeader))
}

// PeerNode is the node id of the agent that made a request: the subject
// of the client certificate it showed, which the listener's TLS
// configuration (pki's ServerTLS) has checked against the cluster CA
// during the handshake. It is "" for a request without one.
func PeerNode(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return ""
	}
	return r.TLS.PeerCertificates[0].Subject.CommonName
}

// authenticate refuses a request whose token may not do what it asks:
// 401 without a known token, 403 with one that lacks the right. Reads
// need any token, except a snapshot's, which holds what only management
// may see. The internal apply takes no token at all but a node
// certificate, which names the node that reports. Health stays open, for load balancers and
// agents that probe each other before they share a cluster, and so do the
// web UI's files, which hold no data.
func (s *server) authenticate(authorize func(string) Access, next http.Handler) http.Handler {
	if authorize == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/health" || isUIPath(r) {
			next.ServeHTTP(w, r)
			return
		}
		if r.URL.Path == InternalApplyPath {
			if PeerNode(r) == "" {
				s.writeErr(w, r, &statusError{http.StatusForbidden, FieldError{Field: "certificate", Message: fmt.Sprintf("%s %s needs the certificate of a node of this cluster", r.Method, r.URL.Path)}})
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		access := AccessNone
		if t := BearerToken(r); t != "" {
			access = authorize(t)
		}
		// A snapshot save and exec are GETs (a WebSocket handshake must
		// be one), but a snapshot holds the whole state and a command in
		// a container can do anything, so both need what a write does.
		need, what := AccessWrite, "a management token"
		// The path is judged as it was sent, since the router matches it
		// escaped: /v1/tasks/a%2Fb/exec reaches exec with the id a/b.
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && r.URL.Path != SnapshotPath && !isExecPath(r.URL.EscapedPath()) {
			need, what = AccessRead, "a token"
		}
		switch {
		case access == AccessNone:
			w.Header().Set("WWW-Authenticate", `Bearer realm="skiff"`)
			s.writeErr(w, r, &statusError{http.StatusUnauthorized, FieldError{Field: "token", Message: "missing or unknown API token: give --token or SKIFF_TOKEN (`skiff acl token create` makes one; the cluster's first is in <data-dir>/management-token)"}})
		case access >= need:
			next.ServeHTTP(w, r)
		default:
			s.writeErr(w, r, &statusError{http.StatusForbidden, FieldError{Field: "token", Message: fmt.Sprintf("%s %s needs %s", r.Method, r.URL.Path, what)}})
		}
	})
}

// isUIPath tells whether r reads the web UI's files, or / that sends
// browsers to them. Anything else, /v1 above all, needs a token. Only a
// clean path counts, so that "/ui/../v1/nodes" cannot pass for one of the
// UI's files on its way to the router.
func isUIPath(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	p := r.URL.Path
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	if clean != p {
		return false
	}
	return p == "/" || p == strings.TrimSuffix(UIPrefix, "/") || strings.HasPrefix(p, UIPrefix)
}

// TokenInfo is an API token as listings show it: never its secret, nor
// the secret's hash.
type TokenInfo struct {
	AccessorID string `json:"accessorId"`
	Name       string `json:"name,omitempty"`
	Policy     string `json:"policy"`
	CreatedAt  int64  `json:"createdAt"`
}

// NewToken is the answer to a token's creation, the one time its secret
// is shown.
type NewToken struct {
	TokenInfo
	Secret string `json:"secret"`
}

// TokenRequest is the body of POST /v1/acl/tokens.
type TokenRequest struct {
	Name   string `json:"name"`
	Policy string `json:"policy"`
}

func (s *server) tokens(w http.ResponseWriter, r *http.Request) (any, error) {
	out := []TokenInfo{}
	for _, t := range s.b.View().ACLTokens() {
		out = append(out, TokenInfo{AccessorID: t.AccessorID, Name: t.Name, Policy: t.Policy, CreatedAt: t.CreatedAt})
	}
	return out, nil
}

func (s *server) createToken(w http.ResponseWriter, r *http.Request) (any, error) {
	var req TokenRequest
	if _, err := decodeBody(w, r, &shape{acted: map[string]*shape{"name": nil, "policy": nil}}, &req); err != nil {
		return nil, err
	}
	if req.Policy != structs.PolicyManagement && req.Policy != structs.PolicyReadOnly {
		return nil, fieldErr("policy", "%q: expected %s or %s", req.Policy, structs.PolicyManagement, structs.PolicyReadOnly)
	}
	if len(req.Name) > 128 {
		return nil, fieldErr("name", "%d characters: at most 128", len(req.Name))
	}
	return s.b.CreateToken(r.Context(), req.Name, req.Policy)
}

func (s *server) deleteToken(w http.ResponseWriter, r *http.Request) (int, any, error) {
	if err := s.b.DeleteToken(r.Context(), r.PathValue("id")); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}
