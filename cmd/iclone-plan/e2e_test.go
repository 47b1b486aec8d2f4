package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/iclone-plan/iclone-plan/internal/executor"
	"github.com/iclone-plan/iclone-plan/internal/inventory"
	"github.com/iclone-plan/iclone-plan/internal/plan"
	"github.com/iclone-plan/iclone-plan/internal/sim"
	"github.com/iclone-plan/iclone-plan/internal/vsphere"
)

// e2eMainEnv makes the test binary run iclone-plan's main (see TestMain), so
// these tests drive the real CLI as a subprocess, with real signals.
const e2eMainEnv = "ICLONE_PLAN_E2E_MAIN"

const e2ePlan = "testdata/e2e/lab.yaml"

// e2e is a simulator seeded for a plan, shared by several CLI runs.
type e2e struct {
	t      *testing.T
	sim    *sim.Simulator
	env    []string
	client *vsphere.Client
	dir    string
	plan   *plan.Plan
}

func newE2E(t *testing.T, planPath string, opts sim.Options) *e2e {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end CLI test")
	}
	p, err := loadPlan(planPath)
	if err != nil {
		t.Fatal(err)
	}
	opts.Seed = seedFromPlan(p)
	if opts.Hosts == 0 {
		opts.Hosts = 2
	}
	s, err := sim.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	ca, err := s.CertificateFile()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	env := append(os.Environ(), e2eMainEnv+"=1", "GOVC_URL="+s.URL().String(), "GOVC_TLS_CA_CERTS="+ca,
		"XDG_STATE_HOME="+filepath.Join(dir, "state"), "NO_COLOR=1")
	c, err := vsphere.Connect(context.Background(), vsphere.Config{URL: s.URL().String(), CACerts: ca})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Logout(context.Background()) })
	return &e2e{t: t, sim: s, env: env, client: c, dir: dir, plan: p}
}

type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// command returns the CLI as a subprocess, not yet started.
func (e *e2e) command(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = e.env
	return cmd
}

// cli runs the CLI to completion.
func (e *e2e) cli(args ...string) result {
	e.t.Helper()
	return runCLI(e.t, e.command(args...))
}

// runCLI runs a CLI subprocess to completion and returns its exit code and
// output; an exit status is a result, any other failure ends the test.
func runCLI(t testing.TB, cmd *exec.Cmd) result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errb.String()}
}

func (e *e2e) inventory() *inventory.Inventory {
	e.t.Helper()
	inv, err := e.client.ReadInventory(context.Background(), seedFromPlan(e.plan).Datacenter)
	if err != nil {
		e.t.Fatal(err)
	}
	return inv
}

// snapshot describes every VM (reference, power, NICs with connection
// state, markers), keyed by path.
func snapshotOf(inv *inventory.Inventory) map[string]string {
	out := map[string]string{}
	for _, vm := range inv.VMs {
		var nics []string
		for _, n := range vm.NICs {
			nics = append(nics, fmt.Sprintf("%s/%v", n.MAC, n.Connected))
		}
		var marks []string
		for _, k := range slices.Sorted(maps.Keys(vm.Markers)) {
			marks = append(marks, k+"="+vm.Markers[k])
		}
		out[vm.Path] = fmt.Sprintf("%s %s %v %v", vm.Ref, vm.PowerState, nics, marks)
	}
	return out
}

func (e *e2e) assertSame(before map[string]string, what string) {
	e.t.Helper()
	after := snapshotOf(e.inventory())
	if !maps.Equal(before, after) {
		var b strings.Builder
		for _, k := range slices.Sorted(maps.Keys(maps.Collect(func(yield func(string, bool) bool) {
			for k := range before {
				yield(k, true)
			}
			for k := range after {
				yield(k, true)
			}
		}))) {
			if before[k] != after[k] {
				fmt.Fprintf(&b, "  %s\n    before: %s\n    after:  %s\n", k, before[k], after[k])
			}
		}
		e.t.Errorf("%s changed the inventory:\n%s", what, b.String())
	}
}

// converged asserts the plan has no changes, that exactly the plan's clones
// carry its marker (nothing leaked) and that no two connected NICs share a
// MAC.
func (e *e2e) converged(planPath string) {
	e.t.Helper()
	if r := e.cli("plan", "--detailed-exitcode", planPath); r.code != 0 {
		e.t.Fatalf("plan after apply: %v", r)
	}
	p, err := loadPlan(planPath)
	if err != nil {
		e.t.Fatal(err)
	}
	e.ownsExactly(p, e.inventory())
}

// ownsExactly asserts that exactly the plan's clones carry its marker, none
// of them half-way through a run (nothing leaked), and that no two
// connected NICs share a MAC.
func (e *e2e) ownsExactly(p *plan.Plan, inv *inventory.Inventory) {
	e.t.Helper()
	owned := 0
	macs := map[string]string{}
	for _, vm := range inv.VMs {
		if vm.Owned(p.Name) {
			owned++
			if st := vm.Markers[inventory.MarkerState]; st != "" {
				e.t.Errorf("leaked %s VM %s", st, vm.Path)
			}
		}
		for _, n := range vm.NICs {
			if n.Connected {
				if other, ok := macs[n.MAC]; ok {
					e.t.Errorf("MAC %s connected on %s and %s", n.MAC, other, vm.Path)
				}
				macs[n.MAC] = vm.Path
			}
		}
	}
	if owned != p.NumClones() {
		e.t.Errorf("%d VMs carry the plan's marker, the plan has %d clones", owned, p.NumClones())
	}
}

// addDecoy creates a powered-on VM without any marker in folder, with a NIC
// of each given (manual) MAC.
func (e *e2e) addDecoy(folder, name string, macs ...string) {
	e.t.Helper()
	ctx := context.Background()
	finder := find.NewFinder(e.client.Vim, false)
	dc, err := finder.Datacenter(ctx, "Lab")
	if err != nil {
		e.t.Fatal(err)
	}
	finder.SetDatacenter(dc)
	f, err := finder.Folder(ctx, folder)
	if err != nil {
		e.t.Fatal(err)
	}
	pool, err := finder.DefaultResourcePool(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	spec := types.VirtualMachineConfigSpec{Name: name, GuestId: "otherGuest",
		Files: &types.VirtualMachineFileInfo{VmPathName: "[LocalDS_0]"}}
	for i, mac := range macs {
		spec.DeviceChange = append(spec.DeviceChange, &types.VirtualDeviceConfigSpec{
			Operation: types.VirtualDeviceConfigSpecOperationAdd,
			Device: &types.VirtualE1000{VirtualEthernetCard: types.VirtualEthernetCard{
				VirtualDevice: types.VirtualDevice{Key: int32(-100 - i), Backing: &types.VirtualEthernetCardNetworkBackingInfo{
					VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{DeviceName: "VM Network"}}},
				AddressType: string(types.VirtualEthernetCardMacTypeManual), MacAddress: mac}},
		})
	}
	task, err := f.CreateVM(ctx, spec, pool, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := task.WaitForResult(ctx, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	vm := object.NewVirtualMachine(e.client.Vim, info.Result.(types.ManagedObjectReference))
	if task, err = vm.PowerOn(ctx); err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		e.t.Fatal(err)
	}
}

func TestE2EApplyPlanStatusDestroy(t *testing.T) {
	e := newE2E(t, e2ePlan, sim.Options{})
	r := e.cli("plan", "--detailed-exitcode", e2ePlan)
	if r.code != 2 || !strings.Contains(r.stdout, "Plan: 6 to create, 0 to replace, 0 to destroy.") {
		t.Fatalf("plan before apply: %v", r)
	}
	report := filepath.Join(e.dir, "report.json")
	r = e.cli("apply", "--auto-approve", "--report", report, e2ePlan)
	if r.code != 0 || !strings.Contains(r.stdout, "Apply complete: 6 created, 0 replaced, 0 destroyed") {
		t.Fatalf("apply: %v", r)
	}
	if strings.Contains(r.stdout, "\x1b") {
		t.Error("escape codes in non-terminal output")
	}
	e.converged(e2ePlan)
	fi, err := os.Stat(report)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("report %v mode %v, want 0600", err, fi.Mode().Perm())
	}

	// A decoy in the clones' folder is never touched, by apply or destroy.
	e.addDecoy("/Lab/vm/lab", "lab-web-99")
	r = e.cli("status", e2ePlan)
	if r.code != 0 || strings.Count(r.stdout, "in sync") != 6 || strings.Contains(r.stdout, "lab-web-99") {
		t.Fatalf("status: %v", r)
	}

	// A smaller plan destroys the clones it no longer has.
	smaller := filepath.Join(e.dir, "smaller.yaml")
	data, _ := os.ReadFile(e2ePlan)
	if err := os.WriteFile(smaller, bytes.Replace(data, []byte("count: 4"), []byte("count: 2"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	r = e.cli("apply", "--auto-approve", smaller)
	if r.code != 0 || !strings.Contains(r.stdout, "0 created, 0 replaced, 2 destroyed") {
		t.Fatalf("apply of the smaller plan: %v", r)
	}
	e.converged(smaller)

	r = e.cli("destroy", "--auto-approve", e2ePlan)
	if r.code != 0 {
		t.Fatalf("destroy: %v", r)
	}
	inv := e.inventory()
	var names []string
	for _, vm := range inv.VMs {
		names = append(names, vm.Name)
		if vm.Owned("lab") {
			t.Errorf("destroy left %s", vm.Path)
		}
	}
	if !slices.Contains(names, "lab-web-99") {
		t.Errorf("destroy removed the decoy; VMs left: %v", names)
	}
}

func TestE2EConflictChangesNothing(t *testing.T) {
	e := newE2E(t, e2ePlan, sim.Options{})
	if r := e.cli("apply", "--auto-approve", e2ePlan); r.code != 0 {
		t.Fatal(r)
	}
	e.cli("destroy", "--auto-approve", e2ePlan)
	e.addDecoy("/Lab/vm/lab", "lab-web-03") // takes a clone's name
	before := snapshotOf(e.inventory())
	r := e.cli("apply", "--auto-approve", e2ePlan)
	if r.code != 1 || !strings.Contains(r.stdout, "name taken: VM /Lab/vm/lab/lab-web-03") {
		t.Fatalf("apply with a decoy holding a clone's name: %v", r)
	}
	e.assertSame(before, "a plan with a conflict")
}

// A MAC of the plan held by a VM the plan does not own: plan and apply
// fail naming both owners, and nothing changes.
func TestE2EMACCollision(t *testing.T) {
	e := newE2E(t, e2ePlan, sim.Options{})
	e.addDecoy("/Lab/vm", "someone-elses-vm", "00:50:56:10:01:03")
	before := snapshotOf(e.inventory())
	r := e.cli("plan", e2ePlan)
	want := "MAC 00:50:56:10:01:03 of lab-web-03 adapter 1 is already used by VM /Lab/vm/someone-elses-vm adapter 1"
	if r.code != 1 || !strings.Contains(r.stdout, want) {
		t.Fatalf("plan with a foreign VM holding a planned MAC: %v", r)
	}
	if r := e.cli("apply", "--auto-approve", e2ePlan); r.code != 1 || !strings.Contains(r.stdout, want) {
		t.Fatalf("apply: %v", r)
	}
	e.assertSame(before, "a plan with a MAC collision")
}

func TestE2EUnattendedNeedsAutoApprove(t *testing.T) {
	e := newE2E(t, e2ePlan, sim.Options{})
	before := snapshotOf(e.inventory())
	r := e.cli("apply", e2ePlan)
	if r.code != 1 || !strings.Contains(r.stderr, "--auto-approve") {
		t.Fatalf("unattended apply: %v", r)
	}
	e.assertSame(before, "an unattended apply without --auto-approve")
}

// A fault at the Nth clone: exit 3, and the inventory is as before, VM by
// VM; the report names the fault.
func TestE2EFaultRollsBack(t *testing.T) {
	for _, leave := range []bool{false, true} {
		t.Run(fmt.Sprintf("leave=%v", leave), func(t *testing.T) {
			e := newE2E(t, e2ePlan, sim.Options{FailClone: 4, FailLeaveVM: leave})
			before := snapshotOf(e.inventory())
			report := filepath.Join(e.dir, "report.json")
			r := e.cli("apply", "--auto-approve", "--report", report, e2ePlan)
			if r.code != ExitRolledBack || !strings.Contains(r.stdout, "Apply failed and was rolled back") {
				t.Fatalf("apply with a fault: %v", r)
			}
			e.assertSame(before, "a rolled-back apply")
			var rep executor.Report
			data, err := os.ReadFile(report)
			if err != nil || json.Unmarshal(data, &rep) != nil {
				t.Fatalf("report: %v %s", err, data)
			}
			if rep.Outcome != executor.OutcomeRolledBack || len(rep.Failed()) != 1 || rep.Failed()[0].Fault == "" || len(rep.Failed()[0].Tasks) == 0 {
				t.Errorf("report: %s", data)
			}
			// The next apply converges.
			if r := e.cli("apply", "--auto-approve", e2ePlan); r.code != 0 {
				t.Fatal(r)
			}
			e.converged(e2ePlan)
		})
	}
}

// Two applies of one plan at once: one runs, the other exits 5 naming the
// holder; nothing is created twice.
func TestE2EConcurrentApplies(t *testing.T) {
	e := newE2E(t, e2ePlan, sim.Options{Latency: 300 * time.Millisecond})
	var wg sync.WaitGroup
	results := make([]result, 2)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.cli("apply", "--auto-approve", e2ePlan)
		}()
	}
	wg.Wait()
	codes := []int{results[0].code, results[1].code}
	slices.Sort(codes)
	if !slices.Equal(codes, []int{0, ExitLocked}) {
		t.Fatalf("exit codes %v, want one 0 and one 5:\n%v\n%v", codes, results[0], results[1])
	}
	for _, r := range results {
		if r.code == ExitLocked && !strings.Contains(r.stderr, "is locked by another run (run ") {
			t.Errorf("the locked run does not name the holder: %v", r)
		}
	}
	e.converged(e2ePlan)
}

// SIGINT rolls back and exits 130.
func TestE2ESigintRollsBack(t *testing.T) {
	e := newE2E(t, e2ePlan, sim.Options{Latency: 300 * time.Millisecond})
	before := snapshotOf(e.inventory())
	cmd := e.command("apply", "--auto-approve", e2ePlan)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	sent := false
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if !sent && strings.Contains(sc.Text(), " created lab-") {
			_ = cmd.Process.Signal(syscall.SIGINT)
			sent = true
		}
	}
	err = cmd.Wait()
	code := cmd.ProcessState.ExitCode()
	if !sent || code != ExitInterrupted {
		t.Fatalf("exit %d (%v), signal sent %v:\n%s\n%s", code, err, sent, out.String(), errb.String())
	}
	e.assertSame(before, "an interrupted apply")
}

// kill -9 at random moments, then apply again: it converges, nothing leaks.
func TestE2ESigkillThenConverge(t *testing.T) {
	const trials = 10
	e := newE2E(t, e2ePlan, sim.Options{Latency: 150 * time.Millisecond})
	rng := rand.New(rand.NewSource(42))
	versions := []string{"a", "b"}
	for trial := range trials {
		// Alternate between two specs so trials kill creates and replaces.
		planPath := filepath.Join(e.dir, fmt.Sprintf("plan-%d.yaml", trial))
		data, _ := os.ReadFile(e2ePlan)
		data = bytes.Replace(data, []byte(`hostname: "{name}"`), []byte(`hostname: "{name}-`+versions[trial%2]+`"`), 1)
		if err := os.WriteFile(planPath, data, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := e.command("apply", "--auto-approve", planPath)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(rng.Intn(1500)) * time.Millisecond
		time.Sleep(delay)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()

		r := e.cli("apply", "--auto-approve", planPath)
		if r.code != 0 {
			t.Fatalf("trial %d (killed after %v): the next apply failed: %v", trial, delay, r)
		}
		e.converged(planPath)
	}
	t.Logf("%d kill -9 trials converged", trials)
}

// A saved plan is applied only while the inventory is as it was.
func TestE2ESavedPlan(t *testing.T) {
	e := newE2E(t, e2ePlan, sim.Options{})
	saved := filepath.Join(e.dir, "lab.plan")
	if r := e.cli("plan", "--out", saved, e2ePlan); r.code != 0 {
		t.Fatal(r)
	}
	if fi, err := os.Stat(saved); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("saved plan: %v", err)
	}
	stale := filepath.Join(e.dir, "stale.plan")
	data, _ := os.ReadFile(saved)
	if err := os.WriteFile(stale, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := e.cli("apply", "--auto-approve", saved); r.code != 0 {
		t.Fatalf("apply of a fresh saved plan: %v", r)
	}
	e.converged(e2ePlan)
	before := snapshotOf(e.inventory())
	r := e.cli("apply", "--auto-approve", stale)
	if r.code != 1 || !strings.Contains(r.stderr, "the inventory changed since") {
		t.Fatalf("apply of a stale saved plan: %v", r)
	}
	e.assertSame(before, "a stale saved plan")

	tampered := filepath.Join(e.dir, "tampered.plan")
	if err := os.WriteFile(tampered, bytes.Replace(data, []byte("count: 4"), []byte("count: 5"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := e.cli("apply", "--auto-approve", tampered); r.code != 1 || !strings.Contains(r.stderr, "does not match its hash") {
		t.Fatalf("apply of a tampered saved plan: %v", r)
	}
}

// newCacheE2E is an end-to-end test whose CLIs keep their inventory cache
// in a directory of its own (returned), with a VM the plan does not own,
// "neighbour", whose adapter has mac.
func newCacheE2E(t *testing.T, mac string) (*e2e, string) {
	t.Helper()
	e := newE2E(t, e2ePlan, sim.Options{})
	cacheDir := filepath.Join(e.dir, "cache")
	e.env = append(e.env, cacheDirEnv+"="+cacheDir)
	e.addDecoy("/Lab/vm", "neighbour", mac)
	return e, cacheDir
}

// checkCache asserts that dir holds one inventory cache, with the
// neighbour's MAC and none of the plan's own VMs, and returns its path and
// content.
func (e *e2e) checkCache(dir, mac string) (string, []byte) {
	e.t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "inventory-*.json"))
	if len(files) != 1 {
		e.t.Fatalf("the cache directory holds %v, want one inventory cache", files)
	}
	data, err := os.ReadFile(files[0])
	if err != nil || !strings.Contains(string(data), mac) || strings.Contains(string(data), "lab-web") {
		e.t.Fatalf("the cache (%v) should hold the neighbour's MAC and none of the plan's own VMs: %s", err, data)
	}
	return files[0], data
}

// plan keeps an inventory cache of the VMs it does not own, and still sees
// a change to one of them: a neighbour given one of the plan's MACs after
// a first plan is a collision on the next plan, cached or --refresh.
func TestE2EInventoryCacheSeesChanges(t *testing.T) {
	e, cacheDir := newCacheE2E(t, "00:50:56:3f:ff:01")
	if r := e.cli("plan", e2ePlan); r.code != 0 {
		t.Fatalf("first plan: %v", r)
	}
	e.checkCache(cacheDir, "00:50:56:3f:ff:01")

	ctx := context.Background()
	vm, err := find.NewFinder(e.client.Vim, false).VirtualMachine(ctx, "/Lab/vm/neighbour")
	if err != nil {
		t.Fatal(err)
	}
	devices, err := vm.Device(ctx)
	if err != nil {
		t.Fatal(err)
	}
	card := devices.SelectByType((*types.VirtualEthernetCard)(nil))[0].(types.BaseVirtualEthernetCard).GetVirtualEthernetCard()
	card.MacAddress = "00:50:56:10:01:03"
	if err := vm.EditDevice(ctx, card); err != nil {
		t.Fatal(err)
	}
	want := "MAC 00:50:56:10:01:03 of lab-web-03 adapter 1 is already used by VM /Lab/vm/neighbour adapter 1"
	for _, args := range [][]string{{"plan", e2ePlan}, {"plan", "--refresh", e2ePlan}} {
		if r := e.cli(args...); r.code != 1 || !strings.Contains(r.stdout, want) {
			t.Fatalf("%v after the neighbour took a planned MAC: %v", args, r)
		}
	}
	if r := e.cli("status", "--refresh", e2ePlan); r.code != 0 {
		t.Fatalf("status --refresh: %v", r)
	}
}

// apply reads every VM afresh and leaves what it read of the VMs no plan
// owns in the inventory cache: the plan after it needs to read none again.
func TestE2EApplyFillsInventoryCache(t *testing.T) {
	e, cacheDir := newCacheE2E(t, "00:50:56:3f:ff:02")
	if r := e.cli("apply", "--auto-approve", e2ePlan); r.code != 0 {
		t.Fatalf("apply: %v", r)
	}
	file, data := e.checkCache(cacheDir, "00:50:56:3f:ff:02")
	if r := e.cli("plan", "--detailed-exitcode", e2ePlan); r.code != 0 {
		t.Fatalf("plan after the apply: %v", r)
	}
	after, _ := os.ReadFile(file)
	if string(after) != string(data) {
		t.Errorf("the plan after the apply rewrote the cache: nothing it holds should have changed")
	}
}
