package ingress

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
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
// per second and 99th percentile latency, the proxy's throughput as a
// percentage of direct, and the latency it adds at the 99th percentile.
//
//	go test -run '^$' -bench HTTP -benchtime 20000x -count 5 ./ingress
func BenchmarkHTTP(b *testing.B) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	}))
	defer backend.Close()
	port := freePort(b)
	v := &fakeView{}
	v.addService("web", structs.LoadBalancer{ListenerPort: port})
	v.addTask("web", "t1", portOf(b, backend.Listener.Addr().String()))
	g := runIngress(b, newSource(v))
	waitFor(b, "the listener", func() bool { return len(g.Ports()) == 1 })
	urls := [2]string{backend.URL + "/", fmt.Sprintf("http://127.0.0.1:%d/", port)}
	for _, keepAlive := range []bool{true, false} {
		for _, workers := range []int{1, 8} {
			mode := map[bool]string{true: "keepalive", false: "newconn"}[keepAlive]
			b.Run(fmt.Sprintf("%s/clients=%d", mode, workers), func(b *testing.B) { compare(b, urls, keepAlive, workers) })
		}
	}
}

// benchChunk is how many requests one target gets before the other's
// turn.
const benchChunk = 500

// compare sends b.N GETs from workers clients, half to each of urls
// (direct, then proxy) in alternating chunks, and reports the rates and
// latencies of both.
func compare(b *testing.B, urls [2]string, keepAlive bool, workers int) {
	var clients [2]*http.Client
	for i := range clients {
		tr := &http.Transport{DisableKeepAlives: !keepAlive, MaxIdleConnsPerHost: workers}
		defer tr.CloseIdleConnections()
		clients[i] = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}
	var elapsed [2]time.Duration
	var lat [2][]time.Duration
	b.ResetTimer()
	for done, turn := 0, 0; done < b.N; turn = 1 - turn {
		n := min(benchChunk, b.N-done)
		d, l := burst(b, clients[turn], urls[turn], n, workers)
		elapsed[turn] += d
		lat[turn] = append(lat[turn], l...)
		done += n
	}
	b.StopTimer()
	var rps, p99 [2]float64
	for i := range 2 {
		if len(lat[i]) == 0 {
			// The framework's first run of one request reaches one
			// target alone; there is nothing to compare yet.
			return
		}
		slices.Sort(lat[i])
		rps[i] = float64(len(lat[i])) / elapsed[i].Seconds()
		p99[i] = float64(lat[i][int(0.99*float64(len(lat[i])-1))].Microseconds())
	}
	b.ReportMetric(rps[0], "direct-req/s")
	b.ReportMetric(rps[1], "proxy-req/s")
	b.ReportMetric(100*rps[1]/rps[0], "proxy-%-of-direct")
	b.ReportMetric(p99[0], "direct-p99-µs")
	b.ReportMetric(p99[1], "proxy-p99-µs")
	b.ReportMetric(p99[1]-p99[0], "added-p99-µs")
}

// burst sends n GETs to url from workers clients and returns how long
// they took together and each one's latency.
func burst(b *testing.B, client *http.Client, url string, n, workers int) (time.Duration, []time.Duration) {
	var next atomic.Int64
	lat := make([][]time.Duration, workers)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				t0 := time.Now()
				resp, err := client.Get(url)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
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
		b.Fatalf("GET %s: %v", url, err)
	default:
	}
	return d, slices.Concat(lat...)
}
