package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/coder/websocket"

	"github.com/skiff-run/skiff/structs"
)

// Exec runs a command in a task's container over a WebSocket at
// GET /v1/tasks/{id}/exec. The query names what to run:
//
//	cmd=ARG (repeated, in order)  the command and its arguments, required
//	container=NAME                the container (default: the task's first)
//	stdin=1                       pass standard input
//	tty=1                         give the command a terminal
//	rows=R&cols=C                 the terminal's size to begin with
//
// Once upgraded, the client sends its standard input as binary messages
// and control messages (ExecControl) as text; the agent sends the output
// as binary messages whose first byte is the stream (ExecStdout or
// ExecStderr) and, last, an ExecResult as text, then closes.
const (
	ExecStdout byte = 1
	ExecStderr byte = 2
)

// Bounds of an exec request.
const (
	maxExecArgs     = 256
	maxExecArgBytes = 64 << 10
	// execChunk bounds the data of one message, well under the read
	// limit both ends set.
	execChunk     = 16 << 10
	execReadLimit = 1 << 20
)

// ExecRequest is what to run, as the query of the exec route gives it.
type ExecRequest struct {
	Container string
	Cmd       []string
	Stdin     bool
	TTY       bool
	Size      structs.TermSize
}

// ExecIO is the streams of a command run by exec. Stdin is nil without
// ExecRequest.Stdin; with a terminal all output is written to Stdout.
// Resize carries the terminal's new sizes and is never closed; nil when
// the size never changes.
type ExecIO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Resize         <-chan structs.TermSize
}

// ExecControl is a control message from the client: Type "resize" with
// the terminal's new size, or "eof" once its standard input has ended.
type ExecControl struct {
	Type string `json:"type"`
	Rows uint16 `json:"rows,omitempty"`
	Cols uint16 `json:"cols,omitempty"`
}

// ExecResult ends an exec: the command's exit code, or Error when it could
// not be run or its streams broke.
type ExecResult struct {
	ExitCode int    `json:"exitCode"`
	Error    string `json:"error,omitempty"`
}

// query encodes r as the exec route's query.
func (r ExecRequest) query() url.Values {
	q := url.Values{"cmd": r.Cmd}
	if r.Container != "" {
		q.Set("container", r.Container)
	}
	if r.Stdin {
		q.Set("stdin", "1")
	}
	if r.TTY {
		q.Set("tty", "1")
	}
	if r.Size.Rows > 0 && r.Size.Cols > 0 {
		q.Set("rows", strconv.Itoa(int(r.Size.Rows)))
		q.Set("cols", strconv.Itoa(int(r.Size.Cols)))
	}
	return q
}

// parseExecRequest reads the exec route's query, naming the parameter at
// fault.
func parseExecRequest(q url.Values) (ExecRequest, error) {
	req := ExecRequest{Container: q.Get("container"), Cmd: q["cmd"]}
	if len(req.Cmd) == 0 || req.Cmd[0] == "" {
		return req, fieldErr("cmd", "required: the command to run and its arguments, one cmd parameter each")
	}
	if len(req.Cmd) > maxExecArgs {
		return req, fieldErr("cmd", "%d arguments: at most %d", len(req.Cmd), maxExecArgs)
	}
	n := 0
	for _, a := range req.Cmd {
		n += len(a)
	}
	if n > maxExecArgBytes {
		return req, fieldErr("cmd", "%d bytes of arguments: at most %d", n, maxExecArgBytes)
	}
	var err error
	if req.Stdin, err = boolParam(q, "stdin"); err != nil {
		return req, err
	}
	if req.TTY, err = boolParam(q, "tty"); err != nil {
		return req, err
	}
	for _, p := range []struct {
		name string
		v    *uint16
	}{{"rows", &req.Size.Rows}, {"cols", &req.Size.Cols}} {
		s := q.Get(p.name)
		if s == "" {
			continue
		}
		n, err := strconv.ParseUint(s, 10, 16)
		if err != nil || n == 0 {
			return req, fieldErr(p.name, "%q: expected a whole number from 1 to 65535", s)
		}
		*p.v = uint16(n)
	}
	return req, nil
}

// boolParam reads an optional boolean query parameter.
func boolParam(q url.Values, name string) (bool, error) {
	s := q.Get(name)
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, fieldErr(name, "%q: expected 1, 0, true or false", s)
	}
	return b, nil
}

// isExecPath tells whether path is that of a task's exec, which needs a
// management token although it is a GET, and is served by the task's node.
func isExecPath(path string) bool { return isTaskPath(path, "/exec") }

// isTaskPath tells whether path is /v1/tasks/{id} followed by leaf.
func isTaskPath(path, leaf string) bool {
	id, ok := strings.CutPrefix(path, "/v1/tasks/")
	if !ok {
		return false
	}
	id, ok = strings.CutSuffix(id, leaf)
	return ok && id != "" && !strings.Contains(id, "/")
}

// execContainer is the container of t that an exec names: container, or
// the definition's first when it is empty. Only a container of the task's
// own definition may be named, since the name becomes part of an
// engine-wide container name.
func execContainer(st State, t *structs.Task, container string) (string, error) {
	td := st.TaskDefinition(t.TaskDefinition)
	if td == nil || len(td.ContainerDefinitions) == 0 {
		return "", fmt.Errorf("task definition %s of task %s: %w", t.TaskDefinition, t.ID, ErrNotFound)
	}
	if container == "" {
		return td.ContainerDefinitions[0].Name, nil
	}
	if !slices.ContainsFunc(td.ContainerDefinitions, func(cd structs.ContainerDefinition) bool { return cd.Name == container }) {
		return "", fieldErr("container", "%q is not a container of task definition %s", container, td.Ref())
	}
	return container, nil
}

// exec checks the request, passes it to the task's node when that is
// another, and otherwise upgrades to a WebSocket and runs the command
// through the backend. Errors before the upgrade get the usual JSON
// answer; after it, the ExecResult carries them.
func (s *server) exec(w http.ResponseWriter, r *http.Request) {
	req, err := parseExecRequest(r.URL.Query())
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	st := s.b.View()
	t, err := resolveTask(st, r.PathValue("id"))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	// The container runs on the engine of the task's node.
	if self := s.b.Health().Node; t.Node != self {
		s.proxy(w, r, s.b.NodeAPI(t.Node), "node running the task")
		return
	}
	if t.LastStatus != structs.StatusRunning {
		s.writeErr(w, r, fmt.Errorf("%w: task %s is %s: commands run only in a running task's containers", ErrConflict, t.ID, t.LastStatus))
		return
	}
	if req.Container, err = execContainer(st, t, req.Container); err != nil {
		s.writeErr(w, r, err)
		return
	}
	// Accept refuses a handshake whose Origin is another host, so that a
	// web page cannot open an exec with the user's credentials.
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		s.log.Warn("exec: WebSocket handshake failed", "task", t.ID, "err", err)
		return
	}
	conn.SetReadLimit(execReadLimit)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stdio := ExecIO{Stdout: &execWriter{ctx: ctx, conn: conn, stream: ExecStdout}, Stderr: &execWriter{ctx: ctx, conn: conn, stream: ExecStderr}}
	var stdinW *io.PipeWriter
	if req.Stdin {
		var stdinR *io.PipeReader
		stdinR, stdinW = io.Pipe()
		stdio.Stdin = stdinR
		// Once the command has ended nothing reads its input, and closing
		// the reader ends a write that waits for it.
		defer stdinR.Close()
	}
	resize := make(chan structs.TermSize, 1)
	stdio.Resize = resize
	go execInput(ctx, cancel, conn, stdinW, resize)
	res := ExecResult{}
	res.ExitCode, err = s.b.Exec(ctx, t.ID, req, stdio)
	if err != nil {
		res = ExecResult{Error: err.Error()}
		if ctx.Err() == nil {
			s.log.Warn("exec failed", "task", t.ID, "container", req.Container, "err", err)
		}
	}
	raw, _ := json.Marshal(res)
	if err := conn.Write(ctx, websocket.MessageText, raw); err != nil {
		_ = conn.CloseNow()
		return
	}
	_ = conn.Close(websocket.StatusNormalClosure, "")
}

// execInput reads the client's messages until the connection ends: binary
// ones are standard input, written to stdin (nil without), and text ones
// control messages. A resize replaces one not yet taken, since only the
// newest size matters. When the client goes away, or breaks the protocol,
// cancel abandons the command.
func execInput(ctx context.Context, cancel context.CancelFunc, conn *websocket.Conn, stdin *io.PipeWriter, resize chan structs.TermSize) {
	defer cancel()
	ended := errors.New("the client went away")
	for {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			if stdin != nil {
				stdin.CloseWithError(ended)
			}
			return
		}
		if typ == websocket.MessageBinary {
			if stdin == nil {
				continue
			}
			// A write fails once the command has ended, and what it
			// did not read is dropped.
			_, _ = stdin.Write(data)
			continue
		}
		var c ExecControl
		if err := json.Unmarshal(data, &c); err != nil {
			_ = conn.Close(websocket.StatusUnsupportedData, "a text message must be an exec control message")
			return
		}
		switch c.Type {
		case "eof":
			if stdin != nil {
				stdin.Close()
			}
		case "resize":
			sz := structs.TermSize{Rows: c.Rows, Cols: c.Cols}
			select {
			case <-resize:
			default:
			}
			resize <- sz
		default:
			_ = conn.Close(websocket.StatusUnsupportedData, fmt.Sprintf("unknown control message type %q: expected resize or eof", c.Type))
			return
		}
	}
}

// execWriter sends what is written to it as binary messages of one
// stream. It is safe for concurrent use, as the connection's Write is.
type execWriter struct {
	ctx    context.Context
	conn   *websocket.Conn
	stream byte
}

func (ew *execWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), execChunk)]
		msg := make([]byte, 0, len(chunk)+1)
		msg = append(append(msg, ew.stream), chunk...)
		if err := ew.conn.Write(ew.ctx, websocket.MessageBinary, msg); err != nil {
			return n, err
		}
		n += len(chunk)
		p = p[len(chunk):]
	}
	return n, nil
}
