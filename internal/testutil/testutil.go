// Package testutil holds the helpers skiff's tests share: polling for a
// condition, asserting that one holds for a whole period, handing out
// ports, and routing logs to the test's log. It imports nothing of skiff's,
// so that every package's tests may use it.
package testutil

import (
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// pollInterval is how often Eventually and AssertFor evaluate their
// condition: often enough that a short-lived breach is seen, rarely enough
// that polling a cluster's state does not load the machine.
const pollInterval = 50 * time.Millisecond

// Eventually polls cond until it reports true or timeout passes, then
// fails the test with the last description cond gave. cond is always
// called at least once. Like t.Fatal, it must be called from the test's
// own goroutine.
func Eventually(t testing.TB, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, desc := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s: %s", timeout, desc)
			return
		}
		time.Sleep(pollInterval)
	}
}

// AssertFor checks that cond holds throughout period, polling it from
// start to end, and fails the test at the first poll where it does not,
// with cond's description. It is the form of a negative check ("nothing
// more was started"): a single look after a sleep can miss a breach that
// comes later, and a breach before the look is seen only if it lasts.
// Like t.Fatal, it must be called from the test's own goroutine.
func AssertFor(t testing.TB, period time.Duration, cond func() (bool, string)) {
	t.Helper()
	start := time.Now()
	for {
		if ok, desc := cond(); !ok {
			t.Fatalf("after %s of %s: %s", time.Since(start).Round(time.Millisecond), period, desc)
			return
		}
		if time.Since(start) >= period {
			return
		}
		time.Sleep(pollInterval)
	}
}

var (
	portsMu sync.Mutex
	handed  = map[int]bool{} // guarded by portsMu
)

// lowestPort is the bottom of the range ports are handed out from; the top
// is the bottom of the kernel's ephemeral range.
const lowestPort = 10000

// ephemeralLow is the first port the kernel may pick for an outgoing
// connection or a ":0" listen, read from Linux's ip_local_port_range where
// it exists and 32768 (the Linux default) elsewhere.
var ephemeralLow = sync.OnceValue(func() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n <= lowestPort+1000 {
		return 32768
	}
	return n
})

// Port returns, as a decimal string, a port on 127.0.0.1 that is free for
// both TCP and UDP. It picks below the kernel's ephemeral range, so that
// the many outgoing connections of a test cluster cannot take the port
// between this check and the listen that uses it, and it never hands out
// the same port twice in one process. It is safe for concurrent use.
func Port(t testing.TB) string {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	hi := ephemeralLow()
	for tries := 0; tries < 1000; tries++ {
		port := lowestPort + rand.IntN(hi-lowestPort)
		if handed[port] {
			continue
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		u, err := net.ListenPacket("udp", addr)
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		handed[port] = true
		return strconv.Itoa(port)
	}
	t.Fatal("testutil: no free port found in 1000 tries")
	return ""
}

// Addr returns "127.0.0.1:PORT" for a port from Port.
func Addr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", Port(t))
}

// testWriter forwards whole writes to t.Log until the test's cleanup
// stops it. mu makes the stop and a forward exclusive, so that no t.Log
// can run once the test is over, when it would panic.
type testWriter struct {
	t      testing.TB
	prefix string
	mu     sync.Mutex
	done   bool // guarded by mu
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(w.prefix + strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// LogWriter returns a writer that passes each write to t.Log as one entry,
// so that a failing test shows what the code under test logged. Log
// libraries write one line per call, as Raft's and memberlist's do. The
// writer is safe for concurrent use and keeps working after the test ends,
// when it drops what it is given: agents may still log while they stop.
// Cleanups run last-registered first, so a writer made before the things
// that log also sees what they log while they are closed in their own
// cleanups.
func LogWriter(t testing.TB) io.Writer { return PrefixLogWriter(t, "") }

// PrefixLogWriter is LogWriter with prefix put before every entry, to tell
// several sources apart in one test's log.
func PrefixLogWriter(t testing.TB, prefix string) io.Writer {
	w := &testWriter{t: t, prefix: prefix}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return w
}

// Logger returns a debug-level slog.Logger that writes through LogWriter.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(LogWriter(t), &slog.HandlerOptions{Level: slog.LevelDebug}))
}
