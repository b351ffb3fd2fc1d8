package command

import (
	"strings"
	"testing"
)

const usageAnswer = `[{"node":"n1","nodeName":"pi-1","cpu":4096,"memory":2048,"cpuReserved":256,"memoryReserved":128,"cpuUsed":512,"memoryUsedBytes":67108864,
 "containers":[{"task":"0190aaaa-0000-7000-8000-00000000abcd","service":"web","container":"app","cpuPercent":50,"cpuSeconds":3,"memoryBytes":67108864,"netRxBytes":1048576,"netTxBytes":2097152,"restarts":1}]},
 {"node":"n2","nodeName":"pi-2","cpu":4096,"memory":2048,"cpuReserved":0,"memoryReserved":0,"cpuUsed":0,"memoryUsedBytes":0,"error":"the node is down"}]`

func TestTopNoStream(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"GET /v1/usage": ok(usageAnswer)})
	r := skiffAt(f, "top", "--no-stream", "--node", "pi-1")
	wantOK(t, r)
	if got := f.got(); len(got) != 1 || got[0] != "GET /v1/usage?node=pi-1" {
		t.Errorf("requests %v: want one for node pi-1, its containers having been sampled before", got)
	}
	want := `NODE  CPU USED  CPU RESERVED/TOTAL  MEM USED  MEM RESERVED/TOTAL  CONTAINERS  ERROR
pi-1  512       256/4096            64.0 MiB  128/2048 MiB        1           -
pi-2  ?         0/4096              ?         0/2048 MiB          0           the node is down

TASK      SERVICE  CONTAINER  NODE  CPU %  MEM       NET RX / TX        RESTARTS
0000abcd  web      app        pi-1  50.0%  64.0 MiB  1.0 MiB / 2.0 MiB  1
`
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
}

// TestTopWaitsForASecondSample: containers sampled for the first time
// have no CPU share yet, so top asks again before it prints.
func TestTopWaitsForASecondSample(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"GET /v1/usage": ok(strings.Replace(usageAnswer, `"cpuPercent":50`, `"cpuPercent":0`, 1))})
	r := skiffAt(f, "top", "--no-stream", "--interval", "1s")
	wantOK(t, r)
	if got := f.got(); len(got) != 2 {
		t.Errorf("requests %v: want two, the second printed", got)
	}
	if strings.Count(r.stdout, "TASK ") != 1 {
		t.Errorf("stdout %q: want one sample printed", r.stdout)
	}
}

func TestTopRefusesShortInterval(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{})
	r := skiffAt(f, "top", "--interval", "10ms")
	if r.code != 1 || r.stderr != "skiff: --interval 10ms: expected 1s or more\n" {
		t.Errorf("exit code %d, stderr %q", r.code, r.stderr)
	}
}
