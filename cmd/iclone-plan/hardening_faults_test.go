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

	"github.com/iclone-plan/iclone-plan/internal/executor"
	"github.com/iclone-plan/iclone-plan/internal/inventory"
	"github.com/iclone-plan/iclone-plan/internal/plan"
	"github.com/iclone-plan/iclone-plan/internal/sim"
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
// clones' guestinfo, so a new version replaces every clone) and web count.
func trialPlan(t *testing.T, dir, v string, webCount int) string {
	t.Helper()
	return labVariant(t, dir, fmt.Sprintf("lab-%s-%d.yaml", v, webCount),
		`hostname: "{name}"`, `hostname: "{name}-`+v+`"`,
		"count: 4", fmt.Sprintf("count: %d", webCount))
}

// outcomeOK checks what a run that met faults left: exit 0 and the plan
// converged, or exit 3 and the inventory exactly as before the run, or
// exit 4 with a report that lists what is left. It returns the exit code.
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
	default:
		e.t.Errorf("%s: exit %d, want 0, 3 or 4:\n%v", what, r.code, r)
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

// waitLine waits for a line containing s.
func waitLine(t *testing.T, lines <-chan string, s string) {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the CLI ended before printing %q", s)
			}
			if strings.Contains(l, s) {
				return
			}
		case <-timeout:
			t.Fatalf("no %q in 60s", s)
		}
	}
}

var _ = context.Background
