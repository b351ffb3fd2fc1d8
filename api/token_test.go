package api

import (
	"context"
	"errors"
	"net/http"
	"testing"
)

func (f *fakeBackend) RotateToken(ctx context.Context) (string, error) {
	if err := f.record("RotateToken"); err != nil {
		return "", err
	}
	return "SKT1-next", nil
}

// TestRotateToken: the route answers the new token, and a --dev agent's
// refusal is a 409 that says why.
func TestRotateToken(t *testing.T) {
	f := newFake()
	c := NewClient(serve(t, f, &logBuffer{}).URL, nil)
	got, err := c.RotateToken(context.Background())
	if err != nil || got.Token != "SKT1-next" {
		t.Fatalf("rotate: %+v %v", got, err)
	}
	f.errs = map[string]error{"RotateToken": errors.Join(ErrConflict, errors.New("no cluster secret"))}
	_, err = c.RotateToken(context.Background())
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != http.StatusConflict {
		t.Fatalf("want a 409, got %v", err)
	}
}
