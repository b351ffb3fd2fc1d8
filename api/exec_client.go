package api

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/coder/websocket"

	"github.com/skiff-run/skiff/structs"
)

// upgradeClient is an HTTP/1.1-only client for WebSocket handshakes, with
// a bound on the handshake and none on the stream that follows.
func upgradeClient(tlsConfig *tls.Config) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ForceAttemptHTTP2 = false
	t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	t.ResponseHeaderTimeout = DefaultTimeout
	if tlsConfig != nil {
		t.TLSClientConfig = tlsConfig.Clone()
		t.TLSClientConfig.NextProtos = nil
	}
	return &http.Client{Transport: t}
}

// Exec runs a command in a container of task id, on whichever node runs
// it, and returns the command's exit code. It copies stdio.Stdin, when
// set, to the command until it ends, then tells the command its input
// ended; it writes the command's output to stdio.Stdout and Stderr, and
// sends every size from stdio.Resize. It lasts as long as the command, or
// until ctx ends. A read of stdio.Stdin that blocks is left to finish on
// its own once Exec has returned.
func (c *Client) Exec(ctx context.Context, id string, req ExecRequest, stdio ExecIO) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req.Stdin = stdio.Stdin != nil
	u := c.base + "/v1/tasks/" + url.PathEscape(id) + "/exec?" + req.query().Encode()
	h := http.Header{}
	if c.Token != "" {
		h.Set("Authorization", "Bearer "+c.Token)
	}
	conn, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: c.upgrade, HTTPHeader: h})
	if err != nil {
		return 0, c.handshakeError(resp, err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(execReadLimit)
	if stdio.Stdin != nil {
		go sendStdin(ctx, conn, stdio.Stdin)
	}
	if stdio.Resize != nil {
		go sendSizes(ctx, conn, stdio.Resize)
	}
	for {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			return 0, fmt.Errorf("exec in task %s: the stream ended before the command did: %w", id, err)
		}
		if typ == websocket.MessageText {
			var res ExecResult
			if err := json.Unmarshal(data, &res); err != nil {
				return 0, fmt.Errorf("exec in task %s: decode result: %w", id, err)
			}
			_ = conn.Close(websocket.StatusNormalClosure, "")
			if res.Error != "" {
				return 0, errors.New(res.Error)
			}
			return res.ExitCode, nil
		}
		if len(data) == 0 {
			continue
		}
		w := stdio.Stdout
		if data[0] == ExecStderr {
			w = stdio.Stderr
		}
		if _, err := w.Write(data[1:]); err != nil {
			return 0, fmt.Errorf("exec in task %s: write output: %w", id, err)
		}
	}
}

// handshakeError explains a refused handshake with the agent's own error
// answer when it gave one.
func (c *Client) handshakeError(resp *http.Response, err error) error {
	if resp == nil {
		if strings.Contains(err.Error(), httpsToHTTP) {
			return fmt.Errorf("the skiff agent at %s serves plain http (an agent without a cluster token, as with --dev): give an http:// address in --addr or SKIFF_ADDR", c.base)
		}
		return fmt.Errorf("cannot reach the skiff agent at %s: %w", c.base, err)
	}
	var fe FieldError
	raw, _ := io.ReadAll(resp.Body)
	if json.Unmarshal(raw, &fe) != nil || fe.Message == "" {
		fe.Message = strings.TrimSpace(string(raw))
		if fe.Message == "" {
			fe.Message = err.Error()
		}
	}
	return &Error{Status: resp.StatusCode, Field: fe.Field, Message: fe.Message}
}

// sendStdin sends r to the command as binary messages, then an eof
// control message.
func sendStdin(ctx context.Context, conn *websocket.Conn, r io.Reader) {
	buf := make([]byte, execChunk)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if werr := conn.Write(ctx, websocket.MessageBinary, buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			raw, _ := json.Marshal(ExecControl{Type: "eof"})
			_ = conn.Write(ctx, websocket.MessageText, raw)
			return
		}
	}
}

// sendSizes sends each terminal size as a resize control message.
func sendSizes(ctx context.Context, conn *websocket.Conn, sizes <-chan structs.TermSize) {
	for {
		select {
		case <-ctx.Done():
			return
		case sz, ok := <-sizes:
			if !ok {
				return
			}
			raw, _ := json.Marshal(ExecControl{Type: "resize", Rows: sz.Rows, Cols: sz.Cols})
			if err := conn.Write(ctx, websocket.MessageText, raw); err != nil {
				return
			}
		}
	}
}
