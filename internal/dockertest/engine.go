package dockertest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
)

// How long a private daemon gets to answer after it starts, and to exit
// after SIGTERM (it stops containers within their stop timeout, 10 s by
// default, unless live restore keeps them running).
const (
	engineStartTimeout = 30 * time.Second
	engineStopTimeout  = 30 * time.Second
)

// EngineOptions configures a private engine.
type EngineOptions struct {
	// LiveRestore keeps containers running while the daemon is stopped,
	// and the daemon takes them back when it starts ("live-restore").
	LiveRestore bool
	// DataRootBytes, when set, gives the daemon a data root of its own
	// file system of that size (a tmpfs), so that a test can fill it.
	DataRootBytes int64
}

// Engine is a Docker daemon of one test's own: its own data dir, exec
// root, socket, containerd and default bridge, so that the test can stop
// and start it while the shared engine keeps running. Its methods are for
// the test's goroutine only.
type Engine struct {
	// Host is the daemon's address, for runtime.NewDockerAt.
	Host string
	// Client talks to the daemon; it works again once a stopped daemon
	// has been started.
	Client *client.Client

	t      testing.TB
	dir    string
	bridge string
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd has exited and been waited for
	// answered is set once the daemon has answered: one that never did is
	// not started again to be cleaned up.
	answered bool
}

// PrivateEngine starts a private Docker daemon for the test and removes
// it, its containers, its containerd, its bridge and its data when the
// test ends. It needs root, dockerd and ip; without them it skips the
// test, unless SKIFF_REQUIRE_DOCKER=1 makes that a failure.
func PrivateEngine(t testing.TB, opts EngineOptions) *Engine {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, bin := range []string{"dockerd", "docker", "ip"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin+" on PATH")
		}
	}
	if len(missing) > 0 {
		if os.Getenv("SKIFF_REQUIRE_DOCKER") == "1" {
			t.Fatalf("SKIFF_REQUIRE_DOCKER=1 but a private Docker daemon cannot be started: it needs %s", strings.Join(missing, ", "))
		}
		t.Skipf("skipping: a private Docker daemon needs %s; set SKIFF_REQUIRE_DOCKER=1 to make this a failure", strings.Join(missing, ", "))
	}
	// Unix socket paths are limited to about 100 bytes, so the daemon
	// lives in a short directory of its own rather than the test's.
	dir, err := os.MkdirTemp("/tmp", "skpe")
	if err != nil {
		t.Fatal(err)
	}
	e := &Engine{t: t, dir: dir, Host: "unix://" + filepath.Join(dir, "d.sock")}
	t.Cleanup(e.cleanup)
	// /etc/docker/daemon.json may set the data root and storage driver;
	// a config file of the daemon's own keeps it apart from the shared
	// engine. vfs needs no kernel support beyond a plain directory.
	root := filepath.Join(dir, "root")
	if opts.DataRootBytes > 0 {
		if err := os.Mkdir(root, 0o711); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mount("tmpfs", root, "tmpfs", 0, fmt.Sprintf("size=%d", opts.DataRootBytes)); err != nil {
			t.Fatalf("mount a tmpfs of %d bytes as the private daemon's data root: %v", opts.DataRootBytes, err)
		}
	}
	cfg := map[string]any{"data-root": root, "storage-driver": "vfs", "live-restore": opts.LiveRestore}
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "daemon.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if e.bridge, err = newBridge(); err != nil {
		t.Fatal(err)
	}
	if e.Client, err = client.NewClientWithOpts(client.WithHost(e.Host), client.WithAPIVersionNegotiation()); err != nil {
		t.Fatal(err)
	}
	e.Start()
	return e
}

// newBridge makes the Linux bridge the daemon uses as its default bridge
// network, on a /24 of 10.213.0.0/16 that no interface of the host is on.
// The shared engine owns docker0, and a daemon without a default bridge
// could not run a container on "bridge", as single-container tasks do.
func newBridge() (string, error) {
	var last error
	for range 20 {
		b := make([]byte, 4)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		name := "skpe" + hex.EncodeToString(b)[:7]
		gw := net.IPv4(10, 213, b[3], 1)
		if onHost(gw) {
			continue
		}
		if out, err := exec.Command("ip", "link", "add", name, "type", "bridge").CombinedOutput(); err != nil {
			last = fmt.Errorf("ip link add %s: %v: %s", name, err, out)
			continue
		}
		for _, args := range [][]string{{"addr", "add", gw.String() + "/24", "dev", name}, {"link", "set", name, "up"}} {
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				_ = exec.Command("ip", "link", "del", name).Run()
				return "", fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
			}
		}
		return name, nil
	}
	return "", fmt.Errorf("no free bridge for a private Docker daemon: %v", last)
}

// onHost reports whether an interface of the host is on ip's /24.
func onHost(ip net.IP) bool {
	addrs, _ := net.InterfaceAddrs()
	want := &net.IPNet{IP: ip.Mask(net.CIDRMask(24, 32)), Mask: net.CIDRMask(24, 32)}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && (n.Contains(want.IP) || want.Contains(n.IP)) {
			return true
		}
	}
	return false
}

// Start starts the daemon and waits until it answers, or fails the test.
func (e *Engine) Start() {
	e.t.Helper()
	if err := e.start(); err != nil {
		e.t.Fatal(err)
	}
}

func (e *Engine) start() error {
	if e.running() {
		return errors.New("start the private Docker daemon: it is running")
	}
	logf, err := os.OpenFile(filepath.Join(e.dir, "dockerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command("dockerd", "--config-file", filepath.Join(e.dir, "daemon.json"), "--exec-root", filepath.Join(e.dir, "exec"),
		"-H", e.Host, "--pidfile", filepath.Join(e.dir, "dockerd.pid"), "--bridge", e.bridge, "--iptables=false", "--ip-masq=false")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start dockerd: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	e.cmd, e.exited = cmd, exited
	deadline := time.Now().Add(engineStartTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := e.Client.Ping(ctx)
		cancel()
		switch {
		case err == nil:
			e.answered = true
			return nil
		case !e.running():
			return fmt.Errorf("the private Docker daemon exited as it started: %v\n%s", cmd.ProcessState, e.logTail())
		case time.Now().After(deadline):
			return fmt.Errorf("the private Docker daemon did not answer within %s: %v\n%s", engineStartTimeout, err, e.logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop stops the daemon with SIGTERM, as a host's service manager does, and
// waits until it has exited, or fails the test.
func (e *Engine) Stop() {
	e.t.Helper()
	if err := e.stop(); err != nil {
		e.t.Fatal(err)
	}
}

func (e *Engine) stop() error {
	if !e.running() {
		return errors.New("stop the private Docker daemon: it is not running")
	}
	if err := e.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop the private Docker daemon: %w", err)
	}
	select {
	case <-e.exited:
		return nil
	case <-time.After(engineStopTimeout):
	}
	_ = e.cmd.Process.Kill()
	<-e.exited
	return fmt.Errorf("the private Docker daemon did not exit within %s of SIGTERM; killed it\n%s", engineStopTimeout, e.logTail())
}

func (e *Engine) running() bool {
	if e.cmd == nil {
		return false
	}
	select {
	case <-e.exited:
		return false
	default:
		return true
	}
}

// logTail is the end of the daemon's log, for a failure message.
func (e *Engine) logTail() string {
	raw, _ := os.ReadFile(filepath.Join(e.dir, "dockerd.log"))
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return "dockerd log:\n" + strings.Join(lines, "\n")
}

// cleanup removes what the engine holds, whatever state the test left it
// in: it starts a stopped daemon again so that the daemon itself removes
// the containers (with live restore they outlive it, held by their
// containerd shims), then stops it, ends any process left that belongs to
// it, unmounts what it mounted and removes its bridge and data.
func (e *Engine) cleanup() {
	t := e.t
	var errs []error
	if e.answered {
		if !e.running() {
			errs = append(errs, e.start())
		}
		if e.running() {
			errs = append(errs, e.removeAll())
			errs = append(errs, e.stop())
		}
	}
	if e.Client != nil {
		e.Client.Close()
	}
	errs = append(errs, e.killLeftovers(), unmountUnder(e.dir))
	if e.bridge != "" {
		if out, err := exec.Command("ip", "link", "del", e.bridge).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("ip link del %s: %v: %s", e.bridge, err, out))
		}
	}
	if t.Failed() {
		t.Log(e.logTail())
	}
	errs = append(errs, os.RemoveAll(e.dir))
	if err := errors.Join(errs...); err != nil {
		t.Errorf("clean up the private Docker daemon in %s: %v", e.dir, err)
	}
}

// removeAll removes every container and every network the daemon did not
// make itself, so that no bridge interface of theirs outlives it.
func (e *Engine) removeAll() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var errs []error
	list, err := e.Client.ContainerList(ctx, container.ListOptions{All: true})
	errs = append(errs, err)
	for _, c := range list {
		errs = append(errs, e.Client.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}))
	}
	nets, err := e.Client.NetworkList(ctx, network.ListOptions{})
	errs = append(errs, err)
	for _, n := range nets {
		if n.Name != "bridge" && n.Name != "host" && n.Name != "none" {
			errs = append(errs, e.Client.NetworkRemove(ctx, n.ID))
		}
	}
	return errors.Join(errs...)
}

// killLeftovers kills the processes still naming the engine's directory
// on their command line (its containerd, containerd shims) once the daemon
// is gone: a daemon that was killed does not stop them. Each is found by
// its own pid; nothing of the shared engine names this directory.
func (e *Engine) killLeftovers() error {
	procs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		return err
	}
	var left []string
	for _, p := range procs {
		raw, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(raw), e.dir+"/") {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(p, "/proc/%d/cmdline", &pid); err != nil || pid == os.Getpid() {
			continue
		}
		left = append(left, strings.ReplaceAll(strings.TrimSpace(string(raw)), "\x00", " "))
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if len(left) > 0 {
		return fmt.Errorf("killed processes the private Docker daemon left: %s", strings.Join(left, "; "))
	}
	return nil
}

// unmountUnder detaches every mount below dir, deepest first: the daemon
// bind-mounts its data root onto itself and leaves that mount when it
// exits.
func unmountUnder(dir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			points = append(points, fields[4])
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}
