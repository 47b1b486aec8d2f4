package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/iclone-plan/iclone-plan/internal/executor"
	"github.com/iclone-plan/iclone-plan/internal/plan"
	"github.com/iclone-plan/iclone-plan/internal/sim"
	"github.com/iclone-plan/iclone-plan/internal/vsphere"
)

// convergedNow is converged without a CLI run: the plan, diffed in-process
// against the live inventory, has no changes and no conflicts; exactly the
// plan's clones carry its marker, none of them half-way through a run; no
// two connected NICs share a MAC.
func (e *e2e) convergedNow(planPath string) {
	e.t.Helper()
	p, err := loadPlan(planPath)
	if err != nil {
		e.t.Fatal(err)
	}
	inv := e.inventory()
	ch := plan.Diff(p, inv, plan.Options{})
	if ch.Err() != nil || ch.HasChanges() {
		var b strings.Builder
		for _, it := range ch.Items {
			if it.Action != plan.NoOp {
				fmt.Fprintf(&b, "  %s %s %s\n", it.Action, it.Name, it.Reason)
			}
		}
		e.t.Fatalf("not converged to %s (%v):\n%s", planPath, ch.Err(), b.String())
	}
	e.ownsExactly(p, inv)
}

// readReport reads an apply report.
func readReport(t *testing.T, path string) *executor.Report {
	t.Helper()
	var rep executor.Report
	data, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(data, &rep) != nil {
		t.Fatalf("report %s: %v\n%s", path, err, data)
	}
	return &rep
}

// trialPlan writes a variant of the lab plan: spec version v (in the
// clones' guestinfo, so a new version replaces every clone) and web count,
// with the shortest task timeout, 10s.
func trialPlan(t *testing.T, dir, v string, webCount int) string {
	t.Helper()
	return labVariant(t, dir, fmt.Sprintf("lab-%s-%d.yaml", v, webCount),
		`hostname: "{name}"`, `hostname: "{name}-`+v+`"`,
		"count: 4", fmt.Sprintf("count: %d", webCount),
		// Rollback and commit steps retry transient faults for up to the
		// task timeout: keep faults that never end short.
		"retries: 0", "retries: 0\n  taskTimeout: 10s")
}

// outcomeOK checks what a run that met faults left: exit 0 and the plan
// converged, or exit 3 and the inventory exactly as before the run, or
// exit 4 with a report that lists what is left, or exit 6 when only the
// irreversible commit (destroying replaced clones) failed, with the VMs
// left listed.
func (e *e2e) outcomeOK(what string, r result, report, planPath string, before map[string]string) {
	e.t.Helper()
	switch r.code {
	case ExitOK:
		e.convergedNow(planPath)
	case ExitRolledBack:
		if d := snapshotDiff(before, e.fullSnapshot()); d != "" {
			e.t.Errorf("%s: rolled back (exit 3) but the inventory changed:\n%s%v", what, d, r)
		}
		if rep := readReport(e.t, report); rep.Outcome != executor.OutcomeRolledBack || len(rep.Leftover) != 0 || rep.Cause == "" {
			e.t.Errorf("%s: exit 3 but the report says %s with %d leftovers, cause %q", what, rep.Outcome, len(rep.Leftover), rep.Cause)
		}
		if !strings.Contains(r.stdout, "Apply failed and was rolled back") {
			e.t.Errorf("%s: exit 3 without saying so:\n%v", what, r)
		}
	case ExitRollbackFailed:
		rep := readReport(e.t, report)
		if rep.Outcome != executor.OutcomeRollbackIncomplete || len(rep.Leftover) == 0 {
			e.t.Errorf("%s: exit 4 but the report says %s with %d leftovers", what, rep.Outcome, len(rep.Leftover))
		}
		for _, l := range rep.Leftover {
			if !strings.Contains(r.stdout+r.stderr, l.Name) {
				e.t.Errorf("%s: exit 4 and the output does not name the leftover %s:\n%v", what, l.Name, r)
			}
		}
		// Whatever differs from before the run is in the report.
		after := e.fullSnapshot()
		for k, v := range after {
			if before[k] == v {
				continue
			}
			if k == "folder /Lab/vm/"+vsphere.LeaseFolderPrefix+"lab" {
				// The lock, not a change: it expires, and the CLI warns.
				if !strings.Contains(r.stderr, "lease (folder iclone-lease-lab) could not be released") {
					e.t.Errorf("%s: the lease was left without a warning:\n%v", what, r)
				}
				continue
			}
			listed := false
			for _, l := range rep.Leftover {
				ref, _, _ := strings.Cut(v, " ")
				listed = listed || l.Name == strings.TrimPrefix(k, "folder ") || l.Name == filepath.Base(k) || (l.VM != "" && l.VM == ref)
			}
			if !listed {
				e.t.Errorf("%s: exit 4 but the report does not list %s (%s); it lists %+v", what, k, v, rep.Leftover)
			}
		}
	case ExitPartial:
		// Only the commit can end so: every clone is made and swapped in,
		// and destroying what they replace (or what the plan no longer
		// has), which cannot be undone, failed. The report lists each VM
		// left; each carries the plan's marker, so the next apply
		// destroys it. A replaced clone's destroy is a step of its replace
		// action: such a replace fails by that step, after its swap.
		rep := readReport(e.t, report)
		for _, a := range rep.Failed() {
			commitStep := a.Op == "replace" && len(a.Steps) == 1 && a.Steps[0].Op == "destroy" && a.Steps[0].Error != "" && a.Steps[0].VM == a.OldVM
			if a.Op != "destroy" && !commitStep {
				e.t.Errorf("%s: exit 6 with a failed %s %s (steps %+v); only commit destroys may fail so", what, a.Op, a.Name, a.Steps)
			}
		}
		if rep.Outcome != executor.OutcomePartial || len(rep.Leftover) == 0 {
			e.t.Errorf("%s: exit 6 but the report says %s with %d leftovers", what, rep.Outcome, len(rep.Leftover))
		}
		p, err := loadPlan(planPath)
		if err != nil {
			e.t.Fatal(err)
		}
		inv := e.inventory()
		for _, l := range rep.Leftover {
			if !strings.Contains(r.stdout, l.Name) {
				e.t.Errorf("%s: exit 6 and the output does not name the leftover %s", what, l.Name)
			}
			for _, vm := range inv.VMs {
				if vm.Ref == l.VM && !vm.Owned(p.Name) {
					e.t.Errorf("%s: leftover %s (%s) does not carry the plan's marker", what, l.Name, l.VM)
				}
			}
		}
		for _, it := range plan.Diff(p, inv, plan.Options{}).Items {
			if it.Action != plan.NoOp && it.Action != plan.Destroy {
				e.t.Errorf("%s: exit 6 but %s %s is still to do", what, it.Action, it.Name)
			}
		}
	default:
		e.t.Errorf("%s: exit %d, want 0, 3, 4 or 6:\n%v", what, r.code, r)
	}
}

// TestHardeningTaskFaults: 50 trials of applies (creates, replaces and
// destroys) with instant clone tasks failing at seeded random positions
// and rates, half of them leaving a half-made VM behind. Each run either
// converges (exit 0) or leaves the inventory exactly as it was (exit 3);
// VMs the plan does not own are never modified; the next apply, without
// faults, converges.
func TestHardeningTaskFaults(t *testing.T) {
	const trials = 50
	rng := rand.New(rand.NewSource(8))
	codes := map[int]int{}
	var injected int64
	for half, leave := range []bool{false, true} {
		var faults sim.SeededFaults
		e := newE2E(t, e2ePlan, sim.Options{FailWhen: faults.Fail, FailLeaveVM: leave})
		dir := t.TempDir()
		start := trialPlan(t, dir, "a", 4)
		if r := e.cli("apply", "--auto-approve", start); r.code != 0 {
			t.Fatal(r)
		}
		e.addDecoy("/Lab/vm/lab", "lab-web-99", "00:50:56:3f:00:99")
		e.addDecoy("/Lab/vm", "bystander")
		for i := range trials / 2 {
			trial := half*trials/2 + i
			planPath := trialPlan(t, dir, []string{"a", "b", "c"}[rng.Intn(3)], 2+rng.Intn(3))
			rate := 0.05 + 0.45*rng.Float64()
			seed := rng.Int63()
			what := fmt.Sprintf("trial %d (seed %d, rate %.2f, leave VM %v, %s)", trial, seed, rate, leave, filepath.Base(planPath))

			before := e.fullSnapshot()
			report := filepath.Join(dir, fmt.Sprintf("report-%d.json", trial))
			faults.Reseed(seed, rate)
			r := e.cli("apply", "--auto-approve", "--report", report, planPath)
			faults.Reseed(0, 0)
			codes[r.code]++
			if r.code == ExitRollbackFailed {
				t.Errorf("%s: a task fault left the rollback incomplete:\n%v", what, r)
			}
			e.outcomeOK(what, r, report, planPath, before)
			if d := snapshotDiff(foreign(before, "lab"), foreign(e.fullSnapshot(), "lab")); d != "" {
				t.Fatalf("%s modified VMs the plan does not own:\n%s", what, d)
			}
			if r := e.cli("apply", "--auto-approve", planPath); r.code != 0 {
				t.Fatalf("%s: the follow-up apply: %v", what, r)
			}
			e.convergedNow(planPath)
		}
		injected += faults.Injected()
	}
	if codes[ExitOK] == 0 || codes[ExitRolledBack] == 0 {
		t.Errorf("outcomes %v: the schedule should give both successes and rollbacks", codes)
	}
	t.Logf("%d trials: %d succeeded, %d rolled back (exit 3), %d incomplete (exit 4); %d task faults injected; every follow-up apply converged; no VM without the plan's marker modified",
		trials, codes[ExitOK], codes[ExitRolledBack], codes[ExitRollbackFailed], injected)
}

// startCLI starts the CLI and returns a channel of its stdout lines and a
// function that waits for it to end.
func (e *e2e) startCLI(args ...string) (<-chan string, func() result) {
	e.t.Helper()
	cmd := e.command(args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	lines := make(chan string, 1000)
	var out strings.Builder
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	return lines, func() result {
		<-done
		_ = cmd.Wait()
		return result{cmd.ProcessState.ExitCode(), out.String(), errb.String()}
	}
}

// waitLine waits for a line containing s; wait is the CLI's.
func waitLine(t *testing.T, lines <-chan string, wait func() result, s string) {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the CLI ended before printing %q: %v", s, wait())
			}
			if strings.Contains(l, s) {
				return
			}
		case <-timeout:
			t.Fatalf("no %q in 60s", s)
		}
	}
}

// TestHardeningSOAPFaults: govmomi's fault rules fail the SOAP calls of
// every step of an apply (the clone itself, the swap's reconfigure and
// renames, power-off and destroy in rollback and commit), at the first
// call or later ones, once or from then on. Each run ends as outcomeOK
// says; VMs the plan does not own are never modified; with the rule
// cleared, the next apply converges.
func TestHardeningSOAPFaults(t *testing.T) {
	e := newE2E(t, e2ePlan, sim.Options{})
	dir := t.TempDir()
	versions := []string{"a", "b"}
	if r := e.cli("apply", "--auto-approve", trialPlan(t, dir, "a", 4)); r.code != 0 {
		t.Fatal(r)
	}
	e.addDecoy("/Lab/vm/lab", "lab-web-99", "00:50:56:3f:00:99")
	e.addDecoy("/Lab/vm", "bystander")
	methods := []string{"InstantClone_Task", "ReconfigVM_Task", "Rename_Task", "PowerOffVM_Task", "Destroy_Task"}

	codes := map[int]int{}
	n := 0
	for _, m := range methods {
		for _, skip := range []int{0, 2} {
			for _, once := range []bool{true, false} {
				v := versions[(n+1)%2] // every run replaces every clone
				planPath := trialPlan(t, dir, v, 3+n%2)
				rule := &simulator.FaultInjectionRule{MethodName: m, ObjectType: "VirtualMachine", ObjectName: "*",
					Probability: 1, Fault: &types.SystemError{Reason: "injected by a fault rule"}, FaultType: simulator.FaultTypeCustom, SkipCount: skip, Enabled: true}
				if once {
					// A hiccup: transient, once.
					rule.Fault, rule.MaxCount = &types.ResourceInUse{}, 1
				}
				what := fmt.Sprintf("%s fails (%T) after %d calls, once=%v", m, rule.Fault, skip, once)
				n++
				before := e.fullSnapshot()
				report := filepath.Join(dir, fmt.Sprintf("report-%d.json", n))
				e.sim.Service().AddFaultRule(rule)
				r := e.cli("apply", "--auto-approve", "--report", report, planPath)
				e.sim.Service().ClearFaultRules()
				codes[r.code]++
				e.outcomeOK(what, r, report, planPath, before)
				if d := snapshotDiff(foreign(before, "lab"), foreign(e.fullSnapshot(), "lab")); d != "" {
					t.Fatalf("%s modified VMs the plan does not own:\n%s", what, d)
				}
				if r := e.cli("apply", "--auto-approve", planPath); r.code != 0 {
					t.Fatalf("%s: the follow-up apply: %v", what, r)
				}
				e.convergedNow(planPath)
			}
		}
	}
	t.Logf("%d SOAP fault rules (%d methods × 2 positions × once/always): %d succeeded, %d rolled back (exit 3), %d rollback incomplete (exit 4), %d commit incomplete (exit 6), leftovers reported; every follow-up apply converged",
		n, len(methods), codes[ExitOK], codes[ExitRolledBack], codes[ExitRollbackFailed], codes[ExitPartial])
}

// TestHardeningSessionExpiry: vCenter ends the CLI's session (as an idle
// timeout or an administrator would) several times during an apply; the
// CLI logs in again and the apply succeeds.
func TestHardeningSessionExpiry(t *testing.T) {
	// Clones long enough that sessions end while tasks are in flight.
	e := newE2E(t, e2ePlan, sim.Options{Latency: 400 * time.Millisecond})
	ctx := context.Background()
	own, err := session.NewManager(e.client.Vim).UserSession(ctx)
	if err != nil || own == nil {
		t.Fatal(own, err)
	}
	terminate := func() int {
		var sm mo.SessionManager
		if err := property.DefaultCollector(e.client.Vim).RetrieveOne(ctx, *e.client.Vim.ServiceContent.SessionManager, []string{"sessionList"}, &sm); err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, s := range sm.SessionList {
			if s.Key != own.Key {
				keys = append(keys, s.Key)
			}
		}
		if len(keys) > 0 {
			if err := session.NewManager(e.client.Vim).TerminateSession(ctx, keys); err != nil {
				t.Fatal(err)
			}
		}
		return len(keys)
	}
	lines, wait := e.startCLI("apply", "--auto-approve", e2ePlan)
	ended := 0
	for _, at := range []string{"applying:", " created lab-", "[5/8]", "[7/8]"} {
		waitLine(t, lines, wait, at)
		ended += terminate()
	}
	r := wait()
	if r.code != 0 {
		t.Fatalf("apply with %d sessions ended under it: %v", ended, r)
	}
	if ended < 4 {
		t.Errorf("only %d sessions ended", ended)
	}
	e.convergedNow(e2ePlan)
	t.Logf("4 session expiries during an apply (%d sessions ended): re-login, apply succeeded and converged", ended)
}

// TestHardeningOutage: the simulator stops serving in the middle of an
// apply whose clones fail meanwhile (the model lives on, tasks in flight
// keep running). When it is back within the task timeout the rollback
// completes (exit 3, inventory as before); when it is not, the apply ends
// with exit 4 and a report of what is left. Either way the next apply,
// once vCenter is back, converges and nothing the plan does not own was
// touched.
func TestHardeningOutage(t *testing.T) {
	for _, back := range []bool{true, false} {
		t.Run(fmt.Sprintf("back=%v", back), func(t *testing.T) {
			e := newE2E(t, e2ePlan, sim.Options{Latency: 300 * time.Millisecond})
			dir := t.TempDir()
			planPath := labVariant(t, dir, "lab.yaml", "retries: 0", "retries: 1\n  taskTimeout: 10s")
			e.addDecoy("/Lab/vm", "bystander")
			before := e.fullSnapshot()
			report := filepath.Join(dir, "report.json")
			lines, wait := e.startCLI("apply", "--auto-approve", "--report", report, planPath)
			waitLine(t, lines, wait, " created lab-")
			if err := e.sim.Pause(); err != nil {
				t.Fatal(err)
			}
			var r result
			if back {
				time.Sleep(1500 * time.Millisecond)
				if err := e.sim.Resume(); err != nil {
					t.Fatal(err)
				}
				r = wait()
			} else {
				r = wait()
				if err := e.sim.Resume(); err != nil {
					t.Fatal(err)
				}
			}
			e.outcomeOK("outage", r, report, planPath, before)
			switch {
			case back && r.code != ExitRolledBack && r.code != ExitOK:
				t.Errorf("vCenter came back within the task timeout, yet exit %d:\n%v", r.code, r)
			case !back && r.code != ExitRollbackFailed:
				t.Errorf("vCenter did not come back, yet exit %d:\n%v", r.code, r)
			}
			t.Logf("simulator stopped mid-run, back after 1.5s: %v: exit %d, %d left in the report", back, r.code, len(readReport(t, report).Leftover))
			if d := snapshotDiff(foreign(before, "lab"), foreign(e.fullSnapshot(), "lab")); d != "" {
				t.Fatalf("the outage run modified VMs the plan does not own:\n%s", d)
			}
			if r := e.cli("apply", "--auto-approve", planPath); r.code != 0 {
				t.Fatalf("the follow-up apply: %v", r)
			}
			e.convergedNow(planPath)
		})
	}
}
