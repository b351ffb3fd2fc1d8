package faultnet

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"

	"github.com/skiff-run/skiff/internal/testutil"
)

func TestFilterCutHeal(t *testing.T) {
	f := New()
	f.Cut("127.0.0.1:7001", "[::1]:7002")
	for addr, want := range map[string]bool{
		"127.0.0.1:7001": true, "[0:0:0:0:0:0:0:1]:7002": true, "127.0.0.1:7002": false, "127.0.0.1:70010": false,
	} {
		if got := f.Blocked(addr); got != want {
			t.Errorf("Blocked(%s) = %v, want %v", addr, got, want)
		}
	}
	f.Heal()
	if f.Blocked("127.0.0.1:7001") {
		t.Error("still blocked after Heal")
	}
	var none *Filter
	if none.Blocked("127.0.0.1:7001") {
		t.Error("a nil Filter blocks")
	}
	inner := tcpLayer{}
	if none.StreamLayer(inner) != raft.StreamLayer(inner) {
		t.Error("a nil Filter wrapped the stream layer")
	}
}

// tcpLayer is a plain TCP raft.StreamLayer.
type tcpLayer struct{ net.Listener }

func (l tcpLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", string(addr), timeout)
}

func listen(t *testing.T) tcpLayer {
	t.Helper()
	l, err := net.Listen("tcp", testutil.Addr(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return tcpLayer{l}
}

// readErr reads from c until it fails, for at most timeout, and returns
// the error or nil when the read is still blocked at the end.
func readErr(c net.Conn, timeout time.Duration) error {
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		return nil
	}
}

func TestStreamLayerCutClosesAndRefuses(t *testing.T) {
	f := New()
	a, b := f.StreamLayer(listen(t)), listen(t)
	target := raft.ServerAddress(b.Addr().String())
	c, err := a.Dial(target, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	accepted, err := b.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer accepted.Close()
	if err := readErr(accepted, 100*time.Millisecond); err != nil {
		t.Fatalf("an idle link failed before the cut: %v", err)
	}
	f.Cut(string(target))
	// Both ends of the dialled connection see it closed: the dialler's, and
	// the peer's accepted one, which is how the peer's side is cut too.
	if err := readErr(c, time.Second); err == nil {
		t.Fatal("the dialled connection survived the cut")
	}
	if err := readErr(accepted, time.Second); err == nil {
		t.Fatal("the accepted end survived the cut")
	}
	if _, err := a.Dial(target, time.Second); !errors.Is(err, ErrCut) {
		t.Fatalf("dial across the cut: %v", err)
	}
	f.Heal()
	c2, err := a.Dial(target, time.Second)
	if err != nil {
		t.Fatalf("dial after Heal: %v", err)
	}
	c2.Close()
}

// TestRaftTransportAcrossCut runs AppendEntries between two Raft network
// transports, one of them filtered: it works, fails across a cut, pooled
// connection included, and works again after Heal.
func TestRaftTransportAcrossCut(t *testing.T) {
	f := New()
	ta := raft.NewNetworkTransport(f.StreamLayer(listen(t)), 3, 2*time.Second, io.Discard)
	tb := raft.NewNetworkTransport(listen(t), 3, 2*time.Second, io.Discard)
	defer ta.Close()
	defer tb.Close()
	go func() {
		for rpc := range tb.Consumer() {
			rpc.Respond(&raft.AppendEntriesResponse{Success: true}, nil)
		}
	}()
	call := func() error {
		var resp raft.AppendEntriesResponse
		return ta.AppendEntries("b", tb.LocalAddr(), &raft.AppendEntriesRequest{Term: 1}, &resp)
	}
	if err := call(); err != nil {
		t.Fatalf("before the cut: %v", err)
	}
	f.Cut(string(tb.LocalAddr()))
	for i := 0; i < 3; i++ {
		if err := call(); err == nil {
			t.Fatalf("call %d crossed the cut", i)
		}
	}
	f.Heal()
	if err := call(); err != nil {
		t.Fatalf("after Heal: %v", err)
	}
}

func netTransport(t *testing.T) *memberlist.NetTransport {
	t.Helper()
	port, err := strconv.Atoi(testutil.Port(t))
	if err != nil {
		t.Fatal(err)
	}
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{"127.0.0.1"}, BindPort: port,
		Logger: log.New(io.Discard, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	return nt
}

func addrOf(nt *memberlist.NetTransport) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(nt.GetAutoBindPort()))
}

func TestTransportPackets(t *testing.T) {
	fa, fb := New(), New()
	na, nb := netTransport(t), netTransport(t)
	aAddr, bAddr := addrOf(na), addrOf(nb)
	a, b := fa.Transport(na), fb.Transport(nb)
	defer a.Shutdown()
	defer b.Shutdown()
	send := func(msg string) {
		t.Helper()
		if _, err := a.WriteToAddress([]byte(msg), memberlist.Address{Addr: bAddr, Name: "b"}); err != nil {
			t.Fatal(err)
		}
	}
	// received reports whether msg arrives at b within a short wait, and
	// fails on anything else arriving.
	received := func(msg string) bool {
		t.Helper()
		select {
		case p := <-b.PacketCh():
			if string(p.Buf) != msg || p.From.String() != aAddr {
				t.Fatalf("got %q from %s, want %q from %s", p.Buf, p.From, msg, aAddr)
			}
			return true
		case <-time.After(300 * time.Millisecond):
			return false
		}
	}
	send("one")
	if !received("one") {
		t.Fatal("a packet was lost on an open link")
	}
	fb.Cut(aAddr)
	send("two")
	if received("two") {
		t.Fatal("b took a packet from a cut address")
	}
	fb.Heal()
	fa.Cut(bAddr)
	send("three")
	if received("three") {
		t.Fatal("a sent a packet to a cut address")
	}
	fa.Heal()
	send("four")
	if !received("four") {
		t.Fatal("a packet was lost after Heal")
	}
}

func TestTransportStreams(t *testing.T) {
	f := New()
	nb := netTransport(t)
	a, b := f.Transport(netTransport(t)), nb
	defer a.Shutdown()
	defer b.Shutdown()
	bAddr := addrOf(nb)
	c, err := a.DialAddressTimeout(memberlist.Address{Addr: bAddr, Name: "b"}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var accepted net.Conn
	select {
	case accepted = <-b.StreamCh():
	case <-time.After(time.Second):
		t.Fatal("b accepted no stream")
	}
	defer accepted.Close()
	f.Cut(bAddr)
	if err := readErr(accepted, time.Second); err == nil {
		t.Fatal("the stream survived the cut")
	}
	if _, err := a.DialTimeout(bAddr, time.Second); !errors.Is(err, ErrCut) {
		t.Fatalf("stream dial across the cut: %v", err)
	}
	if _, err := a.DialAddressTimeout(memberlist.Address{Addr: bAddr}, time.Second); !errors.Is(err, ErrCut) {
		t.Fatalf("stream dial across the cut: %v", err)
	}
}

// TestMemberlistPartition runs three memberlist nodes on filtered
// transports and cuts the third off both ways: each side declares the
// other dead.
func TestMemberlistPartition(t *testing.T) {
	var lists []*memberlist.Memberlist
	var filters []*Filter
	var addrs []string
	for i := 0; i < 3; i++ {
		nt := netTransport(t)
		f := New()
		mc := memberlist.DefaultLocalConfig()
		mc.Name = fmt.Sprintf("m%d", i)
		mc.Transport = f.Transport(nt)
		// Fast enough to keep the test short, slow enough that a loaded
		// machine (CI runs every package at once) does not make healthy
		// members miss their probes.
		mc.ProbeInterval = 200 * time.Millisecond
		mc.ProbeTimeout = 150 * time.Millisecond
		mc.SuspicionMult = 2
		mc.LogOutput = testutil.PrefixLogWriter(t, mc.Name+": ")
		ml, err := memberlist.Create(mc)
		if err != nil {
			t.Fatal(err)
		}
		defer ml.Shutdown()
		lists, filters, addrs = append(lists, ml), append(filters, f), append(addrs, addrOf(nt))
	}
	for _, ml := range lists[1:] {
		if _, err := ml.Join([]string{addrs[0]}); err != nil {
			t.Fatal(err)
		}
	}
	alive := func(ml *memberlist.Memberlist) int {
		n := 0
		for _, m := range ml.Members() {
			if m.State == memberlist.StateAlive {
				n++
			}
		}
		return n
	}
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		return alive(lists[0]) == 3 && alive(lists[1]) == 3 && alive(lists[2]) == 3, "waiting for three alive members everywhere"
	})
	filters[2].Cut(addrs[0], addrs[1])
	filters[0].Cut(addrs[2])
	filters[1].Cut(addrs[2])
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		a, b, c := alive(lists[0]), alive(lists[1]), alive(lists[2])
		return a == 2 && b == 2 && c == 1, fmt.Sprintf("alive members seen: %d, %d, %d", a, b, c)
	})
}

// TestTransportShutdownWithPacketsInFlight shuts a wrapped transport down
// while packets arrive that nobody reads any more, as when memberlist
// shuts down under gossip traffic: Shutdown must return.
func TestTransportShutdownWithPacketsInFlight(t *testing.T) {
	nt := netTransport(t)
	tr := New().Transport(nt)
	conn, err := net.Dial("udp", addrOf(nt))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stop := make(chan struct{})
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for {
			select {
			case <-stop:
				return
			default:
				_, _ = conn.Write([]byte("packet"))
				time.Sleep(time.Millisecond)
			}
		}
	}()
	time.Sleep(50 * time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- tr.Shutdown() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown hangs while packets arrive")
	}
	close(stop)
	<-sent
}
