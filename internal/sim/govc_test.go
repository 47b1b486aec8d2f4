package sim

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// govc is govmomi's own CLI (internal/govc), built for the test: a client
// no one here wrote, printing what it prints against vCenter.
type govc struct {
	t   *testing.T
	bin string
	env []string
}

func buildGovc(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "govc")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/iclone-plan/iclone-plan/internal/sim/internal/govc")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build govc: %v\n%s", err, out)
	}
	return bin
}

func newGovc(t *testing.T, bin string, e *env) *govc {
	ca, err := e.sim.CertificateFile()
	if err != nil {
		t.Fatal(err)
	}
	return &govc{t: t, bin: bin, env: append(os.Environ(),
		"GOVC_URL="+e.sim.URL().String(), "GOVC_TLS_CA_CERTS="+ca, "GOVC_INSECURE=false", "GOVC_DATACENTER=Lab")}
}

// run runs govc and returns its combined output and whether it succeeded.
func (g *govc) run(args ...string) (string, bool) {
	g.t.Helper()
	cmd := exec.Command(g.bin, args...)
	cmd.Env = g.env
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		g.t.Fatalf("govc %s: %v", strings.Join(args, " "), err)
	}
	return string(out), err == nil
}

func (g *govc) ok(args ...string) string {
	g.t.Helper()
	out, ok := g.run(args...)
	if !ok {
		g.t.Fatalf("govc %s failed:\n%s", strings.Join(args, " "), out)
	}
	return out
}

func (g *govc) fails(want string, args ...string) {
	g.t.Helper()
	out, ok := g.run(args...)
	if ok || !strings.Contains(out, want) {
		g.t.Errorf("govc %s: succeeded %v, output:\n%s\nwant a failure printing %q", strings.Join(args, " "), ok, out, want)
	}
}

var govcMAC = regexp.MustCompile(`MAC Address:\s+(\S+)`)

// TestGovc: what issue 15 wants a real govc to see against the simulator,
// as it would against vCenter: vCenter's fault messages, a directory per
// VM, the shared disks a destroyed source leaves for its clones, and a
// frozen source's first clone with MACs of its own.
func TestGovc(t *testing.T) {
	bin := buildGovc(t)

	t.Run("fault messages", func(t *testing.T) {
		e := start(t, Options{Seed: testSeed(), DenyPrivileges: []string{"Folder.Create@/Lab/vm/lab"}})
		g := newGovc(t, bin, e)
		g.fails("The attempted operation cannot be performed in the current state (Powered off).",
			"vm.instantclone", "-vm", "/Lab/vm/golden/off-golden", "-ds", "LocalDS_0", "off-clone")
		g.fails("The name 'db-golden' already exists.",
			"vm.instantclone", "-vm", "/Lab/vm/golden/web-golden", "-ds", "LocalDS_0", "-folder", "/Lab/vm/golden", "db-golden")
		g.fails("Permission to perform this operation was denied.", "folder.create", "/Lab/vm/lab/new")
		g.ok("folder.create", "/Lab/vm/golden/new") // allowed outside /Lab/vm/lab
	})

	t.Run("directories and kept files", func(t *testing.T) {
		e := start(t, Options{Seed: testSeed()})
		g := newGovc(t, bin, e)
		for _, folder := range []string{"/Lab/vm/lab", "/Lab/vm/lab/web"} {
			g.ok("vm.instantclone", "-vm", "/Lab/vm/golden/web-golden", "-ds", "LocalDS_0", "-folder", folder, "twin")
		}
		top := strings.Fields(g.ok("datastore.ls", "-ds", "LocalDS_0"))
		for _, dir := range []string{"twin", "twin_1", "web-golden"} {
			if !slices.Contains(top, dir) {
				t.Errorf("datastore.ls lists %v, want a directory %s", top, dir)
			}
		}
		for _, dir := range []string{"twin", "twin_1"} {
			if files := strings.Fields(g.ok("datastore.ls", "-ds", "LocalDS_0", dir)); !slices.Contains(files, "twin.vmdk") || !slices.Contains(files, "twin.vmx") {
				t.Errorf("datastore.ls %s lists %v, want twin.vmx and twin.vmdk", dir, files)
			}
		}
		// The source goes while its clones run: the disks they chain to stay.
		g.ok("vm.power", "-off", "/Lab/vm/golden/web-golden")
		g.ok("vm.destroy", "/Lab/vm/golden/web-golden")
		left := strings.Fields(g.ok("datastore.ls", "-ds", "LocalDS_0", "web-golden"))
		for _, f := range []string{"web-golden.vmdk", "web-golden-000001.vmdk"} {
			if !slices.Contains(left, f) {
				t.Errorf("after the source's destroy its directory holds %v, want %s, which a clone chains to", left, f)
			}
		}
		if slices.Contains(left, "web-golden.vmx") {
			t.Errorf("after the source's destroy its directory still holds web-golden.vmx: %v", left)
		}
		if info := g.ok("vm.info", "/Lab/vm/lab/twin", "/Lab/vm/lab/web/twin"); strings.Count(info, "poweredOn") != 2 {
			t.Errorf("the clones do not both run after their source's destroy:\n%s", info)
		}
	})

	t.Run("frozen source's first clone has its own MACs", func(t *testing.T) {
		seed := testSeed()
		seed.Sources[1].Frozen = true
		e := start(t, Options{Seed: seed})
		g := newGovc(t, bin, e)
		g.ok("vm.instantclone", "-vm", "/Lab/vm/golden/db-golden", "-ds", "LocalDS_0", "first")
		src := govcMAC.FindAllStringSubmatch(g.ok("device.info", "-vm", "/Lab/vm/golden/db-golden"), -1)
		first := govcMAC.FindAllStringSubmatch(g.ok("device.info", "-vm", "/Lab/vm/first"), -1)
		if len(src) != 1 || len(first) != 1 {
			t.Fatalf("MACs: source %v, first clone %v; want one each", src, first)
		}
		if first[0][1] == src[0][1] || !generatedMAC.MatchString(first[0][1]) {
			t.Errorf("the frozen source's first clone has MAC %s (source %s), want a new generated one", first[0][1], src[0][1])
		}
	})
}
