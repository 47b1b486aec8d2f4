package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// nightlyMonthEnv makes TestNightlyExample run a month of nights, 30, not
// the few it always runs (`task test-nightly-month`).
const nightlyMonthEnv = "ICLONE_PLAN_NIGHTLY_MONTH"

const nightlyPlan = "../../plans/examples/nightly.yaml"

// nightlyCommands returns the argument lists of the iclone-plan commands in
// the comment of nightly.yaml: "#   iclone-plan sim ..." and
// "#   iclone-plan apply ...".
func nightlyCommands(t *testing.T, src []byte) (simArgs, applyArgs []string) {
	t.Helper()
	line := regexp.MustCompile(`(?m)^#\s+iclone-plan (sim|apply) ([^#\n]*)`)
	for _, m := range line.FindAllSubmatch(src, -1) {
		args := append([]string{string(m[1])}, strings.Fields(string(m[2]))...)
		switch string(m[1]) {
		case "sim":
			simArgs = args
		case "apply":
			applyArgs = args
		}
	}
	if simArgs == nil || applyArgs == nil {
		t.Fatalf("nightly.yaml's comment lacks an `iclone-plan sim` or an `iclone-plan apply` line")
	}
	return simArgs, applyArgs
}

// nightlyClones returns the instance UUID of every VM in the plan's
// folder, by name, read over SOAP with govmomi (not iclone-plan's code).
func nightlyClones(t *testing.T, c *vim25.Client) map[string]string {
	t.Helper()
	ctx := context.Background()
	vms, err := find.NewFinder(c).VirtualMachineList(ctx, "/CI/vm/runners/*")
	if nf := (*find.NotFoundError)(nil); errors.As(err, &nf) {
		return map[string]string{} // no folder, or an empty one
	}
	if err != nil {
		t.Fatal(err)
	}
	refs := make([]types.ManagedObjectReference, len(vms))
	for i, vm := range vms {
		refs[i] = vm.Reference()
	}
	var mos []mo.VirtualMachine
	if err := property.DefaultCollector(c).Retrieve(ctx, refs, []string{"name", "config.instanceUuid"}, &mos); err != nil {
		t.Fatal(err)
	}
	out := make(map[string]string, len(mos))
	for _, vm := range mos {
		out[vm.Name] = vm.Config.InstanceUuid
	}
	return out
}

// chainDepth reads the delta-chain depth of the VM at path from its first
// disk's backing, over SOAP.
func chainDepth(t *testing.T, c *vim25.Client, path string) int {
	t.Helper()
	ctx := context.Background()
	ref, err := object.NewSearchIndex(c).FindByInventoryPath(ctx, path)
	if err != nil || ref == nil {
		t.Fatalf("find %s: %v", path, err)
	}
	var vm mo.VirtualMachine
	if err := property.DefaultCollector(c).RetrieveOne(ctx, ref.Reference(), []string{"config.hardware.device"}, &vm); err != nil {
		t.Fatal(err)
	}
	for _, d := range vm.Config.Hardware.Device {
		if disk, ok := d.(*types.VirtualDisk); ok {
			n := 0
			for b := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo).Parent; b != nil; b = b.Parent {
				n++
			}
			return n
		}
	}
	t.Fatalf("%s has no disk", path)
	return 0
}

// nightlyRun runs the commands of nightly.yaml's comment: the simulator as
// it says (on a free port), then night after night the apply line, against
// a copy of the plan at the tests' rate (see testRate; the plan's 60/m would
// make each night take seven minutes of waiting). It was this month of
// nights that found the simulator dying when a rename met a clone being
// created (see nameMu in internal/sim).
type nightlyRun struct {
	t     *testing.T
	sim   *simProc
	env   []string
	plan  string
	apply []string
	vim   *vim25.Client
}

func startNightly(t *testing.T, frozen bool, extra ...string) *nightlyRun {
	t.Helper()
	src, err := os.ReadFile(nightlyPlan)
	if err != nil {
		t.Fatal(err)
	}
	simArgs, applyArgs := nightlyCommands(t, src)
	fast := filepath.Join(t.TempDir(), "nightly.yaml")
	if err := os.WriteFile(fast, rateLine.ReplaceAll(src, []byte("${1}"+testRate)), 0o644); err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, a := range simArgs[1:] {
		switch {
		case strings.HasSuffix(a, "nightly.yaml"):
			a = fast
		case a == "--frozen-sources" && !frozen:
			continue // the control: the same plan with running sources
		}
		args = append(args, a)
	}
	if frozen && !slicesContains(args, "--frozen-sources") {
		t.Fatalf("nightly.yaml's comment starts the simulator without --frozen-sources: %q", simArgs)
	}
	p := startSim(t, append(args, extra...)...)
	for i, a := range applyArgs {
		if strings.HasSuffix(a, "nightly.yaml") {
			applyArgs[i] = fast
		}
	}
	env := append(os.Environ(), "GOVC_URL="+p.url, "GOVC_TLS_CA_CERTS="+p.ca,
		"XDG_STATE_HOME="+filepath.Join(t.TempDir(), "state"), "NO_COLOR=1")
	return &nightlyRun{t: t, sim: p, env: env, plan: fast, apply: applyArgs, vim: p.client(t)}
}

func slicesContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// cli runs iclone-plan (the binary testscript.Main puts on $PATH) with args.
// A run still going after nightlyCLITimeout is sent SIGQUIT, so that its
// goroutines are in the result rather than the test hanging.
func (n *nightlyRun) cli(args ...string) result {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), nightlyCLITimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "iclone-plan", args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGQUIT) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Env = n.env
	return runCLI(n.t, cmd)
}

// nightlyCLITimeout bounds one CLI run of TestNightlyExample: a night takes
// seconds on an idle machine.
const nightlyCLITimeout = 10 * time.Minute

// simStatus says whether the simulator still runs and what it wrote to
// stderr, for a failure's message.
func (n *nightlyRun) simStatus() string {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", n.sim.cmd.Process.Pid))
	if err == nil && !strings.Contains(string(stat), ") Z ") {
		return "the simulator still runs"
	}
	time.Sleep(time.Second) // for its last words to reach the buffer
	return fmt.Sprintf("the simulator has exited; its stderr:\n%s", n.sim.stderr.String())
}

// nightly.yaml runs every night for a month: with its sources frozen, as its
// comment says to start the simulator, the comment's `apply --replace-all`
// replaces every clone night after night (each night's clones are new VMs)
// and the sources' delta chains never grow. Three nights always; a month
// (30) with ICLONE_PLAN_NIGHTLY_MONTH=1. The control: with running sources
// (as one night leaves them) the second night is refused before any change,
// as the comment warns.
func TestNightlyExample(t *testing.T) {
	if testing.Short() {
		t.Skip("applies nightly.yaml night after night")
	}
	t.Parallel() // waits on subprocesses: overlaps with CPU-bound tests
	nights := 3
	if os.Getenv(nightlyMonthEnv) != "" {
		nights = 30
	}
	p, err := loadPlan(nightlyPlan)
	if err != nil {
		t.Fatal(err)
	}
	want := p.NumClones()
	sources := []string{p.Groups[0].Source, p.Groups[1].Source}

	t.Run("frozen", func(t *testing.T) {
		n := startNightly(t, true)
		depth := map[string]int{}
		for _, s := range sources {
			depth[s] = chainDepth(t, n.vim, s)
		}
		var prev map[string]string
		for night := 1; night <= nights; night++ {
			r := n.cli(n.apply...)
			if r.code != 0 || !strings.Contains(r.stdout, "Apply complete: ") {
				t.Fatalf("night %d: %v\n%s", night, r, n.simStatus())
			}
			clones := nightlyClones(t, n.vim)
			if len(clones) != want {
				t.Fatalf("night %d: %d VMs in /CI/vm/runners, want the plan's %d", night, len(clones), want)
			}
			for c := range p.Clones() {
				uuid, ok := clones[c.Name]
				if !ok {
					t.Fatalf("night %d: no clone %s", night, c.Name)
				}
				if prev != nil && prev[c.Name] == uuid {
					t.Fatalf("night %d: %s is last night's VM (instance UUID %s), not replaced", night, c.Name, uuid)
				}
			}
			prev = clones
			for _, s := range sources {
				if got := chainDepth(t, n.vim, s); got != depth[s] {
					t.Fatalf("night %d: source %s has a delta chain of %d levels; it had %d before the first night", night, s, got, depth[s])
				}
			}
		}
		// And the month's last night left the plan converged.
		if r := n.cli("plan", "--detailed-exitcode", n.plan); r.code != 0 {
			t.Errorf("plan after %d nights: %v", nights, r)
		}
		t.Logf("%d nights of %d clones: %d instant clones, source chains at %v levels throughout", nights, want, nights*want, depth)
	})

	t.Run("running sources", func(t *testing.T) {
		// The sources as one night leaves running ones: 200 levels deep
		// (every clone of a running source adds one; TestE2EChainStatusAfterApply
		// shows it). The second night is refused before any change.
		n := startNightly(t, false, "--chain-depth", "200")
		r := n.cli(n.apply...)
		limit := "which would take it to 400, past vSphere's limit of 255"
		if r.code != 1 || !strings.Contains(r.stdout+r.stderr, limit) {
			t.Fatalf("night 2 with running sources: %v; want exit 1 and %q", r, limit)
		}
		if clones := nightlyClones(t, n.vim); len(clones) != 0 {
			t.Errorf("the refused night made %d clones", len(clones))
		}
		if got := chainDepth(t, n.vim, sources[0]); got != 200 {
			t.Errorf("running source %s: %d delta levels after the refused night, want 200", sources[0], got)
		}
	})
}
