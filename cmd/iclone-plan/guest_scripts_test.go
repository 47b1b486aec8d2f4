//go:build unix

package main

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
	"mvdan.cc/sh/v3/syntax"

	"github.com/iclone-plan/iclone-plan/internal/plan"
)

// The guest-side scripts of plans/examples/guest: what an instant clone runs
// to take the identity its guestinfo gives it and answer apply's ready wait.
// See docs/guest-customization.md.
var (
	linuxScript = filepath.Join(repoRoot, "plans/examples/guest/linux/iclone-customize.sh")
	linuxUnit   = filepath.Join(repoRoot, "plans/examples/guest/linux/iclone-customize.service")
	windowsDir  = filepath.Join(repoRoot, "plans/examples/guest/windows")
)

// The Linux script is POSIX sh, as a real shell parser in POSIX mode reads
// it (it rejects arrays, <<<, ${a/b/c}, function f, ...), with none of the
// bash builtins that parse as plain commands ([[, local, declare, source,
// ...) nor $'...' quoting; it starts with #!/bin/sh and set -eu, and is
// executable.
func TestGuestScriptsParsePOSIX(t *testing.T) {
	data, err := os.ReadFile(linuxScript)
	if err != nil {
		t.Fatal(err)
	}
	p := syntax.NewParser(syntax.Variant(syntax.LangPOSIX))
	file, err := p.Parse(bytes.NewReader(data), linuxScript)
	if err != nil {
		t.Fatalf("not POSIX sh: %v", err)
	}
	bashOnly := map[string]bool{"[[": true, "local": true, "declare": true, "typeset": true, "source": true,
		"let": true, "shopt": true, "pushd": true, "popd": true, "mapfile": true, "readarray": true}
	syntax.Walk(file, func(node syntax.Node) bool {
		switch n := node.(type) {
		case *syntax.CallExpr:
			if len(n.Args) > 0 && bashOnly[n.Args[0].Lit()] {
				t.Errorf("%s: %s is not POSIX sh", n.Pos(), n.Args[0].Lit())
			}
		case *syntax.SglQuoted:
			if n.Dollar {
				t.Errorf("%s: $'...' is not POSIX sh", n.Pos())
			}
		case *syntax.Word:
			// In POSIX mode $'..' and $".." parse as a literal $ and a quote.
			for i := 1; i < len(n.Parts); i++ {
				lit, ok := n.Parts[i-1].(*syntax.Lit)
				_, sq := n.Parts[i].(*syntax.SglQuoted)
				_, dq := n.Parts[i].(*syntax.DblQuoted)
				if ok && strings.HasSuffix(lit.Value, "$") && (sq || dq) {
					t.Errorf("%s: $'...' and $\"...\" are not POSIX sh", n.Parts[i].Pos())
				}
			}
		}
		return true
	})
	if !bytes.HasPrefix(data, []byte("#!/bin/sh\n")) {
		t.Error("the script does not start with #!/bin/sh")
	}
	if !bytes.Contains(data, []byte("\nset -eu\n")) {
		t.Error("the script does not set -eu")
	}
	if fi, err := os.Stat(linuxScript); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("the script is not executable: %v %v", fi.Mode(), err)
	}
	unit, err := os.ReadFile(linuxUnit)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(unit, []byte("ExecStart=/usr/local/sbin/iclone-customize.sh watch\n")) {
		t.Error("the unit does not run the script's watcher from where the README installs it")
	}
}

// shellcheck (the Debian package shellcheck) finds nothing in the Linux
// script, read as POSIX sh. CI has only the Go module proxy, so there the
// test is skipped unless the image has shellcheck; the parser test above
// still runs.
func TestGuestScriptsShellcheck(t *testing.T) {
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Skip("shellcheck is not installed (Debian/Ubuntu: apt-get install shellcheck); the POSIX parse test still ran")
	}
	out, err := exec.Command(sc, "-s", "sh", "-S", "style", linuxScript).CombinedOutput()
	if err != nil {
		t.Fatalf("shellcheck -s sh: %v\n%s", err, out)
	}
}

// The Windows scripts parse as PowerShell, where pwsh is installed.
func TestGuestScriptsPowerShellParse(t *testing.T) {
	pwsh, err := exec.LookPath("pwsh")
	if err != nil {
		t.Skip("pwsh (PowerShell 7) is not installed; the Windows scripts were not parse-checked")
	}
	for _, name := range []string{"iclone-customize.ps1", "register-task.ps1"} {
		path, _ := filepath.Abs(filepath.Join(windowsDir, name))
		cmd := `$e = $null; [void][System.Management.Automation.Language.Parser]::ParseFile('` + path +
			`', [ref]$null, [ref]$e); if ($e) { $e | ForEach-Object { $_.ToString() }; exit 1 }`
		if out, err := exec.Command(pwsh, "-NoProfile", "-NonInteractive", "-Command", cmd).CombinedOutput(); err != nil {
			t.Errorf("%s does not parse: %v\n%s", name, err, out)
		}
	}
}

// guest is a sandboxed Linux guest for the script: fake vmware-rpctool,
// hostnamectl, ip, netplan and nmcli on a PATH of their own, guestinfo in
// files, the script's files under ICLONE_ROOT.
type guest struct {
	t                *testing.T
	root, gi, bin    string
	calls            string // every call of a fake tool, one a line
	links            string // what `ip -o link show` prints
	shell            string
	env              []string
	netplan, network bool
}

// Fake tools. vmware-rpctool serves guestinfo.<key> from $GI/<key> and
// answers an unset key as the real one does (exit 1, "No value found").
var shims = map[string]string{
	"vmware-rpctool": `echo "vmware-rpctool $*" >>"$CALLS"
case $1 in
"info-get guestinfo."*)
	k=${1#info-get }
	if [ -f "$GI/$k" ]; then cat "$GI/$k"; echo; else echo "No value found" >&2; exit 1; fi ;;
"info-set guestinfo."*)
	kv=${1#info-set }
	printf '%s' "${kv#* }" >"$GI/${kv%% *}" ;;
*) echo "Unknown command" >&2; exit 1 ;;
esac`,
	"hostnamectl": `echo "hostnamectl $*" >>"$CALLS"
[ "$1" = set-hostname ] && printf '%s\n' "$2" >"$ICLONE_ROOT/etc/hostname"`,
	"ip": `echo "ip $*" >>"$CALLS"
if [ "$#" -ge 5 ] && [ "$4" = dev ]; then grep ": $5: " "$LINKS"; else cat "$LINKS"; fi`,
	"netplan": `echo "netplan $*" >>"$CALLS"`,
	"nmcli":   `echo "nmcli $*" >>"$CALLS"`,
}

// The base utilities the script may use; nothing else is on its PATH.
var baseTools = []string{"sh", "awk", "cat", "cmp", "chmod", "grep", "mkdir", "mv", "rm", "sleep", "tr"}

const (
	macNIC1 = "00:50:56:10:01:0b"
	macNIC2 = "00:50:56:10:02:0b"
)

func newGuest(t *testing.T, netplan bool) *guest {
	t.Helper()
	dir := t.TempDir()
	g := &guest{t: t, root: filepath.Join(dir, "root"), gi: filepath.Join(dir, "guestinfo"), bin: filepath.Join(dir, "bin"),
		calls: filepath.Join(dir, "calls"), links: filepath.Join(dir, "links"), netplan: netplan}
	for _, d := range []string{g.gi, g.bin, filepath.Join(g.root, "etc")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if g.shell, err = exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	for _, tool := range baseTools {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatalf("%s is not installed", tool)
		}
		if err := os.Symlink(p, filepath.Join(g.bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range shims {
		if name == "netplan" && !netplan || name == "nmcli" && netplan {
			continue
		}
		g.write(filepath.Join(g.bin, name), "#!"+g.shell+"\n"+body+"\n", 0o755)
	}
	// The source VM's state, as the clone resumes with it.
	g.write(filepath.Join(g.root, "etc/hostname"), "web-golden\n", 0o644)
	g.write(filepath.Join(g.root, "etc/hosts"), "127.0.0.1\tlocalhost\n127.0.1.1\tweb-golden.lab.example.com web-golden\n::1\tlocalhost ip6-localhost\n", 0o644)
	if netplan {
		g.write(filepath.Join(g.root, "etc/netplan/50-cloud-init.yaml"),
			"network:\n  version: 2\n  ethernets:\n    ens192:\n      addresses: [10.10.1.5/24]\n", 0o600)
	}
	// ens160 is a decoy; with connectAfterReady the clone's NICs have no
	// carrier (no LOWER_UP) until iclone-plan connects them.
	g.setLinks(false)
	g.env = []string{"PATH=" + g.bin, "ICLONE_ROOT=" + g.root, "GI=" + g.gi, "CALLS=" + g.calls, "LINKS=" + g.links,
		"ICLONE_POLL=1", "ICLONE_RETRY=1"}
	return g
}

func (g *guest) setLinks(nic1Up bool) {
	flags := "<BROADCAST,MULTICAST>"
	if nic1Up {
		flags = "<BROADCAST,MULTICAST,UP,LOWER_UP>"
	}
	g.write(g.links, strings.Join([]string{
		`1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00`,
		`2: ens160: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc mq state UP mode DEFAULT group default qlen 1000\    link/ether 00:50:56:aa:bb:cc brd ff:ff:ff:ff:ff:ff`,
		`3: ens192: ` + flags + ` mtu 1500 qdisc mq state DOWN mode DEFAULT group default qlen 1000\    link/ether ` + macNIC1 + ` brd ff:ff:ff:ff:ff:ff`,
		`4: ens224: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc mq state UP mode DEFAULT group default qlen 1000\    link/ether ` + macNIC2 + ` brd ff:ff:ff:ff:ff:ff`,
	}, "\n")+"\n", 0o644)
}

func (g *guest) write(path, content string, mode os.FileMode) {
	g.t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		g.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		g.t.Fatal(err)
	}
}

func (g *guest) read(rel string) string {
	g.t.Helper()
	data, err := os.ReadFile(filepath.Join(g.root, rel))
	if err != nil {
		g.t.Fatal(err)
	}
	return string(data)
}

// setGuestinfo gives the guest the keys of a clone of the guest-lab plan,
// as iclone-plan sets them (mixed-case MAC, as a plan may write it). The
// identity keys come last, each file whole: a clone gets all its
// extraConfig at once, and the watcher must not see half of it.
func (g *guest) setGuestinfo(name string) {
	for _, kv := range [][2]string{
		{"domain", "lab.example.com"},
		{"dns", "10.10.0.53, 10.10.0.54"},
		{"nic1.mac", strings.ToUpper(macNIC1)},
		{"nic1.ip", "10.10.1.11/24"},
		{"nic1.gateway", "10.10.1.1"},
		{"nic2.mac", macNIC2},
		{"nic2.ip", "dhcp"},
		{"hostname", name},
		{"iclone.name", name},
	} {
		path := filepath.Join(g.gi, "guestinfo."+kv[0])
		g.write(path+".tmp", kv[1], 0o644)
		if err := os.Rename(path+".tmp", path); err != nil {
			g.t.Fatal(err)
		}
	}
}

func (g *guest) guestinfo(key string) string {
	data, _ := os.ReadFile(filepath.Join(g.gi, "guestinfo."+key))
	return string(data)
}

// run runs the script once and returns its exit code, its stderr and the
// calls of fake tools that change something (every call but lookups).
func (g *guest) run(args ...string) (int, string, []string) {
	g.t.Helper()
	os.Remove(g.calls)
	cmd := exec.Command(g.shell, append([]string{linuxScript}, args...)...)
	cmd.Env = g.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	code := 0
	if err := cmd.Run(); err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			g.t.Fatal(err)
		}
		code = ee.ExitCode()
	}
	return code, stderr.String(), g.changes()
}

func (g *guest) changes() []string {
	data, _ := os.ReadFile(g.calls)
	var changes []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line == "" || strings.HasPrefix(line, "vmware-rpctool info-get ") || strings.HasPrefix(line, "ip -o link show") {
			continue
		}
		changes = append(changes, line)
	}
	return changes
}

func (g *guest) checkCommon(name string) {
	g.t.Helper()
	if got := g.read("etc/hostname"); got != name+"\n" {
		g.t.Errorf("/etc/hostname is %q, want %q", got, name)
	}
	if hosts := g.read("etc/hosts"); !strings.Contains(hosts, "127.0.1.1\t"+name+".lab.example.com "+name+"\n") ||
		strings.Contains(hosts, "golden") || !strings.Contains(hosts, "127.0.0.1\tlocalhost\n") {
		g.t.Errorf("/etc/hosts:\n%s", hosts)
	}
	if got := g.guestinfo("iclone.ready"); got != name {
		g.t.Errorf("guestinfo.iclone.ready is %q, want the clone's name %q", got, name)
	}
	if got := g.guestinfo("iclone.status"); got != "ready" {
		g.t.Errorf("guestinfo.iclone.status is %q, want ready", got)
	}
}

// On a netplan guest the script sets the hostname, writes one netplan file
// for the interfaces whose MACs guestinfo names (static address, gateway and
// DNS on the one with the gateway, DHCP by MAC on the other; the decoy
// untouched), moves the source's netplan files aside, applies once and sets
// guestinfo.iclone.ready to the clone's name. A second run changes nothing.
func TestGuestScriptsNetplan(t *testing.T) {
	g := newGuest(t, true)
	g.setGuestinfo("guest-web-01")
	code, stderr, changes := g.run("once")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	t.Logf("first run:\n%s", stderr)
	want := []string{
		"hostnamectl set-hostname guest-web-01",
		"netplan apply",
		"vmware-rpctool info-set guestinfo.iclone.ready guest-web-01",
		"vmware-rpctool info-set guestinfo.iclone.status ready",
	}
	if strings.Join(changes, "\n") != strings.Join(want, "\n") {
		t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(changes, "\n"), strings.Join(want, "\n"))
	}
	g.checkCommon("guest-web-01")

	path := filepath.Join(g.root, "etc/netplan/90-iclone.yaml")
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("netplan file: %v (netplan wants 0600)", err)
	}
	text := g.read("etc/netplan/90-iclone.yaml")
	t.Logf("%s:\n%s", path, text)
	var doc struct {
		Network struct {
			Version   int
			Ethernets map[string]struct {
				DHCP4     *bool  `yaml:"dhcp4"`
				DHCPIdent string `yaml:"dhcp-identifier"`
				Addresses []string
				Routes    []struct{ To, Via string }
				NS        *struct{ Addresses, Search []string } `yaml:"nameservers"`
			}
		}
	}
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatalf("netplan file is not YAML: %v\n%s", err, text)
	}
	eth := doc.Network.Ethernets
	e1, e2 := eth["ens192"], eth["ens224"]
	if doc.Network.Version != 2 || len(eth) != 2 ||
		e1.DHCP4 == nil || *e1.DHCP4 || len(e1.Addresses) != 1 || e1.Addresses[0] != "10.10.1.11/24" ||
		len(e1.Routes) != 1 || e1.Routes[0].To != "0.0.0.0/0" || e1.Routes[0].Via != "10.10.1.1" ||
		e1.NS == nil || strings.Join(e1.NS.Addresses, " ") != "10.10.0.53 10.10.0.54" || strings.Join(e1.NS.Search, " ") != "lab.example.com" ||
		e2.DHCP4 == nil || !*e2.DHCP4 || e2.DHCPIdent != "mac" || len(e2.Addresses) != 0 || e2.NS != nil {
		t.Errorf("netplan file:\n%s", text)
	}
	if _, err := os.Stat(filepath.Join(g.root, "etc/netplan/50-cloud-init.yaml")); !os.IsNotExist(err) {
		t.Error("the source's netplan file is still read by netplan (its address would stay)")
	}
	if _, err := os.Stat(filepath.Join(g.root, "etc/netplan/iclone-source/50-cloud-init.yaml")); err != nil {
		t.Errorf("the source's netplan file was not kept aside: %v", err)
	}

	// Idempotent: the boot after, or the watcher's next pass.
	code, stderr, changes = g.run("once")
	if code != 0 || len(changes) != 0 || stderr != "" {
		t.Errorf("second run: exit %d, changes %q, stderr:\n%s", code, changes, stderr)
	}
	if g.read("etc/netplan/90-iclone.yaml") != text {
		t.Error("second run rewrote the netplan file")
	}
}

// On a NetworkManager guest the script writes a keyfile profile per NIC,
// bound to the interface and its MAC, priority above the source's profile;
// it loads each one, and brings it up only where the NIC has a link: with
// connectAfterReady the clone's NIC is disconnected until it is ready, and
// NetworkManager activates the profile when vSphere connects it. A second
// run changes nothing.
func TestGuestScriptsNetworkManager(t *testing.T) {
	g := newGuest(t, false)
	g.setGuestinfo("guest-web-02")
	code, stderr, changes := g.run()
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	t.Logf("first run:\n%s", stderr)
	dir := filepath.Join(g.root, "etc/NetworkManager/system-connections")
	want := []string{
		"hostnamectl set-hostname guest-web-02",
		"nmcli connection load " + filepath.Join(dir, "iclone-nic1.nmconnection"),
		"nmcli connection load " + filepath.Join(dir, "iclone-nic2.nmconnection"),
		"nmcli connection up iclone-nic2",
		"vmware-rpctool info-set guestinfo.iclone.ready guest-web-02",
		"vmware-rpctool info-set guestinfo.iclone.status ready",
	}
	if strings.Join(changes, "\n") != strings.Join(want, "\n") {
		t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(changes, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(stderr, "ens192 has no link yet") {
		t.Errorf("no word of the disconnected NIC:\n%s", stderr)
	}
	g.checkCommon("guest-web-02")
	nic1 := g.read("etc/NetworkManager/system-connections/iclone-nic1.nmconnection")
	t.Logf("iclone-nic1.nmconnection:\n%s", nic1)
	for _, line := range []string{"id=iclone-nic1", "type=ethernet", "interface-name=ens192", "autoconnect-priority=100",
		"mac-address=" + macNIC1, "method=manual", "address1=10.10.1.11/24,10.10.1.1", "dns=10.10.0.53;10.10.0.54;", "dns-search=lab.example.com;"} {
		if !strings.Contains(nic1, "\n"+line+"\n") {
			t.Errorf("iclone-nic1 lacks %q:\n%s", line, nic1)
		}
	}
	nic2 := g.read("etc/NetworkManager/system-connections/iclone-nic2.nmconnection")
	if !strings.Contains(nic2, "\nmethod=auto\ndhcp-client-id=mac\n") || strings.Contains(nic2, "dns=") {
		t.Errorf("iclone-nic2:\n%s", nic2)
	}
	if fi, err := os.Stat(filepath.Join(dir, "iclone-nic1.nmconnection")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("keyfile: %v (NetworkManager ignores keyfiles others can read)", err)
	}

	g.setLinks(true) // iclone-plan connected the NIC: nothing to do either
	code, stderr, changes = g.run("once")
	if code != 0 || len(changes) != 0 || stderr != "" {
		t.Errorf("second run: exit %d, changes %q, stderr:\n%s", code, changes, stderr)
	}
}

// A guestinfo MAC no interface has is an error: the script exits non-zero,
// says which key, sets guestinfo.iclone.status to the error and never the
// ready key, so apply's wait fails with a reason instead of a silent clash.
// Without guestinfo (the source VM) there is nothing to do.
func TestGuestScriptsErrors(t *testing.T) {
	g := newGuest(t, true)
	code, stderr, changes := g.run("once")
	if code != 0 || len(changes) != 0 || !strings.Contains(stderr, "not a clone, nothing to do") {
		t.Errorf("without guestinfo: exit %d, changes %q, stderr:\n%s", code, changes, stderr)
	}
	g.setGuestinfo("guest-web-03")
	g.write(filepath.Join(g.gi, "guestinfo.nic1.mac"), "00:50:56:10:01:99", 0o644)
	code, stderr, _ = g.run("once")
	if code != 1 || !strings.Contains(stderr, "no interface has MAC 00:50:56:10:01:99 (guestinfo.nic1.mac)") {
		t.Errorf("unknown MAC: exit %d, stderr:\n%s", code, stderr)
	}
	if got := g.guestinfo("iclone.ready"); got != "" {
		t.Errorf("ready key set despite the error: %q", got)
	}
	if got := g.guestinfo("iclone.status"); !strings.HasPrefix(got, "error: no interface has MAC") {
		t.Errorf("guestinfo.iclone.status is %q", got)
	}
	g.write(filepath.Join(g.gi, "guestinfo.nic1.mac"), macNIC1, 0o644)
	g.write(filepath.Join(g.gi, "guestinfo.nic1.ip"), "10.10.1.300/24", 0o644)
	if code, stderr, _ = g.run("once"); code != 1 || !strings.Contains(stderr, `guestinfo.nic1.ip is "10.10.1.300/24"`) {
		t.Errorf("bad address: exit %d, stderr:\n%s", code, stderr)
	}
}

// The resume trigger: the watcher runs in the source (no guestinfo there,
// nothing to do); an instant clone resumes inside the same loop with new
// guestinfo, and the watcher customizes it within a poll or two, without a
// boot.
func TestGuestScriptsWatchResume(t *testing.T) {
	if testing.Short() {
		t.Skip("polls for seconds")
	}
	g := newGuest(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, g.shell, linuxScript, "watch")
	cmd.Env = g.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the shell and its sleep
		cmd.Wait()
	}()

	time.Sleep(1500 * time.Millisecond)
	if changes := g.changes(); len(changes) != 0 || g.read("etc/hostname") != "web-golden\n" {
		t.Fatalf("the source's watcher changed something: %q", changes)
	}
	g.setGuestinfo("guest-web-04") // the clone resumes
	start := time.Now()
	for g.guestinfo("iclone.ready") != "guest-web-04" || g.guestinfo("iclone.status") != "ready" {
		if time.Since(start) > 15*time.Second {
			t.Fatalf("not ready 15s after the clone resumed; calls %q", g.changes())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("ready %v after the clone's guestinfo appeared", time.Since(start).Round(100*time.Millisecond))
	g.checkCommon("guest-web-04")
}

// The example plans keep the guest contract: in every clone, guestinfo
// nic<N>.mac is the MAC the plan gives adapter N (else the guest finds no
// interface, or the wrong one), nic<N>.ip is address/prefix or dhcp, and
// guest-lab.yaml, the plan the scripts are written for, gives every clone
// its hostname and every adapter its keys.
func TestGuestScriptsPlanContract(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join(repoRoot, "plans/examples/*.yaml"))
	nicKey := regexp.MustCompile(`^guestinfo\.nic(\d+)\.(mac|ip|gateway)$`)
	checked := 0
	for _, path := range paths {
		p, err := plan.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		guestLab := filepath.Base(path) == "guest-lab.yaml"
		for c := range p.Clones() {
			macs := map[string]string{}
			for _, n := range c.NICs {
				macs[strconv.Itoa(n.Adapter)] = n.MAC
			}
			for k, v := range c.ExtraConfig {
				m := nicKey.FindStringSubmatch(k)
				if m == nil {
					continue
				}
				checked++
				switch m[2] {
				case "mac":
					if macs[m[1]] == "" || strings.ToLower(v) != macs[m[1]] {
						t.Errorf("%s: %s: %s is %q, adapter %s has MAC %q", filepath.Base(path), c.Name, k, v, m[1], macs[m[1]])
					}
				case "ip":
					if _, err := netip.ParsePrefix(v); err != nil && v != "dhcp" {
						t.Errorf("%s: %s: %s is %q, not address/prefix or dhcp", filepath.Base(path), c.Name, k, v)
					}
				case "gateway":
					if _, err := netip.ParseAddr(v); err != nil {
						t.Errorf("%s: %s: %s is %q", filepath.Base(path), c.Name, k, v)
					}
				}
			}
			if !guestLab {
				continue
			}
			if c.ExtraConfig["guestinfo.hostname"] != c.Name || len(c.Name) > 15 {
				t.Errorf("guest-lab: %s: guestinfo.hostname is %q (the clone's name, at most 15 characters for Windows)", c.Name, c.ExtraConfig["guestinfo.hostname"])
			}
			for a := range macs {
				if c.ExtraConfig["guestinfo.nic"+a+".mac"] == "" || c.ExtraConfig["guestinfo.nic"+a+".ip"] == "" {
					t.Errorf("guest-lab: %s: adapter %s has no nic%s.mac and nic%s.ip", c.Name, a, a, a)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no example plan has nic<N> guestinfo keys")
	}
}
