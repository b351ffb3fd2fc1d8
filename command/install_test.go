package command

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// installed runs skiff install into temporary dirs with args, and returns
// the unit's and the config file's paths.
func installed(t *testing.T, args ...string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	units, etc := filepath.Join(dir, "units"), filepath.Join(dir, "etc")
	r := skiff("", append([]string{"install", "--unit-dir", units, "--config-dir", etc}, args...)...)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("install: exit code %d, stderr %q", r.code, r.stderr)
	}
	return filepath.Join(units, unitFileName), filepath.Join(etc, configFileName)
}

// TestInstallWritesUnitAndConfig checks that install writes a unit that
// runs the agent with the config file, and a config file that gives the
// agent exactly the flags install was given, with the installed data dir,
// readable by its owner alone.
func TestInstallWritesUnitAndConfig(t *testing.T) {
	args := []string{"--join", "10.0.0.1", "--join", "10.0.0.2:7946", "--token", "the-join-token", "--attr", "zone=a",
		"--probe-interval", "1s", "--voters", "5", "--allow-privileged", "--cpu", "2048", "--image-gc-high", "90.5", "--cluster", "edge", "--tag", "room=attic"}
	unit, config := installed(t, append([]string{"--binary", "/usr/local/bin/skiff"}, args...)...)
	raw, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\nExecStart=/usr/local/bin/skiff agent --config " + config + "\n", "\nStateDirectory=skiff\n",
		"\nAfter=network-online.target docker.service\n", "\nRestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK\n"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("unit lacks %q:\n%s", want, raw)
		}
	}
	if strings.Contains(string(raw), "ReadWritePaths") {
		t.Errorf("unit names a data dir besides its state directory:\n%s", raw)
	}
	if fi, err := os.Stat(config); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config file: %v, %v; want mode 0600", fi, err)
	}
	fromFile, err := agentConfigFromFile(t, "--config", config)
	if err != nil {
		t.Fatal(err)
	}
	fromFlags, err := agentConfigFromFile(t, append([]string{"--data-dir", installedDataDir}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromFile, fromFlags) {
		t.Errorf("the config file gives\n%+v\nthe flags give\n%+v", fromFile, fromFlags)
	}
	if fromFile.ProbeInterval != time.Second || fromFile.DataDir != installedDataDir || fromFile.Token != "the-join-token" {
		t.Errorf("config from the file: %+v", fromFile)
	}
}

// TestInstallOtherDataDirAndRuntime checks that a data dir of the user's
// choosing is made writable in the unit, and that the fake runtime does
// not wait for Docker.
func TestInstallOtherDataDirAndRuntime(t *testing.T) {
	unit, _ := installed(t, "--binary", "/usr/local/bin/skiff", "--data-dir", "/srv/skiff", "--runtime", "fake")
	raw, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "\nReadWritePaths=/srv/skiff\n") || strings.Contains(string(raw), "docker.service") {
		t.Errorf("unit:\n%s", raw)
	}
}

// TestInstallRefusesBadFlags checks that install runs the agent's checks
// and its own before writing anything.
func TestInstallRefusesBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--voters", "4"}, "--voters 4: expected 3 or 5"},
		{[]string{"--binary", "skiff"}, `--binary "skiff": expected an absolute path`},
		{[]string{"--data-dir", "/srv/my data"}, `--data-dir "/srv/my data": expected an absolute path without spaces`},
	} {
		dir := t.TempDir()
		r := skiff("", append([]string{"install", "--unit-dir", dir, "--config-dir", dir}, tc.args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit code %d, stderr %q; want 1 and %q", tc.args, r.code, r.stderr, tc.want)
		}
		if des, _ := os.ReadDir(dir); len(des) != 0 {
			t.Errorf("%v: wrote %d files", tc.args, len(des))
		}
	}
}

// TestUninstall checks that --uninstall removes the unit and the config
// file, and says so when there is nothing to remove.
func TestUninstall(t *testing.T) {
	unit, config := installed(t, "--binary", "/usr/local/bin/skiff")
	units, etc := filepath.Dir(unit), filepath.Dir(config)
	r := skiff("", "install", "--uninstall", "--unit-dir", units, "--config-dir", etc)
	if r.code != 0 || r.stdout != "removed "+unit+"\nremoved "+config+"\n" {
		t.Fatalf("uninstall: exit code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	for _, p := range []string{unit, config, etc} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s is still there: %v", p, err)
		}
	}
	r = skiff("", "install", "--uninstall", "--unit-dir", units, "--config-dir", etc)
	if r.code != 1 || !strings.Contains(r.stderr, "nothing to uninstall") {
		t.Errorf("second uninstall: exit code %d, stderr %q", r.code, r.stderr)
	}
}

// TestInstalledUnitVerifies checks the unit with systemd-analyze verify,
// which also finds that the binary it runs exists. Warnings about the
// unit, which verify prints without failing, fail the test too.
func TestInstalledUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed here (apt-get install systemd provides it); the unit is not verified")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"docker":         {"--join", "10.0.0.1", "--token", "t"},
		"data dir, fake": {"--data-dir", "/srv/skiff", "--runtime", "fake"},
	} {
		unit, _ := installed(t, append([]string{"--binary", exe}, args...)...)
		out, err := exec.Command(analyze, "verify", "--man=no", unit).CombinedOutput()
		if err != nil || strings.Contains(string(out), unit) || strings.Contains(string(out), unitFileName) {
			t.Errorf("%s: systemd-analyze verify: %v\n%s", name, err, out)
		}
	}
}

// TestClientUsesInstalledDataDir checks that a client command on a host
// where skiff install set the agent up uses the management token in the
// installed data dir, and that ./skiff-data, when there is one, comes
// first.
func TestClientUsesInstalledDataDir(t *testing.T) {
	dir := t.TempDir()
	local, inst := filepath.Join(dir, "skiff-data"), filepath.Join(dir, "var-lib-skiff")
	if err := os.Mkdir(inst, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(inst, "management-token"), []byte("installed-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := dataDirs
	dataDirs = []string{local, inst}
	t.Cleanup(func() { dataDirs = old })
	f := newFakeAPI(t, map[string]answer{"GET /v1/services": ok(`[]`)})
	wantOK(t, skiffAt(f, "services"))
	if got := f.last(t).auth; got != "Bearer installed-token" {
		t.Errorf("Authorization %q, want the installed data dir's token", got)
	}
	if err := os.Mkdir(local, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(local, "management-token"), []byte("local-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantOK(t, skiffAt(f, "services"))
	if got := f.last(t).auth; got != "Bearer local-token" {
		t.Errorf("Authorization %q, want ./skiff-data's token", got)
	}
}
