package ingress

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/skiff-run/skiff/structs"
)

// BenchmarkHTTP compares requests through the ingress with requests sent
// straight to the task, on the same machine, with kept-alive connections
// and with a new connection per request, from one client at a time (for
// latency) and from eight at once (for throughput). The two targets take
// turns in chunks of requests within each run, so that both meet the same
// load from the rest of the machine. It reports each target's requests
// per second, median and 99th percentile latency, the proxy's throughput as a
// percentage of direct, the latency it adds at the 99th percentile, and
// the CPU time the whole process spends per request on each target, which
// is the load generator and the task alone for direct, and they plus the
// proxy through it.
//
//	go test -run '^$' -bench 'HTTP$' -benchtime 20000x -count 5 ./ingress
func BenchmarkHTTP(b *testing.B) { benchmarkHTTP(b, structs.ProtocolHTTP) }

// BenchmarkHTTPSpliced is BenchmarkHTTP through a tcp listener in front of
// the same task: the same requests, relayed byte for byte with no parsing
// at all. No http proxy can do less per request, so its share of direct
// throughput bounds what any http proxy could keep on this machine.
//
//	go test -run '^$' -bench HTTPSpliced -benchtime 20000x -count 5 ./ingress
func BenchmarkHTTPSpliced(b *testing.B) { benchmarkHTTP(b, structs.ProtocolTCP) }

func benchmarkHTTP(b *testing.B, protocol string) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	}))
	defer backend.Close()
	port := freePort(b)
	v := &fakeView{}
	v.addService("web", structs.LoadBalancer{ListenerPort: port, Protocol: protocol})
	v.addTask("web", "t1", portOf(b, backend.Listener.Addr().String()))
	g := runIngress(b, newSource(v))
	waitFor(b, "the listener", func() bool { return len(g.Ports()) == 1 })
	urls := [2]string{backend.URL + "/", fmt.Sprintf("http://127.0.0.1:%d/", port)}
	for _, keepAlive := range []bool{true, false} {
		var targets [2]func() requester
		for i, url := range urls {
			tr := &http.Transport{DisableKeepAlives: !keepAlive, MaxIdleConnsPerHost: 8}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			targets[i] = func() requester { return httpGet(client, url) }
		}
		for _, workers := range []int{1, 8} {
			mode := map[bool]string{true: "keepalive", false: "newconn"}[keepAlive]
			b.Run(fmt.Sprintf("%s/clients=%d", mode, workers), func(b *testing.B) { compare(b, targets, workers) })
		}
	}
}

// requester sends one request and waits for its whole answer. Each load
// generator client has its own.
type requester func() error

func httpGet(client *http.Client, url string) requester {
	return func() error {
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
}

// BenchmarkTCP is BenchmarkHTTP for a tcp listener: each request is 64
// bytes that an echo server sends back, on one connection per client
// (keepalive) or on a new connection each (newconn).
//
//	go test -run '^$' -bench TCP -benchtime 20000x -count 5 ./ingress
func BenchmarkTCP(b *testing.B) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	port := freePort(b)
	v := &fakeView{}
	v.addService("db", structs.LoadBalancer{ListenerPort: port, Protocol: structs.ProtocolTCP})
	v.addTask("db", "t1", portOf(b, echo.Addr().String()))
	g := runIngress(b, newSource(v))
	waitFor(b, "the listener", func() bool { return len(g.Ports()) == 1 })
	addrs := [2]string{echo.Addr().String(), fmt.Sprintf("127.0.0.1:%d", port)}
	for _, keepAlive := range []bool{true, false} {
		var targets [2]func() requester
		for i, addr := range addrs {
			targets[i] = func() requester { return echoRequest(addr, keepAlive) }
		}
		for _, workers := range []int{1, 8} {
			mode := map[bool]string{true: "keepalive", false: "newconn"}[keepAlive]
			b.Run(fmt.Sprintf("%s/clients=%d", mode, workers), func(b *testing.B) { compare(b, targets, workers) })
		}
	}
}

// echoRequest sends 64 bytes to an echo server at addr and reads them
// back, on one connection it keeps or on a new one each time.
func echoRequest(addr string, keepAlive bool) requester {
	var c net.Conn
	msg, buf := bytes.Repeat([]byte("x"), 64), make([]byte, 64)
	return func() error {
		if c == nil {
			var err error
			if c, err = net.DialTimeout("tcp", addr, 5*time.Second); err != nil {
				return err
			}
		}
		_, err := c.Write(msg)
		if err == nil {
			_, err = io.ReadFull(c, buf)
		}
		if err != nil || !keepAlive {
			c.Close()
			c = nil
		}
		return err
	}
}

// benchChunk is how many requests one target gets before the other's
// turn.
const benchChunk = 500

// compare sends b.N requests from workers clients, half to each of
// targets (direct, then proxy) in alternating chunks, and reports the
// rates and latencies of both.
func compare(b *testing.B, targets [2]func() requester, workers int) {
	var clients [2][]requester
	for i, newClient := range targets {
		for range workers {
			clients[i] = append(clients[i], newClient())
		}
	}
	var elapsed, cpu [2]time.Duration
	var lat [2][]time.Duration
	b.ResetTimer()
	for done, turn := 0, 0; done < b.N; turn = 1 - turn {
		n := min(benchChunk, b.N-done)
		c0 := cpuTime(b)
		d, l := burst(b, clients[turn], n)
		cpu[turn] += cpuTime(b) - c0
		elapsed[turn] += d
		lat[turn] = append(lat[turn], l...)
		done += n
	}
	b.StopTimer()
	var rps, p50, p99 [2]float64
	for i := range 2 {
		if len(lat[i]) == 0 {
			// The framework's first run of one request reaches one
			// target alone; there is nothing to compare yet.
			return
		}
		slices.Sort(lat[i])
		rps[i] = float64(len(lat[i])) / elapsed[i].Seconds()
		p50[i] = float64(lat[i][(len(lat[i])-1)/2].Microseconds())
		p99[i] = float64(lat[i][int(0.99*float64(len(lat[i])-1))].Microseconds())
	}
	b.ReportMetric(rps[0], "direct-req/s")
	b.ReportMetric(rps[1], "proxy-req/s")
	b.ReportMetric(100*rps[1]/rps[0], "proxy-%-of-direct")
	b.ReportMetric(p50[0], "direct-p50-µs")
	b.ReportMetric(p50[1], "proxy-p50-µs")
	b.ReportMetric(p99[0], "direct-p99-µs")
	b.ReportMetric(p99[1], "proxy-p99-µs")
	b.ReportMetric(p99[1]-p99[0], "added-p99-µs")
	b.ReportMetric(float64(cpu[0].Microseconds())/float64(len(lat[0])), "direct-cpu-µs/req")
	b.ReportMetric(float64(cpu[1].Microseconds())/float64(len(lat[1])), "proxy-cpu-µs/req")
}

// cpuTime is the CPU time, user and system, that the process has used:
// load generator, proxy and task together, since they share it. Its
// growth per request is what a request costs the machine.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// burst sends n requests, one at a time from each of clients, and returns
// how long they took together and each one's latency.
func burst(b *testing.B, clients []requester, n int) (time.Duration, []time.Duration) {
	var next atomic.Int64
	lat := make([][]time.Duration, len(clients))
	errs := make(chan error, len(clients))
	var wg sync.WaitGroup
	start := time.Now()
	for w, do := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				t0 := time.Now()
				if err := do(); err != nil {
					errs <- err
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	d := time.Since(start)
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	return d, slices.Concat(lat...)
}
