package compose

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/structs"
)

// load writes files (compose.yaml among them) to a new folder and loads
// the compose file there for project "shop".
func load(t *testing.T, files map[string]string, env ...string) (*Plan, string, error) {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := Load(context.Background(), filepath.Join(dir, "compose.yaml"), Options{Project: "shop", Env: env})
	return p, dir, err
}

// decoded sends each service file of the plan through the API's decoder,
// as the agent will, and returns the services and definitions by compose
// name.
func decoded(t *testing.T, p *Plan) (map[string]*structs.Service, map[string]*structs.TaskDefinition) {
	t.Helper()
	svcs, tds := map[string]*structs.Service{}, map[string]*structs.TaskDefinition{}
	for _, s := range p.Services {
		raw, err := json.Marshal(s.File)
		if err != nil {
			t.Fatal(err)
		}
		svc, td, _, err := api.DecodeServiceFile(raw)
		if err != nil {
			t.Fatalf("service %s: the API refuses the mapped file: %v\n%s", s.Name, err, raw)
		}
		svcs[s.Compose], tds[s.Compose] = svc, td
	}
	return svcs, tds
}

func TestMapping(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		env   []string
		check func(t *testing.T, svcs map[string]*structs.Service, tds map[string]*structs.TaskDefinition, dir string)
		// warnings are substrings each of which one warning must hold;
		// every warning must be matched by one.
		warnings []string
	}{
		{
			name: "image, command, environment, env_file, .env and ports",
			files: map[string]string{
				"compose.yaml": `
services:
  web:
    image: skiff-testapp:${TAG}
    entrypoint: ["/testapp"]
    command: serve -addr :8080
    environment:
      GREETING: hi
      FROM_SHELL:
    env_file: web.env
    ports: ["8080:8080", "9090/udp", "127.0.0.1:7000:7000"]
    user: "1000:1000"
    working_dir: /srv
    labels: {team: a}
`,
				"web.env": "FROM_FILE=file\n",
				".env":    "TAG=v1\n",
			},
			env: []string{"FROM_SHELL=shell"},
			check: func(t *testing.T, svcs map[string]*structs.Service, tds map[string]*structs.TaskDefinition, _ string) {
				svc, cd := svcs["web"], tds["web"].ContainerDefinitions[0]
				if svc.Name != "shop-web" || svc.Project != "shop" || svc.DesiredCount != 1 || tds["web"].Family != "shop-web" {
					t.Errorf("service %+v", svc)
				}
				if cd.Name != "web" || cd.Image != "skiff-testapp:v1" || !slices.Equal(cd.EntryPoint, []string{"/testapp"}) ||
					!slices.Equal(cd.Command, []string{"serve", "-addr", ":8080"}) || cd.User != "1000:1000" || cd.WorkingDirectory != "/srv" || cd.DockerLabels["team"] != "a" {
					t.Errorf("container %+v", cd)
				}
				want := []structs.KeyValue{{Name: "FROM_FILE", Value: "file"}, {Name: "FROM_SHELL", Value: "shell"}, {Name: "GREETING", Value: "hi"}}
				if !slices.Equal(cd.Environment, want) {
					t.Errorf("environment %+v, want %+v", cd.Environment, want)
				}
				wantPorts := []structs.PortMapping{{ContainerPort: 8080, HostPort: 8080, Protocol: "tcp"}, {ContainerPort: 9090, Protocol: "udp"}, {ContainerPort: 7000, HostPort: 7000, Protocol: "tcp"}}
				if !slices.Equal(cd.PortMappings, wantPorts) {
					t.Errorf("ports %+v, want %+v", cd.PortMappings, wantPorts)
				}
			},
			warnings: []string{"services.web.ports[2].host_ip: 127.0.0.1"},
		},
		{
			name: "resources, placement, replicas, restart, logging and stop grace",
			files: map[string]string{"compose.yaml": `
services:
  api:
    image: app
    restart: on-failure:3
    stop_grace_period: 1m
    logging: {driver: local, options: {max-size: 5m}}
    deploy:
      replicas: 3
      resources:
        limits: {cpus: "0.5", memory: 256M, pids: 100}
        reservations: {memory: 64M}
      placement:
        constraints: ["node.labels.zone == a", "node.labels.disk!=hdd", "node.role == manager"]
        preferences: [{spread: node.labels.rack}]
        max_replicas_per_node: 1
      update_config: {parallelism: 1}
`},
			check: func(t *testing.T, svcs map[string]*structs.Service, tds map[string]*structs.TaskDefinition, _ string) {
				svc, cd := svcs["api"], tds["api"].ContainerDefinitions[0]
				if svc.DesiredCount != 3 || cd.CPU != 512 || cd.Memory != 256 || cd.MemoryReservation != 64 || cd.PidsLimit != 100 || cd.StopTimeout != 60 {
					t.Errorf("service %+v container %+v", svc, cd)
				}
				if cd.LogConfiguration == nil || cd.LogConfiguration.LogDriver != "local" || cd.LogConfiguration.Options["max-size"] != "5m" {
					t.Errorf("logging %+v", cd.LogConfiguration)
				}
				want := []structs.PlacementConstraint{{Type: "memberOf", Expression: "attribute:zone == a"}, {Type: "memberOf", Expression: "attribute:disk != hdd"}, {Type: "distinctInstance"}}
				if !slices.Equal(svc.PlacementConstraints, want) {
					t.Errorf("constraints %+v, want %+v", svc.PlacementConstraints, want)
				}
				if !slices.Equal(svc.PlacementStrategy, []structs.PlacementStrategy{{Type: "spread", Field: "attribute:rack"}}) {
					t.Errorf("strategy %+v", svc.PlacementStrategy)
				}
			},
			warnings: []string{
				`services.api.restart: "on-failure:3"`,
				`services.api.deploy.placement.constraints[2]: "node.role == manager"`,
				"services.api.deploy.update_config is a compose field skiff does not act on",
			},
		},
		{
			name:     "container options",
			warnings: []string{"services reach each other by name"},
			files: map[string]string{"compose.yaml": `
services:
  box:
    image: app
    hostname: box1
    extra_hosts: ["db.local=10.0.0.5"]
    ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 512}
    sysctls: {net.core.somaxconn: "1024"}
    tmpfs: ["/run:size=64m,noexec"]
    shm_size: 128m
    cap_add: [NET_ADMIN]
    cap_drop: [MKNOD]
    devices: ["/dev/fuse:/dev/fuse:rwm"]
    privileged: true
    init: true
    read_only: true
  edge:
    image: app
    network_mode: host
`},
			check: func(t *testing.T, _ map[string]*structs.Service, tds map[string]*structs.TaskDefinition, _ string) {
				td := tds["box"]
				cd := td.ContainerDefinitions[0]
				want := structs.ContainerOptions{
					Hostname:               "box1",
					ExtraHosts:             []structs.HostEntry{{Hostname: "db.local", IPAddress: "10.0.0.5"}},
					Ulimits:                []structs.Ulimit{{Name: "nofile", SoftLimit: 1024, HardLimit: 2048}, {Name: "nproc", SoftLimit: 512, HardLimit: 512}},
					SystemControls:         []structs.SystemControl{{Namespace: "net.core.somaxconn", Value: "1024"}},
					Privileged:             true,
					ReadonlyRootFilesystem: true,
					LinuxParameters: &structs.LinuxParameters{
						Capabilities:       &structs.KernelCapabilities{Add: []string{"NET_ADMIN"}, Drop: []string{"MKNOD"}},
						Devices:            []structs.Device{{HostPath: "/dev/fuse", ContainerPath: "/dev/fuse", Permissions: []string{"read", "write", "mknod"}}},
						InitProcessEnabled: true,
						SharedMemorySize:   128,
						Tmpfs:              []structs.Tmpfs{{ContainerPath: "/run", Size: 64, MountOptions: []string{"noexec"}}},
					},
				}
				if !reflect.DeepEqual(cd.ContainerOptions, want) {
					t.Errorf("options\n%+v\nwant\n%+v", cd.ContainerOptions, want)
				}
				if td.NetworkMode != "" || tds["edge"].NetworkMode != "host" {
					t.Errorf("network modes %q and %q, want the default and host", td.NetworkMode, tds["edge"].NetworkMode)
				}
			},
		},
		{
			name: "health check in ECS units, clamped",
			files: map[string]string{"compose.yaml": `
services:
  db:
    image: app
    healthcheck:
      test: ["CMD", "/testapp", "probe"]
      interval: 1s
      timeout: 90s
      retries: 20
      start_period: 10s
`},
			check: func(t *testing.T, _ map[string]*structs.Service, tds map[string]*structs.TaskDefinition, _ string) {
				want := structs.HealthCheck{Command: []string{"CMD", "/testapp", "probe"}, Interval: 5, Timeout: 60, Retries: 10, StartPeriod: 10}
				if h := tds["db"].ContainerDefinitions[0].HealthCheck; h == nil || !reflect.DeepEqual(*h, want) {
					t.Errorf("health check %+v, want %+v", h, want)
				}
			},
			warnings: []string{"services.db.healthcheck.interval: 1s is outside the 5 to 300s", "services.db.healthcheck.timeout: 90s is outside the 2 to 60s",
				"services.db.healthcheck.retries: 20 is outside"},
		},
		{
			name: "volumes: named, anonymous, bind, tmpfs",
			files: map[string]string{"compose.yaml": `
services:
  db:
    image: app
    volumes:
      - data:/var/lib/data
      - /scratch
      - ./conf:/etc/app:ro
      - type: tmpfs
        target: /tmp
        tmpfs: {size: 8m}
volumes:
  data:
    labels: {kept: "yes"}
`},
			check: func(t *testing.T, _ map[string]*structs.Service, tds map[string]*structs.TaskDefinition, dir string) {
				td := tds["db"]
				want := []structs.Volume{
					{Name: "shop_data", DockerVolumeConfiguration: &structs.DockerVolumeConfiguration{Scope: structs.ScopeShared, Labels: map[string]string{"kept": "yes"}}},
					{Name: "anon1", DockerVolumeConfiguration: &structs.DockerVolumeConfiguration{Scope: structs.ScopeTask}},
					{Name: "bind2", Host: &structs.HostVolume{SourcePath: filepath.Join(dir, "conf")}},
				}
				if !reflect.DeepEqual(td.Volumes, want) {
					t.Errorf("volumes %s, want %s", js(td.Volumes), js(want))
				}
				cd := td.ContainerDefinitions[0]
				wantMounts := []structs.MountPoint{{SourceVolume: "shop_data", ContainerPath: "/var/lib/data"}, {SourceVolume: "anon1", ContainerPath: "/scratch"},
					{SourceVolume: "bind2", ContainerPath: "/etc/app", ReadOnly: true}}
				if !slices.Equal(cd.MountPoints, wantMounts) {
					t.Errorf("mounts %+v, want %+v", cd.MountPoints, wantMounts)
				}
				if lp := cd.LinuxParameters; lp == nil || !slices.EqualFunc(lp.Tmpfs, []structs.Tmpfs{{ContainerPath: "/tmp", Size: 8}}, func(a, b structs.Tmpfs) bool { return reflect.DeepEqual(a, b) }) {
					t.Errorf("tmpfs %+v", cd.LinuxParameters)
				}
			},
		},
		{
			name: "secrets as environment variables",
			files: map[string]string{
				"compose.yaml": `
services:
  api:
    image: app
    secrets: [db_password, {source: api_key, target: /etc/keys/api-key}]
secrets:
  db_password: {file: ./pw.txt}
  api_key: {environment: API_KEY}
`,
				"pw.txt": "s3cret\n",
			},
			env: []string{"API_KEY=k"},
			check: func(t *testing.T, _ map[string]*structs.Service, tds map[string]*structs.TaskDefinition, _ string) {
				want := []structs.SecretRef{{Name: "DB_PASSWORD", ValueFrom: "shop_db_password"}, {Name: "API_KEY", ValueFrom: "shop_api_key"}}
				if got := tds["api"].ContainerDefinitions[0].Secrets; !slices.Equal(got, want) {
					t.Errorf("secrets %+v, want %+v", got, want)
				}
			},
			warnings: []string{"services.api.secrets[0]: skiff gives secret db_password as the environment variable DB_PASSWORD, not as the file /run/secrets/db_password",
				"services.api.secrets[1]: skiff gives secret api_key as the environment variable API_KEY, not as the file /run/secrets/api-key"},
		},
		{
			name: "depends_on across services",
			files: map[string]string{"compose.yaml": `
services:
  db:
    image: app
    healthcheck: {test: "/testapp probe"}
  migrate:
    image: app
    depends_on: {db: {condition: service_healthy}}
  api:
    image: app
    depends_on:
      db: {condition: service_healthy, restart: true}
      migrate: {condition: service_completed_successfully}
  web:
    image: app
    depends_on: [api]
`},
			check: func(t *testing.T, svcs map[string]*structs.Service, tds map[string]*structs.TaskDefinition, _ string) {
				if d := svcs["web"].DependsOn; !slices.Equal(d, []structs.ServiceDependency{{Service: "shop-api", Condition: structs.ConditionStarted}}) {
					t.Errorf("web depends on %+v", d)
				}
				want := []structs.ServiceDependency{{Service: "shop-db", Condition: structs.ConditionHealthy}, {Service: "shop-migrate", Condition: structs.ConditionCompletedSuccessfully}}
				if d := svcs["api"].DependsOn; !slices.Equal(d, want) {
					t.Errorf("api depends on %+v, want %+v", d, want)
				}
				if h := tds["db"].ContainerDefinitions[0].HealthCheck; h == nil || !slices.Equal(h.Command, []string{"CMD-SHELL", "/testapp probe"}) {
					t.Errorf("db health check %+v", h)
				}
			},
			warnings: []string{"services.api.depends_on.db.restart", "services reach each other by name"},
		},
		{
			name: "fields skiff does not act on are named",
			files: map[string]string{"compose.yaml": `
services:
  odd:
    image: app
    container_name: odd1
    blkio_config: {weight: 300}
    expose: ["3000"]
    networks: [back]
    cpu_shares: 512
    pull_policy: always
    deploy:
      mode: global
      restart_policy: {condition: on-failure}
      placement:
        preferences: [{spread: node.labels.zone}]
networks:
  back: {}
configs:
  conf: {file: ./compose.yaml}
`},
			check: func(t *testing.T, svcs map[string]*structs.Service, _ map[string]*structs.TaskDefinition, _ string) {
				// deploy.mode global makes a daemon.
				if odd := svcs["odd"]; odd.DesiredCount != 0 || !odd.IsDaemon() {
					t.Errorf("odd is %+v, want a daemon", odd)
				}
			},
			warnings: []string{
				"services.odd.container_name is a compose field skiff does not act on; it is ignored",
				"services.odd.blkio_config is a compose field",
				"services.odd.expose is a compose field",
				"services.odd.cpu_shares is a compose field",
				"services.odd.pull_policy is a compose field",
				"services.odd.deploy.restart_policy is a compose field",
				"services.odd.deploy.placement.preferences[0]: a global service runs one task on every node; ignored",
				"services.odd.networks.back: skiff does not attach tasks to compose networks",
				"networks.back: skiff does not make compose networks",
				"configs: skiff has no configs",
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, dir, err := load(t, c.files, c.env...)
			if err != nil {
				t.Fatal(err)
			}
			svcs, tds := decoded(t, p)
			c.check(t, svcs, tds, dir)
			matched := make([]bool, len(p.Warnings))
			for _, w := range c.warnings {
				found := false
				for i, got := range p.Warnings {
					if strings.Contains(got, w) {
						found, matched[i] = true, true
					}
				}
				if !found {
					t.Errorf("no warning holds %q; warnings:\n%s", w, strings.Join(p.Warnings, "\n"))
				}
			}
			for i, got := range p.Warnings {
				if !matched[i] {
					t.Errorf("unexpected warning %q", got)
				}
			}
		})
	}
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// A secret's value comes from its file, less one trailing newline, under
// compose's name for it; an external one is only named.
func TestMappingSecretValues(t *testing.T) {
	p, _, err := load(t, map[string]string{
		"compose.yaml": `
services:
  api: {image: app, secrets: [pw, token]}
secrets:
  pw: {file: ./pw.txt}
  token: {external: true, name: shared-token}
`,
		"pw.txt": "s3cret\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []Secret{{Compose: "pw", Name: "shop_pw", Value: []byte("s3cret")}, {Compose: "token", Name: "shared-token", External: true}}
	for i := range p.Secrets {
		p.Secrets[i].From = ""
	}
	if !reflect.DeepEqual(p.Secrets, want) {
		t.Fatalf("secrets %+v, want %+v", p.Secrets, want)
	}
}

// A file docker compose refuses is refused with compose-go's message, and
// one skiff cannot run with the mapping's, naming the field.
func TestMappingErrors(t *testing.T) {
	for name, c := range map[string]struct{ file, msg string }{
		"not YAML":                    {"services: [", "yaml"},
		"unknown field":               {"services:\n  a:\n    image: x\n    colour: red\n", "colour"},
		"missing interpolation":       {"services:\n  a:\n    image: ${IMAGE?the image is required}\n", "the image is required"},
		"unknown dependency":          {"services:\n  a:\n    image: x\n    depends_on: [b]\n", "depends on undefined service"},
		"build only":                  {"services:\n  a:\n    build: .\n", "services.a: build: skiff does not build images"},
		"healthy without healthcheck": {"services:\n  a: {image: x}\n  b:\n    image: x\n    depends_on: {a: {condition: service_healthy}}\n", "services.b: depends_on.a: service_healthy needs a healthcheck"},
		"bad healthcheck":             {"services:\n  a:\n    image: x\n    healthcheck: {test: [\"BOGUS\"]}\n", `healthcheck.test must start either by "CMD", "CMD-SHELL" or "NONE"`},
		"service name":                {"services:\n  a.b: {image: x}\n", "is not a name skiff can give a service"},
		"no services":                 {"name: x\n", "services: the file has no services"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := load(t, map[string]string{"compose.yaml": c.file})
			if err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("got %v, want an error containing %q", err, c.msg)
			}
		})
	}
}

// The project's name is compose's when none is given: the file's name,
// else the folder's.
func TestProjectName(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "My.Shop")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "docker-compose.yml")
	if err := os.WriteFile(file, []byte("services:\n  web: {image: x}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Load(context.Background(), file, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Project != "myshop" || p.Services[0].Name != "myshop-web" {
		t.Fatalf("project %q, service %q; want myshop, myshop-web", p.Project, p.Services[0].Name)
	}
	if err := os.WriteFile(file, []byte("name: named\nservices:\n  web: {image: x}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if p, err = Load(context.Background(), file, Options{}); err != nil || p.Project != "named" {
		t.Fatalf("project %v %v; want named", p, err)
	}
	if _, err := Load(context.Background(), file, Options{Project: "Bad Name"}); err == nil {
		t.Fatal("a bad project name was taken")
	}
}

// FuzzCompose feeds arbitrary compose files through the loader and the
// mapping: neither may panic, and every service file the mapping makes
// must be one the API takes or refuses with a field error.
func FuzzCompose(f *testing.F) {
	for _, seed := range []string{
		"services:\n  web:\n    image: x\n    ports: [\"80:80\"]\n",
		"services:\n  db:\n    image: x\n    healthcheck: {test: [CMD, a], interval: 1h}\n  api:\n    image: x\n    depends_on: {db: {condition: service_healthy}}\n",
		"services:\n  a:\n    image: x\n    volumes: [data:/d, ./h:/h, /anon]\n    tmpfs: [\"/t:size=1k\"]\nvolumes: {data: {}}\n",
		"x-base: &b {image: x}\nservices:\n  a: *b\n  b: {<<: *b, command: [a]}\n",
		"services:\n  a: {image: x, deploy: {resources: {limits: {cpus: '99999', memory: 1P}}}}\n",
		"services:\n  a: {image: x, secrets: [s]}\nsecrets: {s: {content: v}}\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, file string) {
		dir := t.TempDir()
		path := filepath.Join(dir, "compose.yaml")
		if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := Load(context.Background(), path, Options{Project: "fuzz"})
		if err != nil {
			return
		}
		for _, s := range p.Services {
			raw, err := json.Marshal(s.File)
			if err != nil {
				t.Fatalf("service %s does not marshal: %v", s.Name, err)
			}
			if _, _, _, err := api.DecodeServiceFile(raw); err != nil {
				var fe *api.FieldError
				if !errors.As(err, &fe) {
					t.Fatalf("service %s: %v is no field error", s.Name, err)
				}
			}
		}
	})
}
