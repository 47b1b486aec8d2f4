//go:build unix

package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/vmware/govmomi/find"

	"github.com/iclone-plan/iclone-plan/internal/executor"
	"github.com/iclone-plan/iclone-plan/internal/sim"
	"github.com/iclone-plan/iclone-plan/internal/ui"
	"github.com/iclone-plan/iclone-plan/internal/vsphere"
)

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// uuids maps each of the plan's clones to its instance UUID.
func (e *e2e) uuids() map[string]string {
	e.t.Helper()
	out := map[string]string{}
	for _, vm := range e.inventory().VMs {
		if vm.Owned(e.plan.Name) {
			out[vm.Name] = vm.InstanceUUID
		}
	}
	return out
}

// applied applies the e2e plan and checks it converged.
func (e *e2e) applied() {
	e.t.Helper()
	if r := e.cli("apply", "--auto-approve", e2ePlan); r.code != 0 {
		e.t.Fatalf("apply: %v", r)
	}
	e.converged(e2ePlan)
}

// --replace NAME (globs allowed) replaces those clones, even unchanged, and
// no other: the others keep their instance UUIDs.
func TestE2EReplaceNamed(t *testing.T) {
	e := newE2E(t, e2ePlan, sim.Options{})
	e.applied()
	for _, tc := range []struct {
		patterns []string
		replaced []string
	}{
		{[]string{"lab-web-02"}, []string{"lab-web-02"}},
		{[]string{"lab-db-*", "lab-web-0[4]"}, []string{"lab-db-1", "lab-db-2", "lab-web-04"}},
	} {
		var flags []string
		for _, p := range tc.patterns {
			flags = append(flags, "--replace", p)
		}
		want := fmt.Sprintf("Plan: 0 to create, %d to replace, 0 to destroy.", len(tc.replaced))
		if r := e.cli(append(append([]string{"plan"}, flags...), e2ePlan)...); r.code != 0 || !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, "--replace") {
			t.Fatalf("plan %v: want %q with the reason --replace: %v", flags, want, r)
		}
		before := e.uuids()
		if r := e.cli(append(append([]string{"apply", "--auto-approve"}, flags...), e2ePlan)...); r.code != 0 {
			t.Fatalf("apply %v: %v", flags, r)
		}
		after := e.uuids()
		for name, uuid := range before {
			replaced := false
			for _, n := range tc.replaced {
				replaced = replaced || n == name
			}
			if replaced == (after[name] == uuid) {
				t.Errorf("apply %v: %s instance UUID %s -> %s; replaced: want %v", flags, name, uuid, after[name], replaced)
			}
		}
		e.converged(e2ePlan)
	}
	if r := e.cli("plan", "--replace", "nosuch-*", e2ePlan); r.code != 1 || !strings.Contains(r.stderr, `--replace "nosuch-*" matches none of the plan's clones`) {
		t.Errorf("a pattern that matches nothing: %v", r)
	}
}

// --target GROUP plans and applies only that group; the output says the
// others were not targeted, and they stay as they are.
func TestE2ETargetGroup(t *testing.T) {
	e := newE2E(t, e2ePlan, sim.Options{})
	notTargeted := "group web: 4 clone(s), 4 change(s) not made"
	r := e.cli("plan", "--target", "db", e2ePlan)
	if r.code != 0 || !strings.Contains(r.stdout, "Plan: 2 to create, 0 to replace, 0 to destroy.") || !strings.Contains(r.stdout, notTargeted) {
		t.Fatalf("plan --target db: %v", r)
	}
	r = e.cli("plan", "--json", "--target", "db", e2ePlan)
	var doc ui.PlanDoc
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || r.code != 0 ||
		!slices.Equal(doc.NotTargeted, []ui.NotTargetedDoc{{Group: "web", Clones: 4, Changes: 4}}) || len(doc.Changes) != 2 {
		t.Fatalf("plan --json --target db: notTargeted %+v, %d changes (%v): %v", doc.NotTargeted, len(doc.Changes), err, r)
	}
	r = e.cli("apply", "--auto-approve", "--target", "db", e2ePlan)
	if r.code != 0 || !strings.Contains(r.stdout, notTargeted) {
		t.Fatalf("apply --target db: %v", r)
	}
	var names []string
	for name := range e.uuids() {
		names = append(names, name)
	}
	slices.Sort(names)
	if strings.Join(names, " ") != "lab-db-1 lab-db-2" {
		t.Errorf("after apply --target db the plan owns %v, want the db group only", names)
	}
	if r := e.cli("plan", e2ePlan); !strings.Contains(r.stdout, "Plan: 4 to create, 0 to replace, 0 to destroy.") {
		t.Errorf("the web group should still be to create: %v", r)
	}
	if r := e.cli("apply", "--auto-approve", "--target", "nosuch", e2ePlan); r.code != 1 || !strings.Contains(r.stderr, `--target "nosuch" is not a group of plan "lab" (its groups: web, db)`) {
		t.Errorf("an unknown group: %v", r)
	}
}

// plan --destroy shows what destroy would do and changes nothing; destroy
// without a terminal and without --auto-approve lists the same, then
// refuses.
func TestE2EDestroyPreview(t *testing.T) {
	e := newE2E(t, e2ePlan, sim.Options{})
	e.applied()
	before := snapshotOf(e.inventory())
	r := e.cli("plan", "--destroy", e2ePlan)
	if r.code != 0 || !strings.Contains(r.stdout, "Plan: 0 to create, 0 to replace, 6 to destroy.") || !strings.Contains(r.stdout, "lab-web-03") {
		t.Fatalf("plan --destroy: %v", r)
	}
	e.assertSame(before, "plan --destroy")
	report := filepath.Join(e.dir, "destroy.json")
	r = e.cli("destroy", "--report", report, e2ePlan)
	if r.code != ExitError || !strings.Contains(r.stdout, "6 to destroy") || !strings.Contains(r.stdout, "lab-db-2") ||
		!strings.Contains(r.stderr, "refusing to destroy without confirmation") {
		t.Fatalf("destroy without a terminal: %v", r)
	}
	e.assertSame(before, "destroy without confirmation")
	if rep := readReport(t, report); rep.Outcome != "error" || !strings.Contains(rep.Cause, "refusing to destroy") || len(rep.Actions) != 0 {
		t.Errorf("report of the refused destroy: %+v", rep)
	}
}

// An apply that would destroy every clone the plan owns, or more than half
// of them while creating fewer, is refused with the inventory unchanged,
// unless --allow-mass-destroy.
func TestE2EMassDestroyRefused(t *testing.T) {
	e := newE2E(t, e2ePlan, sim.Options{})
	e.applied()
	data, err := os.ReadFile(e2ePlan)
	if err != nil {
		t.Fatal(err)
	}
	variant := func(name, from, to string) string {
		path := filepath.Join(e.dir, name)
		if err := os.WriteFile(path, bytes.Replace(data, []byte(from), []byte(to), 1), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	data = bytes.Replace(data, []byte("count: 2"), []byte("count: {db}"), 1)
	emptied := variant("emptied.yaml", "count: 4", "count: 0")
	if err := os.WriteFile(emptied, bytes.ReplaceAll(mustRead(t, emptied), []byte("{db}"), []byte("0")), 0o644); err != nil {
		t.Fatal(err)
	}
	data = bytes.ReplaceAll(data, []byte("{db}"), []byte("2"))
	for _, tc := range []struct {
		name, path, says string
	}{
		{"every clone", emptied, "refusing to destroy 6 of the 6 clones"},
		{"more than half, creating fewer", variant("noweb.yaml", "count: 4", "count: 0"), "refusing to destroy 4 of the 6 clones"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := snapshotOf(e.inventory())
			r := e.cli("apply", "--auto-approve", tc.path)
			if r.code != ExitError || !strings.Contains(r.stderr, "--allow-mass-destroy") || !strings.Contains(r.stderr, tc.says) {
				t.Fatalf("apply: %v", r)
			}
			e.assertSame(before, "a refused mass destroy")
			if r := e.cli("plan", tc.path); r.code != 0 || !strings.Contains(r.stderr, "Warning: apply will refuse this plan") {
				t.Errorf("plan does not warn: %v", r)
			}
		})
	}
	// Three of six destroyed is not more than half: no refusal.
	half := variant("web1-db.yaml", "count: 4", "count: 1")
	if r := e.cli("plan", half); strings.Contains(r.stderr, "will refuse") {
		t.Errorf("3 of 6 is not more than half: %v", r)
	}
	if r := e.cli("apply", "--auto-approve", "--allow-mass-destroy", emptied); r.code != 0 {
		t.Fatalf("apply --allow-mass-destroy: %v", r)
	}
	if n := len(e.uuids()); n != 0 {
		t.Errorf("%d clones left after an allowed mass destroy", n)
	}
}

// holdLease takes the lab plan's lease in the simulator as holder says; the
// test releases it (or force-unlock removes it).
func (e *e2e) holdLease(holder vsphere.LeaseInfo, ttl time.Duration) *vsphere.Lease {
	e.t.Helper()
	ctx := context.Background()
	ops, err := e.client.Ops(ctx, "/Lab")
	if err != nil {
		e.t.Fatal(err)
	}
	holder.Plan = e.plan.Name
	l, err := ops.AcquireLease(ctx, holder, ttl)
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

// leaseHeld reports whether the lab plan's lease folder exists.
func (e *e2e) leaseHeld() bool {
	e.t.Helper()
	ctx := context.Background()
	ops, err := e.client.Ops(ctx, "/Lab")
	if err != nil {
		e.t.Fatal(err)
	}
	s, err := ops.ReadLease(ctx, e.plan.Name)
	if err != nil {
		e.t.Fatal(err)
	}
	return s.Held
}

// deadPID is the pid of a process of this machine that has ended.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// force-unlock shows the holder and releases a lease whose holder is gone;
// it refuses while the holder runs on this machine, and removes a
// holderless lease at once.
func TestE2EForceUnlock(t *testing.T) {
	e := newE2E(t, e2ePlan, sim.Options{})
	host, _ := os.Hostname()
	if r := e.cli("force-unlock", e2ePlan); r.code != 0 || !strings.Contains(r.stdout, `Plan "lab" holds no lease`) {
		t.Fatalf("force-unlock without a lease: %v", r)
	}
	for _, tc := range []struct {
		name     string
		setup    func() *vsphere.Lease
		args     []string
		code     int
		says     string
		released bool
	}{
		{"holderless", func() *vsphere.Lease {
			ctx := context.Background()
			finder := find.NewFinder(e.client.Vim, false)
			f, err := finder.Folder(ctx, "/Lab/vm")
			if err == nil {
				_, err = f.CreateFolder(ctx, vsphere.LeaseFolderPrefix+"lab")
			}
			if err != nil {
				t.Fatal(err)
			}
			return nil
		}, nil, 0, "has no holder recorded", true},
		{"holder alive here", func() *vsphere.Lease {
			return e.holdLease(vsphere.LeaseInfo{Run: "run-alive", Host: host, PID: os.Getpid(), User: "tester"}, time.Hour)
		}, nil, ExitError, "still runs on this machine", false},
		{"holder gone here", func() *vsphere.Lease {
			return e.holdLease(vsphere.LeaseInfo{Run: "run-dead", Host: host, PID: deadPID(t), User: "tester"}, time.Hour)
		}, nil, 0, "no longer runs on this machine", true},
		{"holder elsewhere, unconfirmed", func() *vsphere.Lease {
			return e.holdLease(vsphere.LeaseInfo{Run: "run-far", Host: "elsewhere.example", PID: 4242, User: "tester"}, time.Hour)
		}, nil, ExitError, "refusing to unlock plan \"lab\" without confirmation", false},
		{"holder elsewhere, --auto-approve", func() *vsphere.Lease {
			return e.holdLease(vsphere.LeaseInfo{Run: "run-far", Host: "elsewhere.example", PID: 4242, User: "tester"}, time.Hour)
		}, []string{"--auto-approve"}, 0, "run run-far, pid 4242 on elsewhere.example", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if l := tc.setup(); l != nil {
				defer func() { _ = l.Release(context.Background()) }()
			}
			r := e.cli(append(append([]string{"force-unlock"}, tc.args...), e2ePlan)...)
			if r.code != tc.code || !strings.Contains(r.stdout+r.stderr, tc.says) {
				t.Fatalf("want exit %d saying %q: %v", tc.code, tc.says, r)
			}
			if held := e.leaseHeld(); held == tc.released {
				t.Fatalf("lease held after force-unlock: %v, want %v", held, !tc.released)
			}
			if tc.released {
				if r := e.cli("apply", "--auto-approve", e2ePlan); r.code != 0 {
					t.Fatalf("apply after force-unlock: %v", r)
				}
				e.converged(e2ePlan)
			} else if r := e.cli("apply", "--auto-approve", e2ePlan); r.code != ExitLocked {
				t.Fatalf("apply while the lease is kept: %v", r)
			}
		})
	}
}

// apply --lock-wait waits for a held lease instead of exiting 5, and gives
// up with exit 5 when the wait runs out.
func TestE2ELockWait(t *testing.T) {
	e := newE2E(t, e2ePlan, sim.Options{})
	host, _ := os.Hostname()
	l := e.holdLease(vsphere.LeaseInfo{Run: "run-holder", Host: host, PID: os.Getpid()}, time.Hour)
	if r := e.cli("apply", "--auto-approve", "--lock-wait", "1s", e2ePlan); r.code != ExitLocked || !strings.Contains(r.stderr, "waited 1s (--lock-wait) for the lease") {
		t.Fatalf("apply --lock-wait 1s while held: %v", r)
	}
	cmd := e.command("apply", "--auto-approve", "--lock-wait", "10m", e2ePlan)
	var out bytes.Buffer
	cmd.Stdout = &out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	var errText strings.Builder
	waiting := false
	for sc.Scan() {
		errText.WriteString(sc.Text() + "\n")
		if !waiting && strings.Contains(sc.Text(), "Waiting up to 10m0s for the plan's lease") && strings.Contains(sc.Text(), "run-holder") {
			waiting = true
			if err := l.Release(context.Background()); err != nil {
				t.Error(err)
			}
		}
	}
	if err := cmd.Wait(); err != nil || !waiting {
		t.Fatalf("apply --lock-wait: %v, waited: %v\n%s\n%s", err, waiting, out.String(), errText.String())
	}
	e.converged(e2ePlan)
}

// Every run writes its report and metrics whatever its outcome, also when
// it ends before any change; a file that cannot be written makes a run
// that succeeded exit 7, and leaves a failed run's own exit code.
func TestE2EReportsEveryOutcome(t *testing.T) {
	e := newE2E(t, e2ePlan, sim.Options{})
	reportSchema, _ := outputSchemas(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "https://user:secret-pw@" + ln.Addr().String() + "/sdk"
	ln.Close()
	notDir := filepath.Join(e.dir, "a-file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	unwritable := filepath.Join(notDir, "out")
	for i, tc := range []struct {
		name    string
		env     []string // replaces the e2e environment's GOVC_URL when set
		prepare func()
		report  string // "" writes it into the test directory
		metrics string
		code    int
		outcome string
		says    string
	}{
		{name: "vCenter down", env: []string{"GOVC_URL=" + down}, code: ExitError, outcome: "error", says: ln.Addr().String()},
		{name: "success", code: 0, outcome: "success"},
		{name: "no changes", code: 0, outcome: "no-changes"},
		{name: "conflict", prepare: func() { e.addDecoy("/Lab/vm/lab", "lab-web-05") }, code: ExitError, outcome: "conflict", says: "name taken"},
		{name: "report unwritable after success", report: unwritable, code: ExitOutputs, says: "writing the report"},
		{name: "metrics unwritable after success", metrics: unwritable, code: ExitOutputs, says: "writing the metrics file"},
		{name: "report unwritable after vCenter down", env: []string{"GOVC_URL=" + down}, report: unwritable, code: ExitError, says: "writing the report"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.prepare != nil {
				tc.prepare()
			}
			planPath := e2ePlan
			if tc.outcome == "conflict" {
				planPath = trialPlan(t, e.dir, "a", 5)
			}
			report := cmp.Or(tc.report, filepath.Join(e.dir, fmt.Sprintf("report-%d.json", i)))
			metrics := cmp.Or(tc.metrics, filepath.Join(e.dir, fmt.Sprintf("metrics-%d.prom", i)))
			args := []string{"apply", "--auto-approve", "--report", report, "--metrics-file", metrics, planPath}
			var r result
			if tc.env != nil {
				r = e.cliEnv(tc.env, args...)
			} else {
				r = e.cli(args...)
			}
			if r.code != tc.code || !strings.Contains(r.stdout+r.stderr, tc.says) {
				t.Fatalf("want exit %d saying %q: %v", tc.code, tc.says, r)
			}
			if strings.Contains(r.stdout+r.stderr, "secret-pw") {
				t.Errorf("the password appears in the output: %v", r)
			}
			if tc.outcome == "" {
				return
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(mustRead(t, report)))
			if err != nil {
				t.Fatal(err)
			}
			if err := reportSchema.Validate(doc); err != nil {
				t.Errorf("the report does not match report.schema.json: %v", err)
			}
			rep := readReport(t, report)
			if string(rep.Outcome) != tc.outcome || (tc.code != 0 && !strings.Contains(rep.Cause, tc.says)) || rep.Actions == nil {
				t.Errorf("report: outcome %q cause %q actions %v; want outcome %q and a cause saying %q", rep.Outcome, rep.Cause, rep.Actions, tc.outcome, tc.says)
			}
			if data, _ := os.ReadFile(report); bytes.Contains(data, []byte("secret-pw")) {
				t.Errorf("the password appears in the report")
			}
			if m := mustRead(t, metrics); !bytes.Contains(m, []byte(`outcome="`+tc.outcome+`"} 1`)) {
				t.Errorf("metrics do not say outcome %s:\n%s", tc.outcome, m)
			}
		})
	}
}

// --sim is honest: status and destroy say that a fresh simulator holds
// nothing of the plan, a plan saved with plan --sim --out applies with
// apply --sim, and --sim runs leave no journal behind.
func TestSimHonest(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end CLI test")
	}
	dir := t.TempDir()
	state, tmp := filepath.Join(dir, "state"), filepath.Join(dir, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) result {
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), e2eMainEnv+"=1", "NO_COLOR=1", "XDG_STATE_HOME="+state, "TMPDIR="+tmp, "GOVC_URL=")
		return runCLI(t, cmd)
	}
	for _, args := range [][]string{{"status", "--sim", e2ePlan}, {"destroy", "--sim", "--auto-approve", e2ePlan}} {
		if r := run(args...); r.code != 0 || !strings.Contains(r.stderr, "fresh simulator") || !strings.Contains(r.stderr, "iclone-plan sim --seed PLAN") {
			t.Errorf("%v: %v", args, r)
		}
	}
	saved := filepath.Join(dir, "lab.plan")
	if r := run("plan", "--sim", "--out", saved, e2ePlan); r.code != 0 {
		t.Fatalf("plan --sim --out: %v", r)
	}
	if r := run("apply", "--sim", "--auto-approve", saved); r.code != 0 || !strings.Contains(r.stdout, "6 created") {
		t.Fatalf("apply --sim of a plan saved with --sim: %v", r)
	}
	if r := run("apply", "--sim", "--auto-approve", e2ePlan); r.code != 0 {
		t.Fatalf("apply --sim: %v", r)
	}
	for _, d := range []string{state, tmp} {
		_ = filepath.WalkDir(d, func(path string, de os.DirEntry, err error) error {
			if err == nil && path != d && (strings.HasSuffix(path, ".journal") || strings.HasPrefix(de.Name(), "iclone-plan-sim-")) {
				t.Errorf("a --sim run left %s behind", path)
			}
			return nil
		})
	}
}

// stallPlan is a plan whose clones wait for their guests (connected only
// once ready), so a run spends most of its time waiting, not changing.
const stallPlan = `version: 1
name: stall
datacenter: Lab
defaults:
  folder: /Lab/vm/stall
execution:
  parallelism: 3
  perSource: 3
  retries: 0
groups:
  - name: web
    source: /Lab/vm/golden/web
    count: 3
    cloneName: "stall-{index}"
    nics:
      - adapter: 1
        mac: "00:50:56:20:01:{index:02x}"
    ready: true
    connectAfterReady: true
    guestinfo:
      version: "{v}"
`

// A run paused (SIGSTOP) past its lease's lifetime, whose lease another
// run took over meanwhile, makes no change once it resumes: it stops,
// reports what it left, and exits 4.
func TestE2ELeaseLostAfterPause(t *testing.T) {
	dir := t.TempDir()
	planFile := func(v string) string {
		path := filepath.Join(dir, "stall-"+v+".yaml")
		if err := os.WriteFile(path, []byte(strings.ReplaceAll(stallPlan, "{v}", v)), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	planA, planB := planFile("a"), planFile("b")
	e := newE2E(t, planA, sim.Options{GuestReadyAfter: 8 * time.Second})
	report := filepath.Join(e.dir, "paused.json")
	first := e.command("apply", "--auto-approve", "--json", "--lease-ttl", "2s", "--journal", filepath.Join(e.dir, "first.journal"), "--report", report, planA)
	stdout, err := first.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	first.Stderr = &errb
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = first.Process.Signal(syscall.SIGCONT); _ = first.Process.Kill() }()
	// Once its three clone tasks exist, the first run only waits (for the
	// guests, eight seconds): pause it there.
	sc := bufio.NewScanner(stdout)
	started := 0
	var out strings.Builder
	for started < 3 && sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), `"type":"task-started"`) {
			started++
		}
	}
	if started < 3 {
		_ = first.Wait()
		t.Fatalf("the first run ended before its clone tasks started:\n%s\n%s", out.String(), errb.String())
	}
	if err := first.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	rest := make(chan string)
	go func() {
		var b strings.Builder
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
		}
		rest <- b.String()
	}()
	// Past the lease's lifetime (by the wall clock, which the second run
	// judges it by), another run takes it over and replaces the clones.
	time.Sleep(3 * time.Second)
	if r := e.cli("apply", "--auto-approve", "--journal", filepath.Join(e.dir, "second.journal"), planB); r.code != 0 || !strings.Contains(r.stdout, "3 replaced") {
		t.Fatalf("the second run: %v", r)
	}
	after := snapshotOf(e.inventory())

	if err := first.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	out.WriteString(<-rest)
	_ = first.Wait()
	if code := first.ProcessState.ExitCode(); code != ExitRollbackFailed {
		t.Fatalf("the resumed run exited %d, want %d:\n%s\n%s", code, ExitRollbackFailed, out.String(), errb.String())
	}
	e.assertSame(after, "the run resumed after losing its lease")
	rep := readReport(t, report)
	if rep.Outcome != executor.OutcomeRollbackIncomplete || !strings.Contains(rep.Cause, "lease") || len(rep.Leftover) == 0 {
		t.Fatalf("report of the resumed run: outcome %s, cause %q, leftover %+v", rep.Outcome, rep.Cause, rep.Leftover)
	}
	for _, l := range rep.Leftover {
		if !strings.Contains(l.What, "lease") {
			t.Errorf("leftover %s: %s, want the lost lease as the reason", l.Name, l.What)
		}
	}
	e.converged(planB)
}

// A plan saved with --target applies only its groups; a saved plan refuses
// a --target or --replace of its own.
func TestE2ETargetSaved(t *testing.T) {
	e := newE2E(t, e2ePlan, sim.Options{})
	saved := filepath.Join(e.dir, "db.plan")
	if r := e.cli("plan", "--target", "db", "--out", saved, e2ePlan); r.code != 0 {
		t.Fatalf("plan --target db --out: %v", r)
	}
	before := snapshotOf(e.inventory())
	if r := e.cli("apply", "--auto-approve", "--target", "web", saved); r.code != ExitError || !strings.Contains(r.stderr, "is a saved plan: it applies the --replace and --target it was planned with") {
		t.Fatalf("apply --target of a saved plan: %v", r)
	}
	e.assertSame(before, "a refused --target of a saved plan")
	if r := e.cli("apply", "--auto-approve", saved); r.code != 0 || !strings.Contains(r.stdout, "group web: 4 clone(s), 4 change(s) not made") {
		t.Fatalf("apply of the saved plan: %v", r)
	}
	var names []string
	for name := range e.uuids() {
		names = append(names, name)
	}
	slices.Sort(names)
	if strings.Join(names, " ") != "lab-db-1 lab-db-2" {
		t.Errorf("after applying a plan saved with --target db the plan owns %v", names)
	}
}
