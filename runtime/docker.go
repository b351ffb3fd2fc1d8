package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"

	"github.com/skiff-run/skiff/structs"
)

// Docker runs tasks on a Docker Engine.
type Docker struct {
	cli *client.Client
	// PullTimeout bounds an image pull, so that a missing image fails its
	// task instead of hanging it.
	PullTimeout time.Duration
	// DependencyTimeout bounds the wait for a dependsOn condition.
	DependencyTimeout time.Duration

	// starts is held for reading by every Start under way, and for
	// writing by List while it removes networks no running container
	// needs: a network a start has just made has no container yet, and
	// must not be taken for a leftover.
	starts sync.RWMutex

	// images holds the references of the images known to be local, so
	// that the many tasks of a service cost one image inspection per node,
	// not one each. A reference is forgotten when a create finds its image
	// gone.
	images sync.Map

	// exits holds how the containers seen exited at the last List ended,
	// by container id, so that a stopped task kept for its history, or
	// each of many being stopped, is inspected once and not at every
	// List. An exited container changes only by running again, and one
	// that does is forgotten, or, should it exit again between two
	// listings, told by the code in the listing's status text. Guarded by
	// exitsMu, which List holds.
	exitsMu sync.Mutex
	exits   map[string]exit

	// restarts holds, by container id, the restart counts Stats read of
	// containers without a restart policy. skiff gives its containers
	// none, so the engine never restarts one and its count stays what
	// the first inspect said: a sample then costs one engine call per
	// container instead of two. A container with a policy is inspected at
	// every sample; one no longer running is forgotten at the next.
	// Guarded by restartsMu.
	restartsMu sync.Mutex
	restarts   map[string]int
}

// NewDocker connects to the engine named by the environment (DOCKER_HOST,
// or the default socket), negotiating the API version so that older
// engines work.
func NewDocker() (*Docker, error) { return NewDockerAt("") }

// NewDockerAt is NewDocker for the engine at host (unix:///path/docker.sock
// or tcp://host:port); an empty host is the environment's.
func NewDockerAt(host string) (*Docker, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if host != "" {
		opts = append(opts, client.WithHost(host))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker: %w", err)
	}
	// Negotiate the API version now, before any goroutine shares the
	// client: its Events reads the version without the lock under which
	// the first request of another goroutine would write it. Should the
	// engine not answer yet, the first request negotiates as before.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	cli.NegotiateAPIVersion(ctx)
	cancel()
	return &Docker{cli: cli, PullTimeout: 30 * time.Second, DependencyTimeout: 2 * time.Minute}, nil
}

// Ping checks that the engine answers.
func (d *Docker) Ping(ctx context.Context) error {
	_, err := d.cli.Ping(ctx)
	return err
}

// Close releases the client.
func (d *Docker) Close() error { return d.cli.Close() }

func taskFilter(node, taskID string) filters.Args {
	f := filters.NewArgs(filters.Arg("label", LabelNode+"="+node))
	if taskID != "" {
		f.Add("label", LabelTask+"="+taskID)
	}
	return f
}

// ensureImage makes sure the image is local, pulling it if it is not.
func (d *Docker) ensureImage(ctx context.Context, ref string, auth *RegistryAuth) error {
	if _, ok := d.images.Load(ref); ok {
		return nil
	}
	if _, err := d.cli.ImageInspect(ctx, ref); err == nil {
		d.images.Store(ref, true)
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, d.PullTimeout)
	defer cancel()
	var opts image.PullOptions
	if auth != nil {
		enc, err := registry.EncodeAuthConfig(registry.AuthConfig{Username: auth.Username, Password: auth.Password, IdentityToken: auth.IdentityToken})
		if err != nil {
			return fmt.Errorf("image %s: encode the registry login: %w", ref, err)
		}
		opts.RegistryAuth = enc
	}
	rc, err := d.cli.ImagePull(pctx, ref, opts)
	if err == nil {
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
	}
	if err == nil {
		_, err = d.cli.ImageInspect(ctx, ref)
	}
	if err != nil {
		return pullError(ref, auth, err)
	}
	d.images.Store(ref, true)
	return nil
}

// Start implements Runtime. Every step may be repeated: a network or a
// container that an earlier start of the same task left is reused (a
// running container) or replaced (one that does not run), never a reason
// to fail. A start that fails leaves no network unless a container of the
// task runs on it.
func (d *Docker) Start(ctx context.Context, spec TaskSpec) (err error) {
	if spec.Task.ID == "" {
		return errNoTaskID
	}
	order, err := structs.StartOrder(spec.Def)
	if err != nil {
		return err
	}
	for _, cd := range order {
		if err := d.ensureImage(ctx, cd.Image, spec.RegistryAuth[cd.Name]); err != nil {
			return err
		}
	}
	d.starts.RLock()
	defer d.starts.RUnlock()
	labels := map[string]string{LabelNode: spec.Node, LabelTask: spec.Task.ID, LabelService: spec.Task.Service}
	netName, own := taskNetwork(spec)
	if own {
		if err := d.ensureNetwork(ctx, netName, labels); err != nil {
			return err
		}
		defer func() {
			if err != nil {
				// The start's own context may be what ended it. Should the
				// engine fail here too, a later List removes the network.
				cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
				defer cancel()
				_ = d.removeIdleNetworks(cctx, spec.Node, spec.Task.ID)
			}
		}()
	}
	if err := d.ensureVolumes(ctx, spec); err != nil {
		return err
	}
	ports := spec.Task.HostPorts
	for _, cd := range order {
		if err := d.waitDependencies(ctx, spec, cd); err != nil {
			return err
		}
		cfg, hc, nc, err := containerConfig(spec, cd, labels, netName, portsFor(spec.Def, cd.Name, ports))
		if err != nil {
			return err
		}
		if err := d.startContainer(ctx, ContainerName(spec.Task.ID, cd.Name), cd.Name, cfg, hc, nc, spec.RegistryAuth[cd.Name]); err != nil {
			return err
		}
	}
	return nil
}

// ensureNetwork creates a task's network, or keeps the one an earlier
// start of the task made.
func (d *Docker) ensureNetwork(ctx context.Context, name string, labels map[string]string) error {
	n, err := d.cli.NetworkInspect(ctx, name, network.InspectOptions{})
	switch {
	case err == nil && sameTask(n.Labels, labels):
		return nil
	case err == nil:
		return fmt.Errorf("create network %s: a network of that name exists and is not this task's", name)
	case !client.IsErrNotFound(err):
		return fmt.Errorf("inspect network %s: %w", name, err)
	}
	if _, err := d.cli.NetworkCreate(ctx, name, network.CreateOptions{Driver: "bridge", Labels: labels}); err != nil {
		return fmt.Errorf("create network %s: %w", name, err)
	}
	return nil
}

// startContainer creates and starts one container of a task. One of the
// same name that an earlier start left is kept when it runs, and replaced
// when it does not, since it may never have been started or may have been
// made for a network that is gone. The create comes first, and the engine
// is asked about the name only when it is taken, so that a fresh start
// costs the engine a create and a start and nothing more.
func (d *Docker) startContainer(ctx context.Context, name, short string, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig, auth *RegistryAuth) error {
	created, err := d.cli.ContainerCreate(ctx, cfg, hc, nc, nil, name)
	if cerrdefs.IsNotFound(err) {
		// The image went after it was seen: look for it, or pull it, again.
		d.images.Delete(cfg.Image)
		if err := d.ensureImage(ctx, cfg.Image, auth); err != nil {
			return err
		}
		created, err = d.cli.ContainerCreate(ctx, cfg, hc, nc, nil, name)
	}
	if cerrdefs.IsConflict(err) {
		var started bool
		if started, err = d.replaceContainer(ctx, name, short, cfg); err != nil || started {
			return err
		}
		created, err = d.cli.ContainerCreate(ctx, cfg, hc, nc, nil, name)
	}
	if err != nil {
		return fmt.Errorf("create container %s: %w", short, err)
	}
	if err := d.cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		return fmt.Errorf("start container %s: %w", short, err)
	}
	return nil
}

// replaceContainer deals with the container that holds a task container's
// name: it reports started when that one is the task's and runs, and
// removes it when it is the task's and does not.
func (d *Docker) replaceContainer(ctx context.Context, name, short string, cfg *container.Config) (started bool, err error) {
	info, err := d.cli.ContainerInspect(ctx, name)
	switch {
	case err != nil && client.IsErrNotFound(err):
		// Removed since the create: the name is free again.
		return false, nil
	case err != nil:
		return false, fmt.Errorf("inspect container %s: %w", short, err)
	case info.Config == nil || !sameTask(info.Config.Labels, cfg.Labels) || info.Config.Labels[LabelContainer] != cfg.Labels[LabelContainer]:
		return false, fmt.Errorf("create container %s: a container named %s exists and is not this task's", short, name)
	case info.State != nil && info.State.Running:
		return true, nil
	}
	if err := d.cli.ContainerRemove(ctx, info.ID, container.RemoveOptions{Force: true}); err != nil && !client.IsErrNotFound(err) {
		return false, fmt.Errorf("replace container %s: %w", short, err)
	}
	return false, nil
}

// sameTask reports whether two label sets name the same node and task.
func sameTask(a, b map[string]string) bool {
	return a[LabelTask] != "" && a[LabelTask] == b[LabelTask] && a[LabelNode] == b[LabelNode]
}

// removeIdleNetworks removes a task's networks unless one of its
// containers runs. Stopped containers keep their logs without one.
func (d *Docker) removeIdleNetworks(ctx context.Context, node, taskID string) error {
	list, err := d.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: taskFilter(node, taskID)})
	if err != nil {
		return err
	}
	for _, c := range list {
		if needsNetwork(c.State) {
			return nil
		}
	}
	return d.removeNetworks(ctx, node, taskID)
}

// needsNetwork reports whether a container in this state may still use
// its network.
func needsNetwork(state container.ContainerState) bool {
	return state == container.StateRunning || state == container.StatePaused || state == container.StateRestarting
}

// removeNetworks removes the networks labelled with a task.
func (d *Docker) removeNetworks(ctx context.Context, node, taskID string) error {
	nets, err := d.cli.NetworkList(ctx, network.ListOptions{Filters: taskFilter(node, taskID)})
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range nets {
		if err := d.cli.NetworkRemove(ctx, n.ID); err != nil && !client.IsErrNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// portsFor picks a container's host ports out of the task's flat list,
// which follows the order of the definition's port mappings.
func portsFor(def *structs.TaskDefinition, name string, hostPorts []int) []int {
	i := 0
	for _, cd := range def.ContainerDefinitions {
		n := len(cd.PortMappings)
		if cd.Name == name {
			if i+n > len(hostPorts) {
				return nil
			}
			return hostPorts[i : i+n]
		}
		i += n
	}
	return nil
}

func containerConfig(spec TaskSpec, cd *structs.ContainerDefinition, base map[string]string, netName string, hostPorts []int) (*container.Config, *container.HostConfig, *network.NetworkingConfig, error) {
	labels := map[string]string{}
	for k, v := range cd.DockerLabels {
		labels[k] = v
	}
	for k, v := range base {
		labels[k] = v
	}
	labels[LabelContainer] = cd.Name
	cfg := &container.Config{
		Image:        cd.Image,
		Cmd:          cd.Command,
		Entrypoint:   cd.EntryPoint,
		Labels:       labels,
		WorkingDir:   cd.WorkingDirectory,
		User:         cd.User,
		ExposedPorts: nat.PortSet{},
	}
	cfg.Env = spec.environment(cd)
	if cd.StopTimeout > 0 {
		t := cd.StopTimeout
		cfg.StopTimeout = &t
	}
	if h := cd.HealthCheck; h != nil {
		cfg.Healthcheck = &container.HealthConfig{
			Test:        h.Command,
			Interval:    seconds(h.Interval),
			Timeout:     seconds(h.Timeout),
			Retries:     h.Retries,
			StartPeriod: seconds(h.StartPeriod),
		}
	}
	pids := cd.PidsLimit
	if pids == 0 {
		pids = structs.DefaultPidsLimit
	}
	// A container with neither limit gets the default reservation as its
	// soft limit: what the scheduler counted for it.
	reservation := cd.MemoryReservation
	if reservation == 0 && cd.Memory == 0 {
		reservation = structs.DefaultMemoryReservationMiB
	}
	hc := &container.HostConfig{
		NetworkMode:  container.NetworkMode(netName),
		PortBindings: nat.PortMap{},
		LogConfig:    logConfig(cd.LogConfiguration),
		Resources: container.Resources{
			Memory:            cd.Memory << 20,
			MemoryReservation: reservation << 20,
			CPUShares:         cd.CPU,
			PidsLimit:         &pids,
		},
	}
	if ids := gpusFor(spec.Def, cd.Name, spec.Task.GPUs); len(ids) > 0 {
		hc.DeviceRequests = []container.DeviceRequest{gpuRequest(ids)}
	}
	applyMounts(hc, spec, cd)
	// Docker refuses fewer than 2 cpu shares; ECS lets 0 mean "no reservation".
	if hc.CPUShares == 1 {
		hc.CPUShares = 2
	}
	for i, pm := range cd.PortMappings {
		proto := pm.Protocol
		if proto == "" {
			proto = "tcp"
		}
		p, err := nat.NewPort(proto, strconv.Itoa(pm.ContainerPort))
		if err != nil {
			return nil, nil, nil, fmt.Errorf("container %s port %d: %w", cd.Name, pm.ContainerPort, err)
		}
		cfg.ExposedPorts[p] = struct{}{}
		if i < len(hostPorts) {
			hc.PortBindings[p] = append(hc.PortBindings[p], nat.PortBinding{HostPort: strconv.Itoa(hostPorts[i])})
		}
	}
	nc := &network.NetworkingConfig{}
	if netName != "bridge" {
		nc.EndpointsConfig = map[string]*network.EndpointSettings{netName: {Aliases: []string{cd.Name}}}
	}
	applyOptions(spec, cd, cfg, hc, nc)
	return cfg, hc, nc, nil
}

// logConfig is the engine's log configuration for a container: the driver
// and options its definition gives, else json-file. json-file is rotated
// by default (with the options the definition leaves out) because the
// engine's own default keeps every line, on the disk that also holds the
// Raft log. A driver that works only in AWS is replaced by the default.
func logConfig(lc *structs.LogConfiguration) container.LogConfig {
	out := container.LogConfig{Type: structs.DefaultLogDriver, Config: map[string]string{}}
	if lc != nil && !lc.AWSOnly() {
		out.Type = lc.LogDriver
		for k, v := range lc.Options {
			out.Config[k] = v
		}
	}
	if out.Type == structs.DefaultLogDriver {
		if out.Config["max-size"] == "" {
			out.Config["max-size"] = structs.DefaultLogMaxSize
		}
		if out.Config["max-file"] == "" {
			out.Config["max-file"] = structs.DefaultLogMaxFile
		}
	}
	return out
}

func seconds(n int) time.Duration { return time.Duration(n) * time.Second }

// waitDependencies blocks until every dependsOn condition of cd holds.
func (d *Docker) waitDependencies(ctx context.Context, spec TaskSpec, cd *structs.ContainerDefinition) error {
	for _, dep := range cd.DependsOn {
		if dep.Condition == "" || dep.Condition == "START" {
			continue
		}
		name := ContainerName(spec.Task.ID, dep.ContainerName)
		timeout := dependencyTimeout(cd, d.DependencyTimeout)
		deadline := time.Now().Add(timeout)
		for {
			info, err := d.cli.ContainerInspect(ctx, name)
			if err != nil {
				return fmt.Errorf("dependency %s of %s: %w", dep.ContainerName, cd.Name, err)
			}
			met, failed := conditionMet(dep.Condition, info.State)
			if failed != "" {
				return fmt.Errorf("container %s: dependency %s %s", cd.Name, dep.ContainerName, failed)
			}
			if met {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("container %s: dependency %s not %s after %s", cd.Name, dep.ContainerName, dep.Condition, timeout)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

// conditionMet tells whether a dependsOn condition holds for a container's
// state, or why it never will.
func conditionMet(cond string, st *container.State) (met bool, failed string) {
	if st == nil {
		return false, ""
	}
	switch cond {
	case "HEALTHY":
		if st.Health == nil {
			return false, "has no health check"
		}
		if st.Status == "exited" {
			return false, "exited before it was healthy"
		}
		return st.Health.Status == "healthy", ""
	case "COMPLETE":
		return st.Status == "exited", ""
	case "SUCCESS":
		if st.Status == "exited" && st.ExitCode != 0 {
			return false, fmt.Sprintf("exited with code %d", st.ExitCode)
		}
		return st.Status == "exited", ""
	}
	return false, "has unknown condition " + cond
}

// Stop implements Runtime.
func (d *Docker) Stop(ctx context.Context, node, taskID string, timeout time.Duration) error {
	if taskID == "" {
		return errNoTaskID
	}
	list, err := d.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: taskFilter(node, taskID)})
	if err != nil {
		return err
	}
	secs := int(timeout / time.Second)
	var errs []error
	for _, c := range list {
		if c.State != container.StateRunning && c.State != container.StateRestarting && c.State != container.StatePaused {
			continue
		}
		if err := d.cli.ContainerStop(ctx, c.ID, container.StopOptions{Timeout: &secs}); err != nil && !client.IsErrNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Remove implements Runtime. The task's own volumes go with its
// containers; shared ones are kept for the next task.
func (d *Docker) Remove(ctx context.Context, node, taskID string) error {
	if taskID == "" {
		return errNoTaskID
	}
	list, err := d.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: taskFilter(node, taskID)})
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range list {
		if err := d.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil && !client.IsErrNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(append(errs, d.removeNetworks(ctx, node, taskID), d.removeVolumes(ctx, node, taskID))...)
}

// List implements Runtime. Exit codes are read by inspecting each exited
// container once; health comes from the list's status text. Containers
// without a task label are not skiff's tasks and are left out. As it
// lists, List removes this node's task networks that no running container
// needs: those of tasks that stopped, failed to start, or are gone.
func (d *Docker) List(ctx context.Context, node string) ([]Observed, error) {
	// Networks are judged by this listing, so no start may run from before
	// it to after the networks are removed; while one does, they are left
	// for a later List.
	sweep := d.starts.TryLock()
	if sweep {
		defer d.starts.Unlock()
	}
	list, err := d.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: taskFilter(node, "")})
	if err != nil {
		return nil, err
	}
	d.exitsMu.Lock()
	defer d.exitsMu.Unlock()
	// What is kept is what this listing shows exited: a container that
	// is gone or runs again is forgotten.
	exits := make(map[string]exit, len(d.exits))
	defer func() { d.exits = exits }()
	byTask := map[string]*Observed{}
	running := map[string]bool{}
	var order []string
	for _, c := range list {
		id := c.Labels[LabelTask]
		if id == "" {
			continue
		}
		running[id] = running[id] || needsNetwork(c.State)
		o := byTask[id]
		if o == nil {
			o = &Observed{TaskID: id, Service: c.Labels[LabelService]}
			byTask[id] = o
			order = append(order, id)
		}
		cs := structs.ContainerState{Name: c.Labels[LabelContainer], DockerID: shortID(c.ID), Health: healthOf(c.Status)}
		switch c.State {
		case container.StateRunning, container.StatePaused, container.StateRestarting:
			cs.Status = StateRunning
		case container.StateExited, container.StateDead:
			cs.Status = StateExited
			e, ok := d.exits[c.ID]
			if code, listed := listedExitCode(c.Status); !ok || listed && code != e.code {
				e, ok = d.inspectExit(ctx, c.ID)
			}
			if ok {
				code := e.code
				cs.ExitCode, cs.Reason = &code, e.reason
				exits[c.ID] = e
			}
		default:
			cs.Status = StateCreated
		}
		o.Containers = append(o.Containers, cs)
	}
	out := make([]Observed, 0, len(order))
	for _, id := range order {
		out = append(out, *byTask[id])
	}
	if sweep {
		d.removeUnneededNetworks(ctx, node, running)
	}
	return out, nil
}

// exit is what inspecting an exited container tells: its exit code, and
// why it ended when the engine knows more than the code.
type exit struct {
	code   int
	reason string
}

// listedExitCode reads the exit code from a listing's status text, such as
// "Exited (143) 2 seconds ago".
func listedExitCode(status string) (int, bool) {
	rest, ok := strings.CutPrefix(status, "Exited (")
	if !ok {
		return 0, false
	}
	num, _, ok := strings.Cut(rest, ")")
	if !ok {
		return 0, false
	}
	code, err := strconv.Atoi(num)
	return code, err == nil
}

// inspectExit reads how a container ended.
func (d *Docker) inspectExit(ctx context.Context, id string) (exit, bool) {
	info, err := d.cli.ContainerInspect(ctx, id)
	if err != nil || info.State == nil {
		return exit{}, false
	}
	e := exit{code: info.State.ExitCode}
	if info.State.OOMKilled {
		e.reason = "out of memory"
	} else if info.State.Error != "" {
		e.reason = info.State.Error
	}
	return e, true
}

// removeUnneededNetworks removes the node's task networks whose task has
// no running container, so that stopped, failed and removed tasks do not
// hold the engine's address pools. Errors are not reported: the next List
// tries again. Callers hold d.starts for writing.
func (d *Docker) removeUnneededNetworks(ctx context.Context, node string, running map[string]bool) {
	nets, err := d.cli.NetworkList(ctx, network.ListOptions{Filters: taskFilter(node, "")})
	if err != nil {
		return
	}
	for _, n := range nets {
		if id := n.Labels[LabelTask]; id != "" && !running[id] {
			_ = d.cli.NetworkRemove(ctx, n.ID)
		}
	}
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func healthOf(status string) string {
	switch {
	case strings.Contains(status, "(healthy)"):
		return "healthy"
	case strings.Contains(status, "(unhealthy)"):
		return "unhealthy"
	case strings.Contains(status, "(health: starting)"):
		return "starting"
	}
	return ""
}

// Logs implements Runtime.
func (d *Docker) Logs(ctx context.Context, node, taskID, name string, opts structs.LogOptions, w io.Writer) error {
	lo := container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: opts.Follow, Timestamps: opts.Timestamps, Tail: "all"}
	if opts.Tail >= 0 {
		lo.Tail = strconv.Itoa(opts.Tail)
	}
	if !opts.Since.IsZero() {
		lo.Since = fmt.Sprintf("%d.%09d", opts.Since.Unix(), opts.Since.Nanosecond())
	}
	rc, err := d.cli.ContainerLogs(ctx, ContainerName(taskID, name), lo)
	if err != nil {
		return err
	}
	defer rc.Close()
	// A container with a terminal (pseudoTerminal) logs one raw stream;
	// the others' streams are multiplexed.
	if info, err := d.cli.ContainerInspect(ctx, ContainerName(taskID, name)); err == nil && info.Config != nil && info.Config.Tty {
		_, err = io.Copy(w, rc)
		return err
	}
	_, err = stdcopy.StdCopy(w, w, rc)
	return err
}

// stateEvents are the container events that change what List reports:
// a container made, started, stopped, exited, killed, paused, removed or
// judged by its health check. Docker matches "health_status" against its
// "health_status: healthy" and "health_status: unhealthy" as a prefix.
var stateEvents = []string{"create", "start", "restart", "die", "stop", "kill", "oom", "pause", "unpause", "destroy", "health_status"}

// Changes implements Notifier from the engine's event stream. When the
// stream breaks it reconnects after a second, and announces both the
// break and the new stream, so that the agent reads the engine for what
// the gap hid instead of waiting for its periodic re-read.
func (d *Docker) Changes(ctx context.Context, node string) <-chan struct{} {
	out := make(chan struct{}, 1)
	notify := func() {
		select {
		case out <- struct{}{}:
		default:
		}
	}
	go func() {
		for ctx.Err() == nil {
			f := filters.NewArgs(filters.Arg("type", string(events.ContainerEventType)), filters.Arg("label", LabelNode+"="+node))
			// Only what changes a container's state is asked for: a
			// health check's probe is an exec, whose events would wake
			// the agent at every probe of every container.
			for _, action := range stateEvents {
				f.Add("event", action)
			}
			msgs, errs := d.cli.Events(ctx, events.ListOptions{Filters: f})
			// What changed before the stream began, or while it was down,
			// was never announced, so the stream's beginning is announced
			// itself: the agent then reads the engine rather than wait for
			// its next re-read.
			notify()
		stream:
			for {
				select {
				case <-msgs:
					notify()
				case <-errs:
					notify()
					break stream
				case <-ctx.Done():
					return
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	return out
}
