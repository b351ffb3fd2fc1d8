package compose

import (
	"errors"
	"fmt"
	"path"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/go-units"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/structs"
)

func reflectValue(v any) reflect.Value { return reflect.ValueOf(v) }

// svcMapper maps one compose service; p prefixes its warnings.
type svcMapper struct {
	*mapper
	s  types.ServiceConfig
	p  string
	cd *structs.ContainerDefinition
	td *structs.TaskDefinition
	f  *api.ServiceFile
}

func (m *svcMapper) warn(field, format string, args ...any) {
	m.mapper.warn("%s.%s: %s", m.p, field, fmt.Sprintf(format, args...))
}

func (m *mapper) service(s types.ServiceConfig) (Service, error) {
	name := ServiceName(m.p.Name, s.Name)
	if !serviceNameRE.MatchString(name) {
		return Service{}, fmt.Errorf("%q is not a name skiff can give a service (%s): expected letters, digits, hyphens and underscores", s.Name, name)
	}
	if s.Image == "" {
		if s.Build != nil {
			return Service{}, errors.New("build: skiff does not build images; build it on each node (or push it to a registry) and give image")
		}
		return Service{}, errors.New("image: required")
	}
	td := &structs.TaskDefinition{Family: name, ContainerDefinitions: []structs.ContainerDefinition{{Name: s.Name, Image: s.Image}}}
	count := s.GetScale()
	sm := &svcMapper{mapper: m, s: s, p: "services." + s.Name, cd: &td.ContainerDefinitions[0], td: td,
		f: &api.ServiceFile{Service: name, DesiredCount: &count, Project: m.p.Name, TaskDefinition: api.TaskDefinitionField{Def: td}}}
	for _, f := range unhandled(sm.p, reflect.ValueOf(s), serviceFields) {
		m.warn("%s is a compose field skiff does not act on; it is ignored", f)
	}
	if s.Build != nil {
		sm.warn("build", "skiff does not build images; it runs %s as the nodes' engines have it", s.Image)
	}
	sm.container()
	sm.resources()
	sm.options()
	if err := sm.health(); err != nil {
		return Service{}, err
	}
	sm.restart()
	sm.deploy()
	if err := sm.volumes(); err != nil {
		return Service{}, err
	}
	if err := sm.secretRefs(); err != nil {
		return Service{}, err
	}
	if err := sm.dependencies(); err != nil {
		return Service{}, err
	}
	return Service{Compose: s.Name, Name: name, File: *sm.f}, nil
}

// serviceNameRE is what the API takes as a service's name.
var serviceNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)

func (m *svcMapper) container() {
	s, cd := m.s, m.cd
	cd.Command, cd.EntryPoint = s.Command, s.Entrypoint
	if s.Command != nil && len(s.Command) == 0 {
		m.warn("command", "an empty command cannot clear the image's; the image's command runs")
	}
	if s.Entrypoint != nil && len(s.Entrypoint) == 0 {
		m.warn("entrypoint", "an empty entrypoint cannot clear the image's; the image's entrypoint runs")
	}
	for _, k := range keys(s.Environment) {
		// A variable without a value that the environment does not set
		// either is left out, as docker compose leaves it out.
		if v := s.Environment[k]; v != nil {
			cd.Environment = append(cd.Environment, structs.KeyValue{Name: k, Value: *v})
		}
	}
	if len(s.Labels) > 0 {
		cd.DockerLabels = map[string]string(s.Labels)
	}
	cd.User, cd.WorkingDirectory = s.User, s.WorkingDir
	for i, pc := range s.Ports {
		pm := structs.PortMapping{ContainerPort: int(pc.Target), Protocol: pc.Protocol}
		field := fmt.Sprintf("ports[%d]", i)
		switch n, err := strconv.Atoi(pc.Published); {
		case pc.Published == "":
		case err == nil:
			pm.HostPort = n
		default:
			m.warn(field+".published", "%q: skiff publishes one host port per container port; it takes a dynamic one from the node's range", pc.Published)
		}
		if pc.HostIP != "" && pc.HostIP != "0.0.0.0" && pc.HostIP != "::" {
			m.warn(field+".host_ip", "%s: skiff publishes on every address of the node", pc.HostIP)
		}
		if pc.Name != "" || pc.AppProtocol != "" {
			m.warn(field, "name and app_protocol are not acted on")
		}
		cd.PortMappings = append(cd.PortMappings, pm)
	}
	driver, opts := s.LogDriver, s.LogOpt
	if s.Logging != nil {
		driver, opts = s.Logging.Driver, s.Logging.Options
	}
	if driver != "" {
		cd.LogConfiguration = &structs.LogConfiguration{LogDriver: driver, Options: opts}
	} else if len(opts) > 0 {
		cd.LogConfiguration = &structs.LogConfiguration{LogDriver: structs.DefaultLogDriver, Options: opts}
	}
	if g := s.StopGracePeriod; g != nil {
		secs := ceilSeconds(time.Duration(*g))
		if secs > api.MaxStopTimeout {
			m.warn("stop_grace_period", "%s is more than skiff's longest stop timeout; the container gets %d s", time.Duration(*g), api.MaxStopTimeout)
			secs = api.MaxStopTimeout
		}
		cd.StopTimeout = secs
	}
}

// resources maps the limits and reservations, given either at the
// service's level or under deploy.resources, which wins as in compose.
func (m *svcMapper) resources() {
	s, cd := m.s, m.cd
	limCPU, limMem, resCPU, resMem, pids := float64(s.CPUS), int64(s.MemLimit), float64(0), int64(s.MemReservation), s.PidsLimit
	if d := s.Deploy; d != nil {
		if l := d.Resources.Limits; l != nil {
			limCPU, limMem, pids = pick(limCPU, float64(l.NanoCPUs)), pick(limMem, int64(l.MemoryBytes)), pick(pids, l.Pids)
		}
		if r := d.Resources.Reservations; r != nil {
			resCPU, resMem = float64(r.NanoCPUs), pick(resMem, int64(r.MemoryBytes))
			m.gpus(r.Devices)
		}
	}
	// ECS's cpu is the share of the node a container reserves, in units
	// of 1/1024 of a core: a reservation fits it best, a limit next.
	switch {
	case resCPU > 0:
		cd.CPU = int64(resCPU*1024 + 0.5)
		if limCPU > 0 {
			m.warn("deploy.resources.limits.cpus", "skiff reserves cpu and does not cap it; the reservation (%g) is what the container gets", resCPU)
		}
	case limCPU > 0:
		cd.CPU = int64(limCPU*1024 + 0.5)
	}
	cd.Memory, cd.MemoryReservation = ceilMiB(limMem), ceilMiB(resMem)
	if pids > 0 {
		cd.PidsLimit = pids
	}
}

func pick[T int64 | float64](a, b T) T {
	if b != 0 {
		return b
	}
	return a
}

// gpus maps device reservations of GPUs, by count, to GPU requirements.
func (m *svcMapper) gpus(devs []types.DeviceRequest) {
	for i, d := range devs {
		field := fmt.Sprintf("deploy.resources.reservations.devices[%d]", i)
		isGPU := false
		for _, c := range d.Capabilities {
			isGPU = isGPU || c == "gpu"
		}
		switch {
		case !isGPU:
			m.warn(field, "skiff reserves only GPUs (capabilities [gpu]); ignored")
		case len(d.IDs) > 0 || d.Count <= 0:
			m.warn(field, "skiff gives a task a count of whole GPUs; give count (device_ids and all are not supported); ignored")
		default:
			m.cd.ResourceRequirements = append(m.cd.ResourceRequirements, structs.ResourceRequirement{Type: structs.ResourceGPU, Value: strconv.FormatInt(int64(d.Count), 10)})
			if d.Driver != "" || len(d.Options) > 0 {
				m.warn(field, "driver and options are not acted on")
			}
		}
	}
}

// options maps what structs.ContainerOptions and TaskOptions hold.
func (m *svcMapper) options() {
	s, cd := m.s, m.cd
	cd.Hostname, cd.Privileged = s.Hostname, s.Privileged
	cd.DNSServers, cd.DNSSearchDomains = s.DNS, s.DNSSearch
	cd.ReadonlyRootFilesystem, cd.DockerSecurityOptions = s.ReadOnly, s.SecurityOpt
	cd.Interactive, cd.PseudoTerminal = s.StdinOpen, s.Tty
	for _, h := range keys(s.ExtraHosts) {
		for _, ip := range s.ExtraHosts[h] {
			cd.ExtraHosts = append(cd.ExtraHosts, structs.HostEntry{Hostname: h, IPAddress: ip})
		}
	}
	for _, name := range keys(s.Ulimits) {
		u := s.Ulimits[name]
		soft, hard := u.Soft, u.Hard
		if u.Single != 0 {
			soft, hard = u.Single, u.Single
		}
		cd.Ulimits = append(cd.Ulimits, structs.Ulimit{Name: name, SoftLimit: int64(soft), HardLimit: int64(hard)})
	}
	for _, k := range keys(s.Sysctls) {
		cd.SystemControls = append(cd.SystemControls, structs.SystemControl{Namespace: k, Value: s.Sysctls[k]})
	}
	lp := &structs.LinuxParameters{}
	if len(s.CapAdd) > 0 || len(s.CapDrop) > 0 {
		lp.Capabilities = &structs.KernelCapabilities{Add: s.CapAdd, Drop: s.CapDrop}
	}
	for _, d := range s.Devices {
		dev := structs.Device{HostPath: d.Source, ContainerPath: d.Target}
		for _, c := range d.Permissions {
			switch c {
			case 'r':
				dev.Permissions = append(dev.Permissions, "read")
			case 'w':
				dev.Permissions = append(dev.Permissions, "write")
			case 'm':
				dev.Permissions = append(dev.Permissions, "mknod")
			}
		}
		lp.Devices = append(lp.Devices, dev)
	}
	if s.Init != nil {
		lp.InitProcessEnabled = *s.Init
	}
	lp.SharedMemorySize = ceilMiB(int64(s.ShmSize))
	for _, t := range s.Tmpfs {
		target, opts, _ := strings.Cut(t, ":")
		tf := structs.Tmpfs{ContainerPath: target}
		for o := range strings.SplitSeq(opts, ",") {
			if size, ok := strings.CutPrefix(o, "size="); ok {
				b, err := units.RAMInBytes(size)
				if err != nil {
					m.warn("tmpfs", "%q: the size is not a size; the mount gets the default", t)
					continue
				}
				tf.Size = ceilMiB(b)
			} else if o != "" {
				tf.MountOptions = append(tf.MountOptions, o)
			}
		}
		lp.Tmpfs = append(lp.Tmpfs, tf)
	}
	if !reflect.ValueOf(*lp).IsZero() {
		cd.LinuxParameters = lp
	}
	switch nm := s.NetworkMode; {
	case nm == "":
	case nm == "host" || nm == "none" || nm == "bridge":
		m.td.NetworkMode = nm
	default:
		m.warn("network_mode", "%q: skiff runs a task on the bridge, the host's network or none; the task gets a network of its own", nm)
	}
	for _, n := range keys(s.Networks) {
		if n != "default" || s.Networks[n] != nil {
			m.warn("networks."+n, "skiff does not attach tasks to compose networks; the task gets a network of its own")
		}
	}
	switch s.Pid {
	case "":
	case "host":
		m.td.PidMode = "host"
	default:
		m.warn("pid", "%q: skiff shares the host's PID namespace (host) or none", s.Pid)
	}
	switch s.Ipc {
	case "", "private":
	case "host":
		m.td.IpcMode = "host"
	default:
		m.warn("ipc", "%q: skiff shares the host's IPC namespace (host) or none", s.Ipc)
	}
}

// health maps a healthcheck into ECS's units and ranges, which are
// seconds: interval 5 to 300, timeout 2 to 60, retries 1 to 10, start
// period 0 to 300. A value outside them is brought inside, with a warning.
func (m *svcMapper) health() error {
	h := m.s.HealthCheck
	if h == nil {
		return nil
	}
	if h.Disable || (len(h.Test) > 0 && h.Test[0] == "NONE") {
		m.warn("healthcheck", "skiff cannot turn off a health check the image itself defines; the service has none of its own")
		return nil
	}
	if len(h.Test) < 2 || (h.Test[0] != "CMD" && h.Test[0] != "CMD-SHELL") {
		return fmt.Errorf("healthcheck.test: %q: expected [CMD, prog, args...] or [CMD-SHELL, command]", []string(h.Test))
	}
	hc := &structs.HealthCheck{Command: h.Test}
	span := func(field string, d *types.Duration, lo, hi int) int {
		if d == nil {
			return 0
		}
		return m.clamp("healthcheck."+field, ceilSeconds(time.Duration(*d)), lo, hi, "s")
	}
	hc.Interval = span("interval", h.Interval, 5, 300)
	hc.Timeout = span("timeout", h.Timeout, 2, 60)
	hc.StartPeriod = span("start_period", h.StartPeriod, 0, 300)
	if h.Retries != nil {
		hc.Retries = m.clamp("healthcheck.retries", int(min(*h.Retries, 1000)), 1, 10, "")
	}
	if h.StartInterval != nil {
		m.warn("healthcheck.start_interval", "not acted on: the check runs every interval from the start")
	}
	m.cd.HealthCheck = hc
	return nil
}

func (m *svcMapper) clamp(field string, v, lo, hi int, unit string) int {
	c := min(max(v, lo), hi)
	if c != v {
		m.warn(field, "%d%s is outside the %d to %d%s skiff takes; it is %d%s", v, unit, lo, hi, unit, c, unit)
	}
	return c
}

// restart maps compose's restart policy. A skiff service replaces every
// task that stops, whatever its exit code, backing off while they fail.
func (m *svcMapper) restart() {
	switch r := m.s.Restart; {
	case r == "", r == types.RestartPolicyAlways, r == types.RestartPolicyUnlessStopped:
	case r == types.RestartPolicyNo:
		m.warn("restart", "\"no\": a skiff service replaces every task that stops; use skiff run for a task that should run once")
	default:
		m.warn("restart", "%q: a skiff service replaces every task that stops, whatever its exit code, without a limit on attempts", r)
	}
}

// placementRE matches a swarm constraint on a node label.
var placementRE = regexp.MustCompile(`^\s*node\.labels\.([^\s=!]+)\s*(==|!=)\s*(.+?)\s*$`)

func (m *svcMapper) deploy() {
	d := m.s.Deploy
	if d == nil {
		return
	}
	global := false
	switch d.Mode {
	case "", "replicated":
	case "global":
		// A global service is a daemon: one task on every node its
		// constraints admit.
		global = true
		m.f.SchedulingStrategy, m.f.DesiredCount = structs.SchedulingDaemon, nil
	default:
		m.warn("deploy.mode", "%q: skiff runs replicated and global services only; the service runs %d task(s)", d.Mode, *m.f.DesiredCount)
	}
	for i, c := range d.Placement.Constraints {
		sub := placementRE.FindStringSubmatch(c)
		if sub == nil {
			m.warn(fmt.Sprintf("deploy.placement.constraints[%d]", i), "%q: skiff places by node attributes only (node.labels.KEY == VALUE, or !=); ignored", c)
			continue
		}
		m.f.PlacementConstraints = append(m.f.PlacementConstraints, structs.PlacementConstraint{Type: "memberOf",
			Expression: fmt.Sprintf("attribute:%s %s %s", sub[1], sub[2], sub[3])})
	}
	for i, p := range d.Placement.Preferences {
		if global {
			m.warn(fmt.Sprintf("deploy.placement.preferences[%d]", i), "a global service runs one task on every node; ignored")
			continue
		}
		if key, ok := strings.CutPrefix(p.Spread, "node.labels."); ok && key != "" {
			m.f.PlacementStrategy = append(m.f.PlacementStrategy, structs.PlacementStrategy{Type: "spread", Field: "attribute:" + key})
		} else {
			m.warn(fmt.Sprintf("deploy.placement.preferences[%d]", i), "%q: skiff spreads over node attributes only (node.labels.KEY); ignored", p.Spread)
		}
	}
	switch n := d.Placement.MaxReplicas; n {
	case 0:
	case 1:
		m.f.PlacementConstraints = append(m.f.PlacementConstraints, structs.PlacementConstraint{Type: "distinctInstance"})
	default:
		m.warn("deploy.placement.max_replicas_per_node", "%d: skiff can keep tasks on distinct nodes (1) only; ignored", n)
	}
}

// volumes maps the service's mounts: a named volume becomes a shared
// Docker volume of compose's name for it (<project>_<volume>), which every
// task of the project on a node shares and which outlives its tasks; an
// anonymous one a volume of the task alone; a bind a host path, which the
// node must allow (--allow-host-path); a tmpfs a tmpfs mount.
func (m *svcMapper) volumes() error {
	for i, v := range m.s.Volumes {
		field := fmt.Sprintf("volumes[%d]", i)
		var vol structs.Volume
		switch v.Type {
		case types.VolumeTypeVolume:
			if v.Source == "" {
				vol = structs.Volume{Name: fmt.Sprintf("anon%d", i), DockerVolumeConfiguration: &structs.DockerVolumeConfiguration{Scope: structs.ScopeTask}}
				break
			}
			top, ok := m.mapper.p.Volumes[v.Source]
			if !ok {
				return fmt.Errorf("%s: volume %q is not in the file's volumes", field, v.Source)
			}
			c := &structs.DockerVolumeConfiguration{Scope: structs.ScopeShared, Driver: top.Driver, DriverOpts: top.DriverOpts, Labels: top.Labels}
			if top.External {
				no := false
				c.Autoprovision = &no
			}
			vol = structs.Volume{Name: top.Name, DockerVolumeConfiguration: c}
			if o := v.Volume; o != nil && (o.NoCopy || o.Subpath != "" || len(o.Labels) > 0) {
				m.warn(field+".volume", "nocopy, subpath and labels are not acted on")
			}
		case types.VolumeTypeBind:
			vol = structs.Volume{Name: fmt.Sprintf("bind%d", i), Host: &structs.HostVolume{SourcePath: v.Source}}
			if b := v.Bind; b != nil && (b.Propagation != "" || b.SELinux != "" || b.Recursive != "" || !bool(b.CreateHostPath)) {
				m.warn(field+".bind", "propagation, selinux, recursive and create_host_path are not acted on")
			}
		case types.VolumeTypeTmpfs:
			tf := structs.Tmpfs{ContainerPath: v.Target}
			if v.Tmpfs != nil {
				tf.Size = ceilMiB(int64(v.Tmpfs.Size))
				if v.Tmpfs.Mode != 0 {
					tf.MountOptions = []string{fmt.Sprintf("mode=%o", v.Tmpfs.Mode)}
				}
			}
			if m.cd.LinuxParameters == nil {
				m.cd.LinuxParameters = &structs.LinuxParameters{}
			}
			m.cd.LinuxParameters.Tmpfs = append(m.cd.LinuxParameters.Tmpfs, tf)
			continue
		default:
			m.warn(field, "%s mounts are not supported; %s is not mounted", v.Type, v.Target)
			continue
		}
		if v.Consistency != "" {
			m.warn(field+".consistency", "not acted on")
		}
		if m.td.Volume(vol.Name) == nil {
			m.td.Volumes = append(m.td.Volumes, vol)
		}
		m.cd.MountPoints = append(m.cd.MountPoints, structs.MountPoint{SourceVolume: vol.Name, ContainerPath: path.Clean(v.Target), ReadOnly: v.ReadOnly})
	}
	return nil
}

// secretRefs gives each secret the service reads as an environment
// variable named after its target (or its name), upper-cased: skiff hands
// secrets to containers as variables, never as files under /run/secrets.
func (m *svcMapper) secretRefs() error {
	for i, ref := range m.s.Secrets {
		field := fmt.Sprintf("secrets[%d]", i)
		name, ok := m.mapper.secrets[ref.Source]
		if !ok {
			return fmt.Errorf("%s: secret %q is not in the file's secrets", field, ref.Source)
		}
		target := ref.Source
		if ref.Target != "" {
			target = path.Base(ref.Target)
		}
		env := envName(target)
		m.cd.Secrets = append(m.cd.Secrets, structs.SecretRef{Name: env, ValueFrom: name})
		m.warn(field, "skiff gives secret %s as the environment variable %s, not as the file /run/secrets/%s", ref.Source, env, target)
		if ref.UID != "" || ref.GID != "" || ref.Mode != nil {
			m.warn(field, "uid, gid and mode are not acted on: the secret is no file")
		}
	}
	return nil
}

func envName(s string) string {
	b := []byte(strings.ToUpper(s))
	for i, c := range b {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			b[i] = '_'
		}
	}
	if len(b) > 0 && b[0] >= '0' && b[0] <= '9' {
		return "_" + string(b)
	}
	return string(b)
}

// dependencies maps depends_on to the service's dependsOn, which the
// leader honours across services.
func (m *svcMapper) dependencies() error {
	names := make([]string, 0, len(m.s.DependsOn))
	for n := range m.s.DependsOn {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		d := m.s.DependsOn[n]
		dep, ok := m.mapper.p.Services[n]
		if !ok {
			if !d.Required {
				continue
			}
			return fmt.Errorf("depends_on.%s: no such service in the project", n)
		}
		cond := d.Condition
		if cond == "" {
			cond = types.ServiceConditionStarted
		}
		if cond == types.ServiceConditionHealthy && (dep.HealthCheck == nil || dep.HealthCheck.Disable) {
			return fmt.Errorf("depends_on.%s: service_healthy needs a healthcheck on service %s", n, n)
		}
		m.f.DependsOn = append(m.f.DependsOn, structs.ServiceDependency{Service: ServiceName(m.mapper.p.Name, n), Condition: cond})
		if d.Restart {
			m.warn("depends_on."+n+".restart", "skiff does not restart a service when a service it depends on is updated")
		}
	}
	return nil
}

func ceilSeconds(d time.Duration) int {
	return int(min((d+time.Second-1)/time.Second, 1<<30))
}

func ceilMiB(b int64) int64 {
	if b <= 0 {
		return 0
	}
	return (b + 1<<20 - 1) >> 20
}
