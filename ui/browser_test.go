package ui_test

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/internal/testcluster"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/structs"
)

// browserTimeout bounds each step in the browser. A loaded 2-core machine
// running the race detector starts Chromium and an agent slowly.
const browserTimeout = 2 * time.Minute

// chromium finds a Chromium to drive: SKIFF_CHROMIUM, else Debian's
// chromium or another Chrome on the PATH. Without one the test is skipped,
// unless SKIFF_REQUIRE_BROWSER=1 (as CI sets) makes that a failure.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SKIFF_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("SKIFF_REQUIRE_BROWSER") == "1" {
		t.Fatal("SKIFF_REQUIRE_BROWSER=1 but no Chromium is installed (apt-get install -y chromium, or set SKIFF_CHROMIUM)")
	}
	t.Skip("no Chromium installed (apt-get install -y chromium); set SKIFF_REQUIRE_BROWSER=1 to fail instead")
	return ""
}

// artifactDir is where screenshots go: SKIFF_ARTIFACTS, else the test's
// temporary directory.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SKIFF_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browserSPKI is the hash of the public key of the certificate the agent
// shows browsers, from the file it writes that certificate to, which
// Chromium is told to accept: the certificate is self-signed. Pinning this
// one key keeps every other certificate error an error.
func browserSPKI(t *testing.T, m *testcluster.Member) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(m.Dir, agent.BrowserCertFile))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(raw)
	if b == nil {
		t.Fatalf("%s holds no PEM", agent.BrowserCertFile)
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// TestBrowserScaleService drives headless Chromium against an agent with
// authentication on: the UI asks for a token, refuses a wrong one, then
// lists the service and its task, scales the service from its page until
// the new tasks show, finds the scale in the event stream, streams a
// task's log and stops the task, drains and undrains the node, and saves
// screenshots at a desktop's size and a phone's.
func TestBrowserScaleService(t *testing.T) {
	exe := chromium(t)
	dir := artifactDir(t)
	c := testcluster.New(t, 1, 1)
	m := c.Leader()
	cl := m.Client()
	ctx := context.Background()
	file := []byte(`{"service":"web","desiredCount":1,
	  "taskDefinition":{"family":"web","containerDefinitions":[{"name":"app","image":"img","memory":16}]}}`)
	if _, err := cl.ApplyService(ctx, "web", file); err != nil {
		t.Fatal(err)
	}
	running := func(n int) {
		testutil.Eventually(t, 30*time.Second, func() (bool, string) {
			tasks, err := cl.Tasks(ctx, "web", false)
			if err != nil {
				return false, err.Error()
			}
			up := 0
			for _, task := range tasks {
				if task.LastStatus == structs.StatusRunning {
					up++
				}
			}
			return up == n, fmt.Sprintf("%d of %d tasks of web run", up, n)
		})
	}
	running(1)

	bctx, step, until := startBrowser(t, exe, dir, chromedp.Flag("ignore-certificate-errors-spki-list", browserSPKI(t, m)))

	url := "https://" + m.HTTPAddr + "/ui/"
	load(t, bctx, url)
	step("the login form", chromedp.WaitVisible(chromedp.ID("login-token")))
	step("log in with a wrong token", chromedp.SendKeys(chromedp.ID("login-token"), "not-a-token"), chromedp.Click(chromedp.ID("login-submit")))
	until("the wrong token refused", `document.getElementById('login-error').textContent.includes('token')`)
	step("log in", chromedp.SetValue(chromedp.ID("login-token"), cl.Token),
		chromedp.Click(chromedp.ID("login-submit")))
	until("the service listed", `(r => r && r.textContent.includes('web:1'))(document.querySelector('tr[data-service="web"]'))`)
	kept, err := chromedp.Run(bctx, chromedp.Evaluate[string](`sessionStorage.getItem('skiff.token')`))
	if err != nil {
		t.Fatal(err)
	}
	persisted, err := chromedp.Run(bctx, chromedp.Evaluate[string](`JSON.stringify(Object.keys(localStorage))`))
	if err != nil {
		t.Fatal(err)
	}
	if kept != cl.Token || persisted != "[]" {
		t.Fatalf("sessionStorage holds %q, localStorage keys %s: want the token in the session only", kept, persisted)
	}
	step("open the tasks", chromedp.Navigate(url+"#/tasks"))
	until("the task listed", `document.querySelectorAll('tr[data-task]').length === 1`)

	step("open the service", chromedp.Navigate(url+"#/services/web"), chromedp.WaitVisible(chromedp.ID("scale-count")))
	until("the service's task listed", `document.querySelectorAll('tr[data-task]').length === 1`)
	step("scale to 3", chromedp.SetValue(chromedp.ID("scale-count"), "3"), chromedp.Click(chromedp.ID("scale-submit")))
	until("the new tasks listed", `document.querySelectorAll('tr[data-task]').length === 3 && document.getElementById('service-desired').textContent === '3'`)
	running(3)
	svc, err := cl.Service(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if svc.DesiredCount != 3 {
		t.Fatalf("desired count %d after scaling to 3 in the UI", svc.DesiredCount)
	}
	until("the tasks running in the page", `[...document.querySelectorAll('tr[data-task] td[data-label="Status"]')].every(c => c.textContent === 'RUNNING')`)
	shot(t, bctx, filepath.Join(dir, "ui-service.png"))

	step("open the events", chromedp.Navigate(url+"#/events"))
	until("the scale among the events, live", `document.querySelector('tr[data-event="service.scaled"]') !== null && document.getElementById('cluster').textContent.includes('live')`)
	step("open the nodes", chromedp.Navigate(url+"#/nodes"))
	until("the node with its reserved memory", `(r => r && r.textContent.includes('48 / 4096 MiB'))(document.querySelector('tr[data-node="n1"]'))`)
	step("open a task", chromedp.Navigate(url+"#/tasks"))
	until("the tasks listed again", `document.querySelectorAll('tr[data-task]').length === 3`)
	step("open a task", chromedp.Click(chromedp.CSS(`tr[data-task] a`)))
	until("its log streamed", `document.getElementById('logs') && document.getElementById('logs').textContent.includes('fake log of ')`)
	stopped, err := chromedp.Run(bctx, chromedp.Evaluate[string](`decodeURIComponent(location.hash.slice('#/tasks/'.length))`))
	if err != nil {
		t.Fatal(err)
	}
	step("ask to stop it", chromedp.Click(chromedp.ID("task-stop")))
	until("the stop asking to be confirmed", `document.getElementById('task-stop').textContent.startsWith('Stop it?')`)
	step("confirm the stop", chromedp.Click(chromedp.ID("task-stop")))
	until("the task no longer meant to run", `document.getElementById('task-stop').hidden`)
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		task, err := cl.Task(ctx, stopped)
		if err != nil {
			return false, err.Error()
		}
		return task.DesiredStatus == structs.StatusStopped, "the task stopped in the UI is meant to " + task.DesiredStatus
	})
	running(3)

	step("a phone's screen", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulatePortrait),
		chromedp.Navigate(url+"#/services/web"))
	until("the tasks as cards", `document.querySelectorAll('tr[data-task]').length === 3 && getComputedStyle(document.querySelector('tr[data-task]')).display === 'block'`)
	until("the tasks running on the phone", `[...document.querySelectorAll('tr[data-task] td[data-label="Status"]')].every(c => c.textContent === 'RUNNING')`)
	shot(t, bctx, filepath.Join(dir, "ui-phone.png"))

	step("open the nodes on the phone", chromedp.Navigate(url+"#/nodes"))
	// The nodes' table is drawn again on every change of the cluster, so
	// its buttons are clicked by the page's own script, in one step with
	// finding them, rather than found first and clicked after.
	drainButton := `(b => b ? (b.click(), true) : false)(document.querySelector('button[data-drain="n1"]'))`
	until("ask to drain n1", drainButton)
	until("the drain asking to be confirmed", `document.querySelector('button[data-drain="n1"]').textContent.startsWith('Drain?')`)
	until("confirm the drain", drainButton)
	until("n1 shown drained", `document.querySelector('tr[data-node="n1"] td[data-label="Eligibility"]').textContent === 'ineligible'`)
	eligibility := func(want string) {
		t.Helper()
		nodes, err := cl.Nodes(ctx)
		if err != nil || len(nodes) != 1 || nodes[0].Eligibility != want {
			t.Fatalf("nodes %+v (%v): want n1 %s", nodes, err, want)
		}
	}
	eligibility(structs.EligibilityIneligible)
	until("undrain n1", drainButton)
	until("n1 shown eligible", `document.querySelector('tr[data-node="n1"] td[data-label="Eligibility"]').textContent === 'eligible'`)
	eligibility(structs.EligibilityEligible)
	t.Logf("screenshots in %s", dir)
}

// startBrowser starts Chromium with opts, for the test's length, and
// returns its context and two helpers: step runs actions, and until waits
// for a script's value to be true in the page. Either saves a screenshot
// as ui-failed.png in dir and fails the test when it does not succeed
// within browserTimeout.
func startBrowser(t *testing.T, exe, dir string, opts ...chromedp.ExecAllocatorOption) (context.Context, func(string, ...chromedp.Action[chromedp.Void]), func(string, string)) {
	t.Helper()
	all := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(all, opts...)...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelBrowser)
	// The browser lives as long as the context of its first run, which
	// has no timeout of its own; each step gets one.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start %s: %v", exe, err)
	}
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, browserTimeout)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			shot(t, bctx, filepath.Join(dir, "ui-failed.png"))
			t.Fatalf("%s: %v", what, err)
		}
	}
	until := func(what, expr string) {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, browserTimeout)
		defer cancel()
		if _, err := chromedp.Run(sctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(browserTimeout), chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
			shot(t, bctx, filepath.Join(dir, "ui-failed.png"))
			t.Fatalf("%s: %v", what, err)
		}
	}
	return bctx, step, until
}

// TestBrowserDevAgent: against a --dev agent, which takes requests
// without a token over plain http on loopback, the UI asks for no login
// and shows the cluster at once, with no way to log out.
func TestBrowserDevAgent(t *testing.T) {
	exe := chromium(t)
	dir := artifactDir(t)
	c := testcluster.NewTuned(t, 1, 1, func(cfg *agent.Config) { cfg.Token, cfg.Dev = "", true })
	m := c.Leader()
	cl := api.NewClient(m.HTTPAddr, nil)
	file := []byte(`{"service":"dev","desiredCount":1,"taskDefinition":{"family":"dev","containerDefinitions":[{"name":"app","image":"img","memory":16}]}}`)
	if _, err := cl.ApplyService(context.Background(), "dev", file); err != nil {
		t.Fatal(err)
	}
	bctx, _, until := startBrowser(t, exe, dir)
	load(t, bctx, "http://"+m.HTTPAddr+"/ui/#/tasks")
	until("the task listed without a login", `document.querySelectorAll('tr[data-task]').length === 1 && !document.getElementById('login-token')`)
	until("no log out", `document.getElementById('logout').hidden && !document.getElementById('nav').hidden`)
}

// load opens url and checks that the page's script ran. Chromium drops
// requests in flight when the host's network interfaces change, as they do
// whenever a test elsewhere on the machine makes or removes a Docker
// network: the page itself fails with ERR_NETWORK_CHANGED, or it loads
// without app.js (a deferred script has run by the time the load event
// fires, so a page without the script's functions then has lost it). Either
// is tried again, a few times, as a user would reload.
func load(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	var err error
	for range 5 {
		sctx, cancel := context.WithTimeout(ctx, browserTimeout)
		err = chromedp.Do(sctx, chromedp.Navigate(url))
		if err == nil {
			var ran bool
			ran, err = chromedp.Run(sctx, chromedp.Evaluate[bool](`typeof start === 'function'`))
			if err == nil && !ran {
				err = errors.New("the page loaded without its script, ERR_NETWORK_CHANGED or not")
			}
		}
		cancel()
		if err == nil || !strings.Contains(err.Error(), "ERR_NETWORK_CHANGED") {
			break
		}
		t.Logf("load %s: %v; again", url, err)
		time.Sleep(time.Second)
	}
	if err != nil {
		t.Fatalf("load %s: %v", url, err)
	}
}

// shot saves a screenshot of the whole page, or logs why it could not.
func shot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, browserTimeout)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", filepath.Base(path), err)
		return
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Errorf("save screenshot: %v", err)
	}
	if !strings.HasSuffix(path, "failed.png") {
		t.Logf("saved %s (%d bytes)", path, len(png))
	}
}
