// Package agent wires one skiff agent together: Raft and the state machine,
// the gossip ring, the node runner (agent/node: this host's containers) and
// the control plane (agent/control: bootstrap, leadership, scheduling and
// membership), the commit path that forwards a follower's own reports to
// the leader, and the Backend the HTTP API serves.
package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/skiff-run/skiff/agent/control"
	"github.com/skiff-run/skiff/agent/node"
	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/dnsserver"
	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/gossip"
	"github.com/skiff-run/skiff/ingress"
	"github.com/skiff-run/skiff/metrics"
	"github.com/skiff-run/skiff/pki"
	"github.com/skiff-run/skiff/raft"
	"github.com/skiff-run/skiff/runtime"
	"github.com/skiff-run/skiff/structs"
	"github.com/skiff-run/skiff/ui"
)

// Version is the skiff version agents and the command line report. Release
// builds stamp it: go build -ldflags "-X github.com/skiff-run/skiff/agent.Version=1.2.3".
var Version = "0.1.0-dev"

// Config configures an agent.
type Config struct {
	// Name is the node's human name; it defaults to the host name.
	Name string
	// DataDir keeps the node id, the Raft log and the snapshots.
	DataDir string
	// HTTPAddr is where the API listens, e.g. "127.0.0.1:7070".
	HTTPAddr string
	// RaftAddr is where Raft listens, e.g. "127.0.0.1:7071".
	RaftAddr string
	// GossipAddr is where the gossip ring listens (UDP and TCP), e.g.
	// "127.0.0.1:7946".
	GossipAddr string
	// Advertise is the IP other agents reach this one on; it defaults to
	// the host part of RaftAddr, or a private IP when that is 0.0.0.0.
	Advertise string
	// Join lists members to join (HOST or HOST:PORT); the agent retries
	// until one answers.
	Join []string
	// BootstrapExpect is how many agents form a new cluster together. 1
	// bootstraps alone at once; more wait until that many see each other.
	BootstrapExpect int
	// Voters is how many voters the leader keeps (3 or 5).
	Voters int
	// ProbeInterval tunes gossip failure detection; see gossip.Config.
	ProbeInterval time.Duration
	// DownAfter is how long a node must be dead in gossip before the
	// leader marks it down and re-places its tasks.
	DownAfter time.Duration
	// PromoteAfter is how long a voter must be dead before a non-voter
	// takes its place.
	PromoteAfter time.Duration
	// RemoveAfter is how long a member may stay dead before it is removed
	// from Raft.
	RemoveAfter time.Duration
	// CPU (units, 1024 per core) and MemoryMiB are what this node offers;
	// zero means what the host has.
	CPU       int64
	MemoryMiB int64
	// GPUs is how many GPUs this node offers to tasks; -1 counts the
	// host's NVIDIA devices (/dev/nvidia0, /dev/nvidia1, ...).
	GPUs int
	// Attributes are matched by placement constraints and spread.
	Attributes map[string]string
	// Tags label the node for people and scripts (--filter tag:K=V); the
	// scheduler does not read them.
	Tags []structs.Tag
	// Cluster is the pool this node joins; services and one-off tasks run
	// only in the pool they name. Empty is structs.DefaultCluster.
	Cluster string
	// PortMin and PortMax bound the dynamic host ports.
	PortMin, PortMax int
	// AllowHostPaths are the host path prefixes under which tasks may
	// bind mount; nil allows none, or any with Dev.
	AllowHostPaths []string
	// AllowPrivileged lets tasks ask for more of the host than an ordinary
	// container (structs.TaskDefinition.Privileges); Dev allows it.
	AllowPrivileged bool
	// Runtime runs this node's containers.
	Runtime runtime.Runtime
	// Logger receives the agent's log; nil discards it.
	Logger *slog.Logger
	// RaftLog receives Raft's and gossip's own log lines; nil discards
	// them.
	RaftLog io.Writer
	// Debug makes Raft and gossip log at debug level.
	Debug bool
	// Resync is how often the node loop re-reads the engine even when
	// nothing announced a change; default 2s.
	Resync time.Duration
	// QuietResync is how often it re-reads the engine while the engine
	// announces its changes and the node has nothing to catch up on;
	// default 30s. See node.Config.QuietResync.
	QuietResync time.Duration
	// RaftTimeout is how long Raft followers go without hearing from the
	// leader before they elect another; zero means
	// raft.DefaultHeartbeatTimeout. See raft.Config.HeartbeatTimeout.
	RaftTimeout time.Duration
	// CommitTimeout is how often an idle Raft leader repeats the commit
	// index to its followers; zero means raft.DefaultCommitTimeout.
	// Followers hear of this agent's commits at once regardless.
	CommitTimeout time.Duration
	// ReconnectInterval is how often gossip tries to reach dead members;
	// default 10s.
	ReconnectInterval time.Duration
	// Token is the cluster's join token (`skiff token generate`). Outside
	// Dev an agent needs one, here or kept in its data dir from an earlier
	// start; it is kept there (mode 0600) for the next start.
	Token string
	// Dev marks a one-node agent on loopback for trying skiff out: it
	// needs no token, and its API refuses requests that name a host other
	// than its own.
	Dev bool
	// PendingTimeout is how long a service's task may stay PENDING before
	// the leader places it again elsewhere; default 10m.
	PendingTimeout time.Duration
	// HealthyAfter is how long a deployment's (or a rebalance's) new task
	// without a health check must run before it counts as healthy; default
	// 5s. StuckAfter is how long a deployment whose new tasks cannot be
	// placed may make no progress before its circuit breaker trips;
	// default 5m.
	HealthyAfter, StuckAfter time.Duration
	// Clock, when set, is the time this agent fires schedules by while it
	// leads; tests set it to move schedules through time. Nil is the
	// system clock.
	Clock func() time.Time
	// CertificateLifetime is how long the agent's node certificate lasts;
	// it is renewed when a third is left. Default 30 days.
	CertificateLifetime time.Duration
	// RotationGrace is how long, after the cluster secret rotates, the
	// agent still hears and accepts agents on the old secret, so that
	// every live agent moves over without losing the others. Default 1m.
	RotationGrace time.Duration
	// ImageGCAfter is how long an image must go unreferenced by this
	// node's tasks before the clean-up may remove it (default 1h), and
	// ImageGCHigh how full, in percent, the disk of the engine's data root
	// must be before it does (default 80; 100 turns the clean-up off).
	ImageGCAfter time.Duration
	ImageGCHigh  float64
	// Faults, when set, cuts this agent off from chosen peers; tests use
	// it for partitions. Nil in production.
	Faults Faults
	// DeregistrationDelay is how long a running task of a service that is
	// asked to stop keeps running, out of its service's endpoints and DNS
	// answers, before its containers get SIGTERM; zero stops at once.
	DeregistrationDelay time.Duration
	// DNSAddr is where the agent's DNS server listens for people and
	// tools (host:port, port 0 for any); empty listens there on nothing.
	DNSAddr string
	// DNSForContainers also serves DNS on port 53 of the address the
	// runtime's containers reach the host on (its bridge's gateway), and
	// makes that the resolver of the containers skiff starts.
	DNSForContainers bool
	// DNSDomain is the cluster's DNS domain; default skiff.
	DNSDomain string
	// DNSResolvers are the resolvers (host:port) the DNS server forwards
	// names outside its domain to; nil reads /etc/resolv.conf.
	DNSResolvers []string
	// NoIngress turns off the listeners of services' loadBalancers on
	// this agent; IngressBind is the IP they listen on, by default the
	// host of HTTPAddr.
	NoIngress   bool
	IngressBind string
}

// Faults wraps the agent's Raft and gossip transports so that traffic to
// chosen peers can be dropped.
type Faults interface {
	StreamLayer(raft.StreamLayer) raft.StreamLayer
	Transport(gossip.Transport) gossip.Transport
}

// Agent is a running skiff agent. Its methods are safe for concurrent use.
type Agent struct {
	cfg  Config
	id   string
	log  *slog.Logger
	fsm  *fsm.FSM
	raft *raft.Node
	// announce applies commands so that followers hear of each commit at
	// once; every command this agent commits goes through it.
	announce *announcer
	ring     *gossip.Ring
	rt       runtime.Runtime
	commit   *committer
	runner   *node.Runner
	control  *control.ControlPlane
	http     *http.Server
	httpLn   net.Listener
	// dns answers the cluster's names; nil when the agent serves no DNS.
	dns     *dnsserver.Server
	dnsAddr string
	// ingress serves services' loadBalancers; nil with NoIngress.
	ingress *ingress.Ingress

	left      chan struct{} // closed by Leave
	leaveOnce sync.Once
	// pki is this node's certificate and the cluster CA, nil when the
	// agent runs without a cluster secret; the API then serves plain
	// http and takes forwarded commands from anyone who reaches it.
	pki *pki.Node
	// browserCert is what the API shows web browsers, which cannot check
	// the node certificate; set with pki.
	browserCert tls.Certificate
	// keys keeps the agent on the cluster's current secret, nil without
	// one.
	keys *keys
	// vault seals and opens secret values.
	vault *vault
	// peerTLS is how this agent calls other agents' APIs, nil without a
	// cluster secret.
	peerTLS *tls.Config
	// usage samples the engine's stats of this node's containers.
	usage   *usageSampler
	metrics *metrics.Metrics
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// New starts an agent: it opens Raft on the data dir, starts gossip, the
// HTTP API, the node runner and the control plane. Close stops it.
func New(cfg Config) (*Agent, error) {
	if err := setDefaults(&cfg); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("agent: data dir: %w", err)
	}
	id, err := nodeID(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	secret, err := clusterSecret(cfg)
	if err != nil {
		return nil, err
	}
	ip, err := advertiseIP(cfg)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger.With("node", cfg.Name)
	a := &Agent{cfg: cfg, id: id, log: log, fsm: fsm.New(log), rt: cfg.Runtime, left: make(chan struct{})}
	a.usage = &usageSampler{node: id}
	if sr, ok := cfg.Runtime.(runtime.StatsReader); ok {
		a.usage.stats = sr
	}
	rcfg := raft.Config{NodeID: id, DataDir: filepath.Join(cfg.DataDir, "raft"), BindAddr: cfg.RaftAddr,
		Advertise: net.JoinHostPort(ip, strconv.Itoa(portOf(cfg.RaftAddr))), Bootstrap: cfg.BootstrapExpect == 1, LogOutput: cfg.RaftLog, Debug: cfg.Debug,
		CommitTimeout: cfg.CommitTimeout, HeartbeatTimeout: cfg.RaftTimeout}
	if cfg.Faults != nil {
		rcfg.WrapStream = cfg.Faults.StreamLayer
	}
	if secret != nil {
		if a.pki, err = nodeCertificate(*secret, id, cfg.CertificateLifetime); err != nil {
			return nil, err
		}
		if err := writeCA(cfg.DataDir, a.pki.CA()); err != nil {
			return nil, err
		}
		rcfg.TLS = a.pki.MutualTLS()
		if a.browserCert, err = browserCertificate(cfg.DataDir, cfg.Name, ip); err != nil {
			return nil, err
		}
	}
	peerScheme, peerTLS, peers := peerHTTP(a.pki)
	a.peerTLS = peerTLS
	if a.raft, err = raft.Open(rcfg, a.fsm); err != nil {
		return nil, err
	}
	a.httpLn, err = net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		a.raft.Close()
		return nil, fmt.Errorf("agent: listen on %s: %w", cfg.HTTPAddr, err)
	}
	if err := a.startGossip(ip, secret); err != nil {
		a.httpLn.Close()
		a.raft.Close()
		return nil, err
	}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	var bootstrapACL *structs.ACLToken
	if secret != nil {
		if bootstrapACL, err = keepManagementToken(cfg.DataDir, *secret); err != nil {
			a.ring.Shutdown()
			a.httpLn.Close()
			a.raft.Close()
			return nil, err
		}
	}
	if secret != nil {
		a.keys = newKeys(a.ctx, cfg.DataDir, *secret, a.pki, a.ring, cfg.RotationGrace, a.log)
	}
	if a.vault, err = newVault(cfg, a.keys); err != nil {
		a.ring.Shutdown()
		a.httpLn.Close()
		a.raft.Close()
		return nil, err
	}
	a.announce = newAnnouncer(a.raft)
	a.metrics = metrics.New(metricsSource{a})
	a.commit = &committer{raft: a.raft, announce: a.announce, leaderAPI: a.LeaderAPI, members: a.ring.Members, peerScheme: peerScheme, peers: peers,
		observe: a.metrics.ObserveCommit}
	apiAddr := net.JoinHostPort(ip, strconv.Itoa(portOf(a.httpLn.Addr().String())))
	var gc *imageGC
	var diskPercent func() int
	if ic, ok := cfg.Runtime.(runtime.ImageCollector); ok && cfg.ImageGCHigh < 100 {
		gc = &imageGC{rt: ic, node: id, after: cfg.ImageGCAfter, high: cfg.ImageGCHigh, log: a.log, unusedSince: map[string]time.Time{}}
		diskPercent = func() int { return int(gc.diskPercent.Load()) }
	}
	containerDNS, err := a.startDNS(ip)
	if err != nil {
		a.ring.Shutdown()
		a.httpLn.Close()
		a.raft.Close()
		return nil, err
	}
	a.runner = node.New(node.Config{
		Node: structs.Node{ID: id, Name: cfg.Name, Address: a.raft.Addr(), APIAddress: apiAddr, CPU: cfg.CPU, MemoryMiB: cfg.MemoryMiB,
			GPUs: cfg.GPUs, Attributes: cfg.Attributes, PortMin: cfg.PortMin, PortMax: cfg.PortMax, AllowedHostPaths: cfg.AllowHostPaths,
			AllowPrivileged: cfg.AllowPrivileged, Tags: cfg.Tags, Cluster: structs.ClusterName(cfg.Cluster)},
		Runtime: cfg.Runtime, Replica: a.fsm, Committer: a.commit, CaughtUp: a.raft.CaughtUp,
		HasLeader: func() bool { return a.raft.LeaderID() != "" }, Resync: cfg.Resync, QuietResync: cfg.QuietResync, Logger: a.log, Secrets: a.vault,
		DiskUsedPercent:     diskPercent,
		DeregistrationDelay: cfg.DeregistrationDelay, DNSServers: containerDNS,
	})
	a.control = control.New(control.Config{ID: id, BootstrapExpect: cfg.BootstrapExpect, Voters: cfg.Voters,
		DownAfter: cfg.DownAfter, PromoteAfter: cfg.PromoteAfter, RemoveAfter: cfg.RemoveAfter, LeaderOf: a.leaderOf, BootstrapACL: bootstrapACL,
		PendingTimeout: cfg.PendingTimeout, HealthyAfter: cfg.HealthyAfter, StuckAfter: cfg.StuckAfter, Clock: cfg.Clock, Prove: raftProver(rcfg.TLS), Observer: a.metrics, Logger: a.log},
		a.raft, a.ring, a.fsm, a.commit)
	// Requests share the agent's context, so that Close ends long ones
	// (followed logs) instead of waiting for them.
	opts := api.Options{RestrictHosts: cfg.Dev, Hosts: []string{cfg.Name}, PeerTLS: peerTLS, UI: ui.Handler()}
	if secret != nil {
		opts.Authorize = a.authorize
	}
	// The server's own complaints (a failed handshake, such as a plain
	// http request or a certificate of another cluster, or a handler that
	// panicked) go to the agent's log rather than to bare stderr.
	// A client gets a minute to send its body and two to come back on a
	// kept-alive connection, so that slow or idle clients do not hold
	// goroutines and descriptors for good. There is no write timeout: a
	// followed log streams for as long as its client reads.
	a.http = &http.Server{Handler: api.NewHandler(a, a.log, opts), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute,
		BaseContext: func(net.Listener) context.Context { return a.ctx },
		ErrorLog:    slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)}
	if a.pki != nil {
		a.http.TLSConfig = a.pki.ServerTLSWithBrowser(a.browserCert)
		a.log.Info("web browsers are shown a self-signed certificate for the UI", "sha256", pki.Fingerprint(a.browserCert),
			"file", filepath.Join(cfg.DataDir, BrowserCertFile))
	}
	if a.keys != nil {
		a.wg.Add(2)
		go func() { defer a.wg.Done(); a.keys.run(a.fsm) }()
		go func() { defer a.wg.Done(); a.resealLoop() }()
	}
	a.wg.Add(5)
	go func() { defer a.wg.Done(); a.announce.run(a.ctx) }()
	go func() {
		defer a.wg.Done()
		var err error
		if a.http.TLSConfig != nil {
			// The node certificate comes from ServerTLS's GetCertificate,
			// so no files are named.
			err = a.http.ServeTLS(a.httpLn, "", "")
		} else {
			err = a.http.Serve(a.httpLn)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("http server stopped", "err", err)
		}
	}()
	go func() { defer a.wg.Done(); a.runner.Run(a.ctx) }()
	if gc != nil {
		a.wg.Add(1)
		go func() { defer a.wg.Done(); gc.run(a.ctx, a.fsm) }()
	}
	go func() { defer a.wg.Done(); a.control.Run(a.ctx) }()
	if !cfg.NoIngress {
		a.ingress = ingress.New(ingress.Config{Bind: cfg.IngressBind, Source: ingressSource{a.fsm}, Logger: a.log})
		a.wg.Add(1)
		go func() { defer a.wg.Done(); a.ingress.Run(a.ctx) }()
	}
	a.wg.Add(1)
	go func() { defer a.wg.Done(); a.releasePages(a.ctx) }()
	go func() {
		defer a.wg.Done()
		a.ring.Maintain(a.ctx, cfg.Join, defaultGossipPort, a.peerGossipAddrs, func(msg string, args ...any) { a.log.Info(msg, args...) })
	}()
	a.log.Info("agent started", "id", id, "http", a.httpLn.Addr().String(), "raft", a.raft.Addr(), "cpu", cfg.CPU, "memoryMiB", cfg.MemoryMiB)
	return a, nil
}

// setDefaults checks cfg and fills in what was left out.
func setDefaults(cfg *Config) error {
	if cfg.Runtime == nil {
		return errors.New("agent: no runtime")
	}
	if cfg.GossipAddr == "" {
		return errors.New("agent: no gossip address")
	}
	if err := structs.ValidateTags(cfg.Tags); err != nil {
		return fmt.Errorf("agent: tags%w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Resync == 0 {
		cfg.Resync = 2 * time.Second
	}
	if cfg.QuietResync == 0 {
		cfg.QuietResync = 30 * time.Second
	}
	if cfg.BootstrapExpect == 0 {
		cfg.BootstrapExpect = 1
	}
	// An agent that expects one voter forms a cluster of its own at once,
	// so one that is also told to join others would, on its first start,
	// lead a cluster of its own before it met them, and take writes there
	// that the cluster it joins then erases. Once it has state it
	// bootstraps nothing, and joining is how it finds the others again.
	if cfg.BootstrapExpect == 1 && len(cfg.Join) > 0 && !hasRaftState(cfg.DataDir) {
		if cfg.Dev {
			return errors.New("agent: --dev forms a cluster of this agent alone, and cannot join others; leave --dev out to join a cluster")
		}
		return errors.New("agent: bootstrap-expect 1 forms a new cluster of this agent alone, and cannot be combined with join on a first start; leave bootstrap-expect out to join a cluster")
	}
	if cfg.Voters == 0 {
		cfg.Voters = 3
	}
	if cfg.Voters != 3 && cfg.Voters != 5 {
		return fmt.Errorf("agent: voters must be 3 or 5, not %d", cfg.Voters)
	}
	if cfg.DownAfter == 0 {
		cfg.DownAfter = 500 * time.Millisecond
	}
	if cfg.PromoteAfter == 0 {
		cfg.PromoteAfter = 10 * time.Second
	}
	if cfg.RemoveAfter == 0 {
		cfg.RemoveAfter = 30 * time.Minute
	}
	if cfg.CertificateLifetime == 0 {
		cfg.CertificateLifetime = 30 * 24 * time.Hour
	}
	if cfg.RotationGrace < 0 || cfg.CertificateLifetime < 0 {
		return errors.New("agent: rotation grace and certificate lifetime: expected positive durations")
	}
	if cfg.RotationGrace == 0 {
		cfg.RotationGrace = time.Minute
	}
	if cfg.ImageGCAfter < 0 || cfg.ImageGCHigh < 0 || cfg.ImageGCHigh > 100 {
		return errors.New("agent: image clean-up: expected a positive duration and a percentage from 0 to 100")
	}
	if cfg.ImageGCAfter == 0 {
		cfg.ImageGCAfter = time.Hour
	}
	if cfg.ImageGCHigh == 0 {
		cfg.ImageGCHigh = 80
	}
	if cfg.PortMin == 0 && cfg.PortMax == 0 {
		cfg.PortMin, cfg.PortMax = 20000, 32767
	}
	if cfg.AllowHostPaths == nil && cfg.Dev {
		cfg.AllowHostPaths = []string{"/"}
	}
	if cfg.Dev {
		cfg.AllowPrivileged = true
	}
	if cfg.Name == "" {
		cfg.Name, _ = os.Hostname()
	}
	if cfg.IngressBind == "" {
		cfg.IngressBind, _, _ = net.SplitHostPort(cfg.HTTPAddr)
	}
	cfg.Attributes = withBuiltinAttributes(cfg.Attributes)
	if cfg.CPU == 0 || cfg.MemoryMiB == 0 {
		cpu, mem := hostResources()
		if cfg.CPU == 0 {
			cfg.CPU = cpu
		}
		if cfg.MemoryMiB == 0 {
			cfg.MemoryMiB = mem
		}
	}
	if cfg.GPUs < 0 {
		cfg.GPUs = hostGPUs("/dev")
	}
	return nil
}

// nvidiaDevice matches the device nodes of NVIDIA GPUs, one per GPU; the
// driver's other nodes (nvidiactl, nvidia-uvm ...) are not GPUs.
var nvidiaDevice = regexp.MustCompile(`^nvidia[0-9]+$`)

// hostGPUs counts the NVIDIA GPUs under dev.
func hostGPUs(dev string) int {
	entries, _ := os.ReadDir(dev)
	n := 0
	for _, e := range entries {
		if nvidiaDevice.MatchString(e.Name()) {
			n++
		}
	}
	return n
}

// nodeID reads the node's permanent id from the data dir, creating it on
// first start. Identity is this id, never an address.
func nodeID(dir string) (string, error) {
	path := filepath.Join(dir, "node-id")
	b, err := os.ReadFile(path)
	if err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			return id, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("agent: read node id: %w", err)
	}
	id := uuid.NewString()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("agent: write node id: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("agent: write node id: %w", err)
	}
	return id, nil
}

// ID is the node's permanent id.
func (a *Agent) ID() string { return a.id }

// HTTPAddr is the address the API listens on.
func (a *Agent) HTTPAddr() string { return a.httpLn.Addr().String() }

// Close stops the API, the runner and the control plane, then gossip and
// Raft, without leaving: to the others this node is dead until it comes
// back. Containers keep running: an agent that starts again on the same
// data dir adopts them.
func (a *Agent) Close() error {
	a.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	herr := a.http.Shutdown(ctx)
	if herr != nil {
		// Connections still open after the grace period are cut, so that
		// nothing of the API outlives the agent.
		herr = errors.Join(herr, a.http.Close())
	}
	a.wg.Wait()
	if a.dns != nil {
		herr = errors.Join(herr, a.dns.Close())
	}
	if a.keys != nil {
		a.keys.wg.Wait()
	}
	return errors.Join(herr, a.ring.Shutdown(), a.raft.Close())
}

// IngressPorts lists the listener ports this agent's ingress has open;
// none when it runs without one.
func (a *Agent) IngressPorts() []int {
	if a.ingress == nil {
		return nil
	}
	return a.ingress.Ports()
}

// ingressSource is the ingress's view of the local replica.
type ingressSource struct{ f *fsm.FSM }

func (s ingressSource) View() ingress.View     { return s.f.State() }
func (s ingressSource) Watch() <-chan struct{} { return s.f.Watch() }

// State is a read view of the local replica.
func (a *Agent) State() *fsm.State { return a.fsm.State() }

// FSM exposes the state machine, for benchmarks that measure its snapshot.
func (a *Agent) FSM() *fsm.FSM { return a.fsm }

// Done is closed once the agent has left the cluster.
func (a *Agent) Done() <-chan struct{} { return a.left }
