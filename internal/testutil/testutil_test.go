package testutil

import (
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeTB records failures and log entries instead of reporting them, so
// that the helpers' own failures can be checked. Fatalf ends the calling
// goroutine as the real one does; run the helper through run. Methods the
// helpers are not expected to call panic through the nil embedded TB.
type fakeTB struct {
	testing.TB
	mu       sync.Mutex
	failed   bool     // guarded by mu
	msg      string   // guarded by mu
	logs     []string // guarded by mu
	cleanups []func() // guarded by mu
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeTB) Fatal(args ...any) { f.Fatalf("%s", fmt.Sprint(args...)) }

func (f *fakeTB) Log(args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs = append(f.logs, fmt.Sprint(args...))
}

func (f *fakeTB) Cleanup(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleanups = append(f.cleanups, fn)
}

// finish runs the cleanups last-registered first, as a test's end does.
func (f *fakeTB) finish() {
	f.mu.Lock()
	fns := f.cleanups
	f.cleanups = nil
	f.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}

// run calls fn on its own goroutine, so that a Fatalf ends only that
// goroutine, and reports whether it failed and with what message.
func (f *fakeTB) run(fn func(testing.TB)) (bool, string) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed, f.msg
}

func TestEventually(t *testing.T) {
	start := time.Now()
	failed, _ := new(fakeTB).run(func(tb testing.TB) {
		Eventually(tb, 5*time.Second, func() (bool, string) { return time.Since(start) > 200*time.Millisecond, "too early" })
	})
	if failed {
		t.Fatal("Eventually failed on a condition that came true")
	}
	n := 0
	failed, msg := new(fakeTB).run(func(tb testing.TB) {
		Eventually(tb, 200*time.Millisecond, func() (bool, string) { n++; return false, fmt.Sprintf("attempt %d", n) })
	})
	if !failed || !strings.Contains(msg, fmt.Sprintf("attempt %d", n)) {
		t.Fatalf("failed %v with %q; want the last description, attempt %d", failed, msg, n)
	}
}

func TestAssertFor(t *testing.T) {
	start := time.Now()
	calls := 0
	failed, _ := new(fakeTB).run(func(tb testing.TB) {
		AssertFor(tb, 300*time.Millisecond, func() (bool, string) { calls++; return true, "" })
	})
	if failed || time.Since(start) < 300*time.Millisecond || calls < 3 {
		t.Fatalf("holding condition: failed %v after %s and %d polls", failed, time.Since(start), calls)
	}
	// The condition breaks in the middle of the period: AssertFor must see
	// it, and say so, before the period ends.
	start = time.Now()
	failed, msg := new(fakeTB).run(func(tb testing.TB) {
		AssertFor(tb, 2*time.Second, func() (bool, string) {
			if time.Since(start) > 300*time.Millisecond {
				return false, "broken mid-period"
			}
			return true, ""
		})
	})
	if !failed || !strings.Contains(msg, "broken mid-period") {
		t.Fatalf("a condition broken mid-period: failed %v with %q", failed, msg)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("AssertFor reported the breach only after %s", took)
	}
}

func TestPortsAreFreeDistinctAndBelowEphemeral(t *testing.T) {
	seen := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				p := Port(t)
				mu.Lock()
				if seen[p] {
					t.Errorf("port %s handed out twice", p)
				}
				seen[p] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for p := range seen {
		n, err := strconv.Atoi(p)
		if err != nil || n < lowestPort || n >= ephemeralLow() {
			t.Fatalf("port %q outside [%d, %d)", p, lowestPort, ephemeralLow())
		}
	}
	addr := Addr(t)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("TCP on %s: %v", addr, err)
	}
	l.Close()
	u, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("UDP on %s: %v", addr, err)
	}
	u.Close()
}

func TestLogWriterForwardsUntilCleanup(t *testing.T) {
	f := new(fakeTB)
	log := Logger(f)
	w := PrefixLogWriter(f, "n1: ")
	log.Info("agent started", "node", "n1")
	fmt.Fprintln(w, "[WARN] raft: heartbeat timeout")
	f.finish()
	log.Info("after the end")
	fmt.Fprintln(w, "after the end")
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.logs) != 2 || !strings.Contains(f.logs[0], "agent started") || !strings.Contains(f.logs[0], "node=n1") ||
		f.logs[1] != "n1: [WARN] raft: heartbeat timeout" {
		t.Fatalf("logs %q", f.logs)
	}
}

// TestLogWriterSafeAfterTestEnds writes from a goroutine that outlives its
// test, as an agent still stopping does; a forward to t.Log after the test
// completed would panic.
func TestLogWriterSafeAfterTestEnds(t *testing.T) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	t.Run("short", func(t *testing.T) {
		w := LogWriter(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					fmt.Fprintln(w, "still logging")
					time.Sleep(time.Millisecond)
				}
			}
		}()
		time.Sleep(20 * time.Millisecond)
	})
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
}
