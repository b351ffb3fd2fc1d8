package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/skiff-run/skiff/agent/control"
	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/gossip"
	"github.com/skiff-run/skiff/raft"
	"github.com/skiff-run/skiff/runtime"
	"github.com/skiff-run/skiff/structs"
)

func now() int64 { return time.Now().UnixMilli() }

// View implements api.Backend.
func (a *Agent) View() api.State { return a.fsm.State() }

// Changed implements api.Backend.
func (a *Agent) Changed() <-chan struct{} { return a.fsm.Watch() }

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

// ApplyService implements api.Backend.
func (a *Agent) ApplyService(ctx context.Context, svc *structs.Service, td *structs.TaskDefinition) (*structs.Service, error) {
	// A daemon, a service with load balancers, and a service that records
	// the directory it was applied from, have command types of their own,
	// which the committer writes only once every server applies them. The
	// last is the newest, and takes the other two kinds too.
	t := fsm.CmdApplyService
	switch {
	case svc.Source != "":
		t = fsm.CmdApplySourcedService
	case len(svc.LoadBalancers) > 0:
		t = fsm.CmdApplyBalancedService
	case svc.IsDaemon():
		t = fsm.CmdApplyDaemonService
	}
	if err := a.tagsWritable(svc, td); err != nil {
		return nil, err
	}
	if svc.IsExternal() || structs.ClusterName(svc.Cluster) != structs.DefaultCluster {
		// An older server that led would place the service's tasks
		// itself, anywhere: pools and outside schedulers wait until
		// every server knows them.
		if err := a.commit.supported(fsm.CmdPlaceTasks); err != nil {
			return nil, err
		}
	}
	if _, err := a.commit.Commit(ctx, t, fsm.ApplyService{Service: *svc, TaskDefinition: td, At: now()}); err != nil {
		return nil, err
	}
	return a.fsm.State().Service(svc.Name), nil
}

// RegisterTaskDefinition implements api.Backend.
func (a *Agent) RegisterTaskDefinition(ctx context.Context, td *structs.TaskDefinition) (*structs.TaskDefinition, error) {
	if err := a.tagsWritable(nil, td); err != nil {
		return nil, err
	}
	res, err := a.commit.Commit(ctx, fsm.CmdRegisterTaskDefinition, fsm.RegisterTaskDefinition{TaskDefinition: *td})
	if err != nil {
		return nil, err
	}
	ref, _ := res.(string)
	return a.fsm.State().TaskDefinition(ref), nil
}

// DeleteService implements api.Backend.
func (a *Agent) DeleteService(ctx context.Context, name string) error {
	_, err := a.commit.Commit(ctx, fsm.CmdDeleteService, fsm.DeleteService{Name: name, Reason: "service " + name + " was deleted", At: now()})
	return err
}

// ScaleService implements api.Backend. The count changes inside the state
// machine, so that a scale never overwrites a concurrent apply.
func (a *Agent) ScaleService(ctx context.Context, name string, count int) error {
	if _, err := a.commit.Commit(ctx, fsm.CmdScaleService, fsm.ScaleService{Name: name, DesiredCount: count, At: now()}); err != nil {
		return err
	}
	return nil
}

// SetServiceRevision implements api.Backend; like a scale, it changes
// the service inside the state machine.
func (a *Agent) SetServiceRevision(ctx context.Context, name, taskDefinition string, restart bool) error {
	_, err := a.commit.Commit(ctx, fsm.CmdSetServiceRevision, fsm.SetServiceRevision{Name: name, TaskDefinition: taskDefinition, Restart: restart, At: now()})
	return err
}

// RunTasks implements api.Backend.
func (a *Agent) RunTasks(ctx context.Context, td *structs.TaskDefinition, opts api.RunOptions) ([]*structs.Task, *structs.PlacementFailure, error) {
	if err := a.tagsWritable(nil, td); err != nil {
		return nil, nil, err
	}
	run := control.Run{Count: opts.Count, Cluster: opts.Cluster}
	for i, ref := range opts.Nodes {
		n, err := a.resolveNode(ref)
		if err != nil {
			var fe *api.FieldError
			if errors.As(err, &fe) {
				fe.Field = fmt.Sprintf("nodes[%d]", i)
			}
			return nil, nil, err
		}
		run.Nodes = append(run.Nodes, n.ID)
	}
	if len(run.Nodes) > 0 || structs.ClusterName(run.Cluster) != structs.DefaultCluster {
		// An older server would place these tasks anywhere, or refuse the
		// entry that places them.
		if err := a.commit.supported(fsm.CmdPlaceTasks); err != nil {
			return nil, nil, err
		}
	}
	tasks, failure, err := a.control.RunTasks(ctx, td, run)
	if errors.Is(err, raft.ErrNotLeader) {
		err = fmt.Errorf("%w: %v", api.ErrUnavailable, err)
	}
	return tasks, failure, err
}

// PlaceTask implements api.Backend.
func (a *Agent) PlaceTask(ctx context.Context, id, node string) (*structs.Task, error) {
	n, err := a.resolveNode(node)
	if err != nil {
		return nil, err
	}
	t, err := a.control.PlaceTask(ctx, id, n.ID)
	if errors.Is(err, raft.ErrNotLeader) {
		err = fmt.Errorf("%w: %v", api.ErrUnavailable, err)
	}
	return t, err
}

// StopTask implements api.Backend. A stopped task of a service is replaced,
// as in ECS.
func (a *Agent) StopTask(ctx context.Context, id string) error {
	if a.fsm.State().Task(id) == nil {
		return fmt.Errorf("task %s: %w", id, api.ErrNotFound)
	}
	_, err := a.commit.Commit(ctx, fsm.CmdCommitPlan, fsm.CommitPlan{Stop: []fsm.TaskStop{{ID: id, Reason: "stopped by user"}}, At: now()})
	return err
}

// localContainer finds the definition of a container of a task on this
// node: container, or the task's first when it is empty. Only a container
// of the task's own definition may be named: the name becomes part of an
// engine-wide container name, and anything else could reach a container
// that is not this task's.
func (a *Agent) localContainer(id, container string) (*structs.ContainerDefinition, error) {
	st := a.fsm.State()
	t := st.Task(id)
	if t == nil {
		return nil, fmt.Errorf("task %s: %w", id, api.ErrNotFound)
	}
	if t.Node != a.id {
		return nil, fmt.Errorf("%w: task %s runs on node %s", api.ErrUnavailable, id, t.Node)
	}
	td := st.TaskDefinition(t.TaskDefinition)
	if td == nil || len(td.ContainerDefinitions) == 0 {
		return nil, fmt.Errorf("task definition %s: %w", t.TaskDefinition, api.ErrNotFound)
	}
	if container == "" {
		container = td.ContainerDefinitions[0].Name
	}
	i := slices.IndexFunc(td.ContainerDefinitions, func(cd structs.ContainerDefinition) bool { return cd.Name == container })
	if i < 0 {
		return nil, &api.FieldError{Field: "container", Message: fmt.Sprintf("%q is not a container of task definition %s", container, td.Ref())}
	}
	return &td.ContainerDefinitions[i], nil
}

// Logs implements api.Backend for tasks on this node.
func (a *Agent) Logs(ctx context.Context, id, container string, opts structs.LogOptions, w io.Writer) error {
	cd, err := a.localContainer(id, container)
	if err != nil {
		return err
	}
	container = cd.Name
	driver := cd.LogConfiguration.Driver()
	if driver == "none" {
		return &api.FieldError{Field: "container", Message: fmt.Sprintf("container %s logs to the none driver, which keeps nothing to read", container)}
	}
	err = a.rt.Logs(ctx, a.id, id, container, opts, w)
	if err != nil && !structs.LogsKept(driver) {
		return fmt.Errorf("container %s logs to the %s driver, whose logs the engine can show only from the copy its dual logging keeps, "+
			"which this engine does not (read them where %s sends them): %w", container, driver, driver, err)
	}
	return err
}

// Exec implements api.Backend for tasks on this node.
func (a *Agent) Exec(ctx context.Context, id string, req api.ExecRequest, stdio api.ExecIO) (int, error) {
	cd, err := a.localContainer(id, req.Container)
	if err != nil {
		return 0, err
	}
	a.log.Info("exec", "task", id, "container", cd.Name, "cmd", req.Cmd[0], "tty", req.TTY)
	return a.rt.Exec(ctx, a.id, id, cd.Name, runtime.ExecSpec{Cmd: req.Cmd, TTY: req.TTY, Size: req.Size, Resize: stdio.Resize,
		Stdin: stdio.Stdin, Stdout: stdio.Stdout, Stderr: stdio.Stderr})
}

// Volumes implements api.Backend from this node's engine; a runtime
// that cannot list volumes has none.
func (a *Agent) Volumes(ctx context.Context) ([]structs.NodeVolume, error) {
	vl, ok := a.rt.(runtime.VolumeLister)
	if !ok {
		return nil, nil
	}
	return vl.Volumes(ctx, a.id)
}

// LeaderAPI implements api.Backend: the leader's API address, or "" when
// no leader is known.
func (a *Agent) LeaderAPI() string {
	id := a.raft.LeaderID()
	if id == "" {
		return ""
	}
	return a.NodeAPI(id)
}

// NodeAPI implements api.Backend: a node's API address, from gossip or,
// failing that, from the state.
func (a *Agent) NodeAPI(id string) string {
	for _, m := range a.ring.Members() {
		if m.ID == id && m.Status == gossip.StatusAlive {
			return m.APIAddr
		}
	}
	if n := a.fsm.State().Node(id); n != nil {
		return n.APIAddress
	}
	return ""
}

// Barrier implements api.Backend with a read index: a consistent read
// writes nothing to the log.
func (a *Agent) Barrier(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return a.raft.ReadIndex(ctx)
}

// IsLeader implements api.Backend.
func (a *Agent) IsLeader() bool { return a.raft.IsLeader() }

// ApplyInternal implements api.Backend for commands forwarded by other
// agents' loops. With a cluster secret, node is the id the caller's
// certificate proves, and an agent speaks only for itself; without one
// (--dev) there is no identity to check.
func (a *Agent) ApplyInternal(ctx context.Context, node string, cmd []byte) (any, error) {
	if len(cmd) == 0 || !forwardable[fsm.CommandType(cmd[0])] {
		return nil, &api.FieldError{Field: "body", Message: "not a forwardable command"}
	}
	// Nothing enters the log that the state machine could not decode, nor
	// a report the state would skip as an illegal change; a node whose
	// replica lags is told why and reports again once it has caught up.
	st := a.fsm.State()
	if err := st.Check(cmd); err != nil {
		return nil, &api.FieldError{Field: "body", Message: err.Error()}
	}
	if a.pki != nil {
		if err := ownReport(st, node, cmd); err != nil {
			return nil, err
		}
	}
	res, err := a.announce.Apply(ctx, cmd, applyTimeout)
	if errors.Is(err, raft.ErrNotLeader) {
		return nil, fmt.Errorf("%w: this agent is not the leader", api.ErrUnavailable)
	}
	return res, err
}

// ownReport refuses a forwarded command in which a node speaks for
// another: a registration of another node id, or a status report of a task
// that the leader's state does not place on the calling node. The state
// machine would skip a report for a task of another node anyway, but
// only because the report names that node too, which any node could
// write; the certificate is what cannot be forged. cmd has passed
// fsm.Check.
func ownReport(st *fsm.State, node string, cmd []byte) error {
	if node == "" {
		return fmt.Errorf("%w: a forwarded command needs the certificate of a node of this cluster", api.ErrForbidden)
	}
	switch fsm.CommandType(cmd[0]) {
	case fsm.CmdRegisterNode:
		var c fsm.RegisterNode
		if err := json.Unmarshal(cmd[1:], &c); err != nil {
			return &api.FieldError{Field: "body", Message: err.Error()}
		}
		if c.Node.ID != node {
			return fmt.Errorf("%w: node %s may not register node %s", api.ErrForbidden, node, c.Node.ID)
		}
	case fsm.CmdUpdateTaskStatus:
		var c fsm.UpdateTaskStatus
		if err := json.Unmarshal(cmd[1:], &c); err != nil {
			return &api.FieldError{Field: "body", Message: err.Error()}
		}
		for _, u := range c.Updates {
			t := st.Task(u.ID)
			switch {
			case t == nil:
				return fmt.Errorf("%w: node %s may not report task %s, which the leader's state does not hold", api.ErrForbidden, node, u.ID)
			case t.Node != node:
				return fmt.Errorf("%w: node %s may not report task %s, which the leader's state places on node %s", api.ErrForbidden, node, u.ID, t.Node)
			case u.Node != node:
				return fmt.Errorf("%w: node %s may not report task %s as node %s", api.ErrForbidden, node, u.ID, u.Node)
			}
		}
	}
	return nil
}

// Members implements api.Backend.
func (a *Agent) Members() []api.Member {
	ms := a.ring.Members()
	out := make([]api.Member, len(ms))
	for i, m := range ms {
		out[i] = api.Member{ID: m.ID, Name: m.Name, RaftAddr: m.RaftAddr, APIAddr: m.APIAddr, CPU: m.CPU, MemoryMiB: m.MemoryMiB,
			Attributes: m.Attributes, Tags: m.Tags, Version: m.Version, BootstrapExpect: m.BootstrapExpect, Commands: m.Commands, Leaving: m.Leaving,
			Addr: m.Addr, Status: m.Status, Since: m.Since}
	}
	return out
}

// RaftPeers implements api.Backend.
func (a *Agent) RaftPeers(context.Context) ([]api.RaftPeer, error) {
	peers, err := a.raft.Peers()
	out := make([]api.RaftPeer, len(peers))
	for i, p := range peers {
		out[i] = api.RaftPeer{ID: p.ID, Address: p.Address, Voter: p.Voter, Leader: p.Leader}
	}
	return out, err
}

// Drain implements api.Backend: an ineligible node gets no new tasks, and
// its service tasks move once their replacements run.
func (a *Agent) Drain(ctx context.Context, node string, enable bool) (*structs.Node, error) {
	n, err := a.resolveNode(node)
	if err != nil {
		return nil, err
	}
	el := structs.EligibilityEligible
	if enable {
		el = structs.EligibilityIneligible
	}
	if _, err := a.commit.Commit(ctx, fsm.CmdSetNodeStatus, fsm.SetNodeStatus{ID: n.ID, Eligibility: el, At: now()}); err != nil {
		return nil, err
	}
	return a.fsm.State().Node(n.ID), nil
}

// resolveNode finds a node by id, unique id prefix, or name.
func (a *Agent) resolveNode(ref string) (*structs.Node, error) {
	st := a.fsm.State()
	if n := st.Node(ref); n != nil {
		return n, nil
	}
	var found []*structs.Node
	for _, n := range st.Nodes() {
		if n.Name == ref || (len(ref) >= 4 && len(n.ID) >= len(ref) && n.ID[:len(ref)] == ref) {
			found = append(found, n)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("node %s: %w", ref, api.ErrNotFound)
	case 1:
		return found[0], nil
	}
	return nil, &api.FieldError{Field: "node", Message: fmt.Sprintf("%q matches %d nodes; give the id", ref, len(found))}
}

// Leave implements api.Backend: it hands leadership over, leaves the ring
// so that the leader removes this node and re-places its tasks, stops the
// local containers, and then ends the agent (Done is closed).
func (a *Agent) Leave(ctx context.Context) error {
	if a.raft.IsLeader() {
		peers, _ := a.raft.Peers()
		voters := 0
		for _, p := range peers {
			if p.Voter {
				voters++
			}
		}
		if voters > 1 {
			if err := a.raft.TransferLeadership(); err != nil {
				a.log.Warn("leadership transfer failed", "err", err)
			}
		}
	}
	a.log.Info("leaving the cluster")
	err := a.ring.Leave(5 * time.Second)
	// The stops outlive the request: a client that gives up waiting must
	// not leave containers running on a host that has left.
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	a.runner.StopAll(stopCtx)
	a.leaveOnce.Do(func() { close(a.left) })
	return err
}

// ApplySchedule implements api.Backend.
func (a *Agent) ApplySchedule(ctx context.Context, s *structs.Schedule, td *structs.TaskDefinition) (*structs.Schedule, error) {
	if err := a.tagsWritable(nil, td); err != nil {
		return nil, err
	}
	if _, err := a.commit.Commit(ctx, fsm.CmdApplySchedule, fsm.ApplySchedule{Schedule: *s, TaskDefinition: td, At: now()}); err != nil {
		return nil, err
	}
	return a.fsm.State().Schedule(s.Name), nil
}

// DeleteSchedule implements api.Backend.
func (a *Agent) DeleteSchedule(ctx context.Context, name string) error {
	_, err := a.commit.Commit(ctx, fsm.CmdDeleteSchedule, fsm.DeleteSchedule{Name: name})
	return err
}
