package api

import (
	"context"
	"net/http"
)

// TokenRotation is the answer to POST /v1/token/rotate: the cluster's new
// join token, and how long agents still accept the old one.
type TokenRotation struct {
	Token string `json:"token"`
}

func (s *server) rotateToken(w http.ResponseWriter, r *http.Request) (any, error) {
	t, err := s.b.RotateToken(r.Context())
	if err != nil {
		return nil, err
	}
	return TokenRotation{Token: t}, nil
}

// RotateToken replaces the cluster secret and returns the new join token.
func (c *Client) RotateToken(ctx context.Context) (TokenRotation, error) {
	var out TokenRotation
	return out, c.do(ctx, http.MethodPost, "/v1/token/rotate", nil, &out)
}
