package command

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/urfave/cli/v2"
	"go.yaml.in/yaml/v4"
)

// Where skiff install puts its files unless told otherwise, and the data
// dir it gives an installed agent: systemd's StateDirectory for the unit.
const (
	defaultUnitDir    = "/etc/systemd/system"
	defaultConfigDir  = "/etc/skiff"
	installedDataDir  = "/var/lib/skiff"
	unitFileName      = "skiff.service"
	configFileName    = "skiff.yaml"
	configFileHeading = "# The flags of this host's skiff agent, which `skiff agent --config` reads;\n# skiff install wrote it, and writes it again when run again.\n"
)

func installCommand() *cli.Command {
	return &cli.Command{
		Name:  "install",
		Usage: "install the agent as a systemd service: a unit that runs skiff agent --config, and a config file of the agent flags given",
		Description: "Takes every agent flag (skiff agent --help). Run as root, then start the agent with systemctl enable --now skiff.\n" +
			"The unit runs the agent as root, which the Docker socket asks for, with the rest of the host locked away as far as that allows.",
		ArgsUsage: " ",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "unit-dir", Value: defaultUnitDir, Usage: "where the systemd unit " + unitFileName + " goes"},
			&cli.StringFlag{Name: "config-dir", Value: defaultConfigDir, Usage: "where the agent's config file " + configFileName + " goes"},
			&cli.StringFlag{Name: "binary", Usage: "the skiff binary the unit runs (default: this one)"},
			&cli.BoolFlag{Name: "uninstall", Usage: "remove the unit and the config file instead (the data dir stays; stop the service first with systemctl disable --now skiff)"},
		}, installFlags()...),
		Action: install,
	}
}

// installFlags are the agent's flags with the data dir an installed agent
// keeps, so that the help shows the default install uses.
func installFlags() []cli.Flag {
	flags := agentFlags()
	for _, f := range flags {
		if sf, ok := f.(*cli.StringFlag); ok && sf.Name == "data-dir" {
			sf.Value = installedDataDir
		}
	}
	return flags
}

func install(c *cli.Context) error {
	if err := args(c, 0); err != nil {
		return err
	}
	unitPath := filepath.Join(c.String("unit-dir"), unitFileName)
	configPath := filepath.Join(c.String("config-dir"), configFileName)
	if c.Bool("uninstall") {
		return uninstall(c, unitPath, configPath)
	}
	// The data dir is written into the config file even when left out,
	// since the agent that reads the file has a default of its own.
	if !c.IsSet("data-dir") {
		if err := c.Set("data-dir", installedDataDir); err != nil {
			return err
		}
	}
	// The agent's own checks run now, so that a bad flag is reported here
	// rather than by a service that fails to start.
	if _, err := agentConfig(c); err != nil {
		return err
	}
	binary := c.String("binary")
	if binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("--binary: the path of this binary is unknown (%v); give it", err)
		}
		binary = exe
	}
	for flag, p := range map[string]string{"--binary": binary, "--config-dir": configPath, "--data-dir": c.String("data-dir")} {
		if !filepath.IsAbs(p) || strings.ContainsAny(p, " \t\n\"'\\%$;") {
			return fmt.Errorf("%s %q: expected an absolute path without spaces, quotes, backslashes or %%, $ and ;", flag, p)
		}
	}
	config, err := agentConfigFile(c)
	if err != nil {
		return err
	}
	unit, err := unitFile(binary, configPath, c.String("data-dir"), c.String("runtime"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(configPath), 0o755); err != nil {
		return err
	}
	// The config file may hold the join token, so only root reads it.
	if err := writeFileAtomic(configPath, 0o600, bytesOf(config)); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(unitPath), 0o755); err != nil {
		return err
	}
	if err := writeFileAtomic(unitPath, 0o644, bytesOf(unit)); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "wrote %s and %s\nstart the agent with: systemctl enable --now skiff\n", configPath, unitPath)
	return nil
}

// agentConfigFile is the config file for the agent flags set on the
// install command line (or by their environment variables), by their long
// names, as loadConfigFile reads them.
func agentConfigFile(c *cli.Context) ([]byte, error) {
	doc := map[string]any{}
	for _, f := range agentFlags() {
		name := f.Names()[0]
		if !c.IsSet(name) {
			continue
		}
		switch f.(type) {
		case *cli.BoolFlag:
			doc[name] = c.Bool(name)
		case *cli.IntFlag:
			doc[name] = c.Int(name)
		case *cli.Int64Flag:
			doc[name] = c.Int64(name)
		case *cli.Float64Flag:
			doc[name] = c.Float64(name)
		case *cli.DurationFlag:
			doc[name] = c.Duration(name).String()
		case *cli.StringFlag:
			doc[name] = c.String(name)
		case *cli.StringSliceFlag:
			doc[name] = c.StringSlice(name)
		default:
			return nil, fmt.Errorf("--%s: cannot be written to a config file", name)
		}
	}
	body, err := yaml.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return append([]byte(configFileHeading), body...), nil
}

// unitTemplate is the agent's systemd unit. The agent runs as root because
// the Docker socket admits root (or its group, which is root's equal);
// the hardening takes away what it does not need: it writes only its data
// dir, sees no home directories or other processes' temporary files,
// cannot load kernel modules, change kernel tunables or the clock, or gain
// privileges through set-uid programs, and keeps only the capability to
// bind low ports. Unix sockets (the Docker Engine's) and IP (the API, Raft
// and gossip) stay open, and netlink, which finding the host's addresses
// uses. SIGTERM stops it, leaving the cluster gracefully when
// --leave-on-terminate is set, within a stop timeout above the agent's
// own minute for leaving.
var unitTemplate = template.Must(template.New("unit").Parse(`[Unit]
Description=skiff agent: a single-binary container orchestrator
Documentation=https://github.com/skiff-run/skiff
Wants=network-online.target{{if .Docker}} docker.service{{end}}
After=network-online.target{{if .Docker}} docker.service{{end}}

[Service]
Type=simple
ExecStart={{.Binary}} agent --config {{.Config}}
Restart=on-failure
RestartSec=5s
TimeoutStopSec=90s
LimitNOFILE=65536
StateDirectory=skiff
StateDirectoryMode=0700
{{- if .ReadWrite}}
ReadWritePaths={{.ReadWrite}}
{{- end}}
NoNewPrivileges=yes
CapabilityBoundingSet=CAP_NET_BIND_SERVICE
ProtectSystem=full
ProtectHome=read-only
PrivateTmp=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK

[Install]
WantedBy=multi-user.target
`))

// unitFile is the unit that runs binary with the config file. A data dir
// other than the state directory is made writable by name.
func unitFile(binary, config, dataDir, runtime string) ([]byte, error) {
	var b strings.Builder
	data := struct {
		Binary, Config, ReadWrite string
		Docker                    bool
	}{Binary: binary, Config: config, Docker: runtime == "docker"}
	if dataDir != installedDataDir {
		data.ReadWrite = dataDir
	}
	if err := unitTemplate.Execute(&b, data); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

// uninstall removes the unit and the config file, and the config dir once
// empty. The agent's data dir, its node identity and Raft log, stays.
func uninstall(c *cli.Context, unitPath, configPath string) error {
	removed := 0
	for _, p := range []string{unitPath, configPath} {
		err := os.Remove(p)
		switch {
		case err == nil:
			removed++
			fmt.Fprintf(c.App.Writer, "removed %s\n", p)
		case !errors.Is(err, os.ErrNotExist):
			return err
		}
	}
	if removed == 0 {
		return fmt.Errorf("nothing to uninstall: neither %s nor %s exists", unitPath, configPath)
	}
	// A config dir that holds other files is left alone.
	_ = os.Remove(filepath.Dir(configPath))
	return nil
}
