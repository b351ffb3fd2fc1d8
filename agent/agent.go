// Package agent wires raft, the scheduler and the runtime into one skiff
// agent: the leader loop that keeps services at their desired count, the
// node loop that makes the local engine match the tasks assigned to this
// node, and the Backend the HTTP API serves.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/gossip"
	"github.com/skiff-run/skiff/raft"
	"github.com/skiff-run/skiff/runtime"
	"github.com/skiff-run/skiff/structs"
)

// Version is the skiff version agents report.
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
	// Attributes are matched by placement constraints and spread.
	Attributes map[string]string
	// PortMin and PortMax bound the dynamic host ports.
	PortMin, PortMax int
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
}

// Agent is a running skiff agent. Its methods are safe for concurrent use.
type Agent struct {
	cfg    Config
	id     string
	log    *slog.Logger
	fsm    *fsm.FSM
	raft   *raft.Node
	ring   *gossip.Ring
	rt     runtime.Runtime
	http   *http.Server
	httpLn net.Listener

	// planMu serializes every scheduling decision (reconcile and RunTasks),
	// so each plan is computed against the newest committed state and no
	// two plans can claim the same resources.
	planMu sync.Mutex
	leader *leaderState // guarded by planMu
	node   *nodeState   // owned by the node loop

	kick      chan struct{} // wakes the leader loop
	left      chan struct{} // closed by Leave
	leaveOnce sync.Once
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

// New starts an agent: it opens Raft on the data dir, starts the HTTP API
// and the leader and node loops. Close stops it.
func New(cfg Config) (*Agent, error) {
	if cfg.Runtime == nil {
		return nil, errors.New("agent: no runtime")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Resync == 0 {
		cfg.Resync = 2 * time.Second
	}
	if cfg.BootstrapExpect == 0 {
		cfg.BootstrapExpect = 1
	}
	if cfg.Voters == 0 {
		cfg.Voters = 3
	}
	if cfg.Voters != 3 && cfg.Voters != 5 {
		return nil, fmt.Errorf("agent: voters must be 3 or 5, not %d", cfg.Voters)
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
	if cfg.GossipAddr == "" {
		return nil, errors.New("agent: no gossip address")
	}
	if cfg.PortMin == 0 && cfg.PortMax == 0 {
		cfg.PortMin, cfg.PortMax = 20000, 32767
	}
	if cfg.Name == "" {
		cfg.Name, _ = os.Hostname()
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
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("agent: data dir: %w", err)
	}
	id, err := nodeID(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	ip, err := advertiseIP(cfg)
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, id: id, log: cfg.Logger.With("node", cfg.Name), fsm: fsm.New(), rt: cfg.Runtime,
		leader: newLeaderState(), node: newNodeState(), kick: make(chan struct{}, 1), left: make(chan struct{})}
	a.raft, err = raft.Open(raft.Config{NodeID: id, DataDir: filepath.Join(cfg.DataDir, "raft"), BindAddr: cfg.RaftAddr,
		Advertise: net.JoinHostPort(ip, strconv.Itoa(portOf(cfg.RaftAddr))), Bootstrap: cfg.BootstrapExpect == 1, LogOutput: cfg.RaftLog, Debug: cfg.Debug}, a.fsm)
	if err != nil {
		return nil, err
	}
	a.httpLn, err = net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		a.raft.Close()
		return nil, fmt.Errorf("agent: listen on %s: %w", cfg.HTTPAddr, err)
	}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	if err := a.startGossip(ip); err != nil {
		a.cancel()
		a.httpLn.Close()
		a.raft.Close()
		return nil, err
	}
	a.http = &http.Server{Handler: api.NewHandler(a, a.log), ReadHeaderTimeout: 10 * time.Second}
	a.wg.Add(4)
	go func() {
		defer a.wg.Done()
		if err := a.http.Serve(a.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("http server stopped", "err", err)
		}
	}()
	go func() { defer a.wg.Done(); a.leaderLoop() }()
	go func() { defer a.wg.Done(); a.nodeLoop() }()
	go func() { defer a.wg.Done(); a.clusterLoop() }()
	a.log.Info("agent started", "id", id, "http", a.httpLn.Addr().String(), "raft", a.raft.Addr(), "cpu", cfg.CPU, "memoryMiB", cfg.MemoryMiB)
	return a, nil
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

// Close stops the loops and the API, then gossip and Raft, without
// leaving: to the others this node is dead until it comes back.
// Containers keep running: an agent that starts again on the same data
// dir adopts them.
func (a *Agent) Close() error {
	a.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	herr := a.http.Shutdown(ctx)
	a.wg.Wait()
	a.node.wait()
	return errors.Join(herr, a.ring.Shutdown(), a.raft.Close())
}

// State is a read view of the local replica.
func (a *Agent) State() *fsm.State { return a.fsm.State() }

// View implements api.Backend.
func (a *Agent) View() api.State { return a.fsm.State() }

// Health implements api.Backend.
func (a *Agent) Health() api.Health {
	st := a.fsm.State()
	leader := a.raft.LeaderID()
	status := "ok"
	if leader == "" {
		status = "no leader"
	}
	return api.Health{Status: status, Node: a.id, Name: a.cfg.Name, Leader: leader, IsLeader: leader == a.id,
		Index: st.Index(), Version: Version}
}

// write commits one command and returns the FSM's result. On a follower,
// the commands of its own loops are forwarded to the leader; anything else
// is refused, because user requests reach the leader as HTTP requests.
func (a *Agent) write(t fsm.CommandType, body any) (any, error) {
	cmd, err := fsm.Encode(t, body)
	if err != nil {
		return nil, err
	}
	res, err := a.raft.Apply(cmd, 10*time.Second)
	if errors.Is(err, raft.ErrNotLeader) {
		if forwardable[t] {
			return a.forward(cmd)
		}
		return nil, fmt.Errorf("%w: this agent is not the leader (leader: %q)", api.ErrUnavailable, a.raft.LeaderID())
	}
	return res, err
}

func now() int64 { return time.Now().UnixMilli() }

func (a *Agent) wake() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// ApplyService implements api.Backend.
func (a *Agent) ApplyService(_ context.Context, svc *structs.Service, td *structs.TaskDefinition) (*structs.Service, error) {
	if _, err := a.write(fsm.CmdApplyService, fsm.ApplyService{Service: *svc, TaskDefinition: td, At: now()}); err != nil {
		return nil, err
	}
	a.wake()
	return a.fsm.State().Service(svc.Name), nil
}

// DeleteService implements api.Backend.
func (a *Agent) DeleteService(_ context.Context, name string) error {
	_, err := a.write(fsm.CmdDeleteService, fsm.DeleteService{Name: name, Reason: "service " + name + " was deleted", At: now()})
	return err
}

// ScaleService implements api.Backend.
func (a *Agent) ScaleService(_ context.Context, name string, count int) error {
	svc := a.fsm.State().Service(name)
	if svc == nil {
		return fmt.Errorf("service %s: %w", name, api.ErrNotFound)
	}
	s := *svc
	s.DesiredCount = count
	if _, err := a.write(fsm.CmdApplyService, fsm.ApplyService{Service: s, At: now()}); err != nil {
		return err
	}
	a.wake()
	return nil
}

// StopTask implements api.Backend. A stopped task of a service is replaced,
// as in ECS.
func (a *Agent) StopTask(_ context.Context, id string) error {
	t := a.fsm.State().Task(id)
	if t == nil {
		return fmt.Errorf("task %s: %w", id, api.ErrNotFound)
	}
	_, err := a.write(fsm.CmdCommitPlan, fsm.CommitPlan{Stop: []fsm.TaskStop{{ID: id, Reason: "stopped by user"}}, At: now()})
	return err
}

// Logs implements api.Backend for tasks on this node.
func (a *Agent) Logs(ctx context.Context, id, container string, follow bool, w io.Writer) error {
	st := a.fsm.State()
	t := st.Task(id)
	if t == nil {
		return fmt.Errorf("task %s: %w", id, api.ErrNotFound)
	}
	if t.Node != a.id {
		return fmt.Errorf("%w: task %s runs on node %s", api.ErrUnavailable, id, t.Node)
	}
	if container == "" {
		if td := st.TaskDefinition(t.TaskDefinition); td != nil {
			container = td.ContainerDefinitions[0].Name
		}
	}
	return a.rt.Logs(ctx, a.id, id, container, follow, w)
}

// FSM exposes the state machine, for benchmarks that measure its snapshot.
func (a *Agent) FSM() *fsm.FSM { return a.fsm }
