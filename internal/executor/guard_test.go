package executor_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iclone-plan/iclone-plan/internal/cloud"
	"github.com/iclone-plan/iclone-plan/internal/executor"
	"github.com/iclone-plan/iclone-plan/internal/plan"
	"github.com/iclone-plan/iclone-plan/internal/sim"
)

// afterTrip is the real Cloud, failing the test for every call that changes
// the inventory once the guard has refused one.
type afterTrip struct {
	executor.Cloud
	t       *testing.T
	tripped *atomic.Bool
}

func (c afterTrip) reached(call string) {
	if c.tripped.Load() {
		c.t.Errorf("%s reached vCenter after the guard refused a call", call)
	}
}

func (c afterTrip) EnsureFolder(ctx context.Context, path string) (bool, error) {
	c.reached("EnsureFolder " + path)
	return c.Cloud.EnsureFolder(ctx, path)
}

func (c afterTrip) RemoveFolder(ctx context.Context, path string) error {
	c.reached("RemoveFolder " + path)
	return c.Cloud.RemoveFolder(ctx, path)
}

func (c afterTrip) InstantClone(ctx context.Context, req *cloud.CloneRequest, started func(string)) (string, error) {
	c.reached("InstantClone " + req.Name)
	return c.Cloud.InstantClone(ctx, req, started)
}

func (c afterTrip) Destroy(ctx context.Context, vm string) error {
	c.reached("Destroy " + vm)
	return c.Cloud.Destroy(ctx, vm)
}

func (c afterTrip) Rename(ctx context.Context, vm, name string) error {
	c.reached("Rename " + vm)
	return c.Cloud.Rename(ctx, vm, name)
}

func (c afterTrip) Reconfigure(ctx context.Context, vm string, change *cloud.VMChange) error {
	c.reached("Reconfigure " + vm)
	return c.Cloud.Reconfigure(ctx, vm, change)
}

// A guard that refuses (a lost lease) stops the run: no call that changes
// the inventory reaches vCenter after the refusal, rollback included, and
// the report lists every change the run made as left, which the inventory
// still holds.
func TestGuardStopsEveryChange(t *testing.T) {
	errLost := errors.New("lease lost")
	for _, tc := range []struct {
		name      string
		allowed   int64 // mutating calls the guard lets through
		outcome   executor.Outcome
		leftovers int
	}{
		// The first call (a folder) is refused: nothing was changed.
		{"first call refused", 0, executor.OutcomeRolledBack, 0},
		// Two folders and one clone made, then refused: all three are left.
		{"refused mid-run", 3, executor.OutcomeRollbackIncomplete, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, sim.Options{})
			before := snapshot(l.inventory(t))
			p := parse(t, "a")
			ch := plan.Diff(p, l.inventory(t), plan.Options{})
			var calls atomic.Int64
			var tripped atomic.Bool
			opts := executor.OptionsFrom(p.Execution, "run-guard")
			opts.Parallelism = 1 // one call at a time: "after the refusal" is well defined
			opts.Guard = func() error {
				if calls.Add(1) > tc.allowed {
					tripped.Store(true)
					return errLost
				}
				return nil
			}
			rep, err := executor.Run(context.Background(), ch, afterTrip{l.ops, t, &tripped}, opts)
			var re *executor.RunError
			if !errors.As(err, &re) || re.Outcome != tc.outcome || !errors.Is(err, executor.ErrGuard) || !errors.Is(err, errLost) {
				t.Fatalf("Run: %v (outcome %v), want outcome %s caused by the guard", err, rep.Outcome, tc.outcome)
			}
			if len(rep.Leftover) != tc.leftovers {
				t.Errorf("report leaves %d changes, want %d: %+v", len(rep.Leftover), tc.leftovers, rep.Leftover)
			}
			after := l.inventory(t)
			if tc.leftovers == 0 {
				if d := diffSnapshots(before, snapshot(after)); d != "" {
					t.Errorf("a run refused at its first call changed the inventory:\n%s", d)
				}
			}
			for _, lo := range rep.Leftover {
				if lo.VM == "" {
					continue // a folder
				}
				found := false
				for _, vm := range after.VMs {
					found = found || vm.Ref == lo.VM
				}
				if !found {
					t.Errorf("the report leaves %s (%s), which the inventory does not have", lo.Name, lo.VM)
				}
			}
			for _, a := range rep.Actions {
				if a.State == executor.ActionQueued {
					t.Errorf("action %s %s still queued", a.Op, a.Name)
				}
			}
		})
	}
}

// A run whose guard refuses while its clones wait for their guests stops
// waiting (it does not sit out the ready timeout), makes no further
// change, and leaves every clone it made, as its report says.
func TestGuardStopsGuestWaits(t *testing.T) {
	l := newLab(t, sim.Options{GuestReadyAfter: time.Hour})
	p := readyPlan(t, true, "1h")
	ch := plan.Diff(p, l.inventory(t), plan.Options{})
	var started atomic.Int64
	var tripped atomic.Bool
	opts := executor.OptionsFrom(p.Execution, "run-guard-wait")
	// Once every clone task exists, the run only waits for guests: the
	// guard refuses from then on.
	opts.Hooks.Event = func(e executor.Event) {
		if e.Type == executor.EventTaskStarted && started.Add(1) == int64(p.NumClones()) {
			tripped.Store(true)
		}
	}
	opts.Guard = func() error {
		if tripped.Load() {
			return errors.New("lease lost")
		}
		return nil
	}
	rep, err := executor.Run(context.Background(), ch, afterTrip{l.ops, t, &tripped}, opts)
	var re *executor.RunError
	if !errors.As(err, &re) || re.Outcome != executor.OutcomeRollbackIncomplete || !errors.Is(err, executor.ErrGuard) {
		t.Fatalf("Run: %v, want rollback-incomplete caused by the guard", err)
	}
	clones := 0
	for _, lo := range rep.Leftover {
		if lo.VM != "" {
			clones++
		}
	}
	if clones != p.NumClones() {
		t.Errorf("the report leaves %d clones, want %d: %+v", clones, p.NumClones(), rep.Leftover)
	}
	owned := 0
	for _, vm := range l.inventory(t).VMs {
		if vm.Owned(p.Name) {
			owned++
			for _, n := range vm.NICs {
				if n.Connected {
					t.Errorf("%s: NIC %s connected though its guest never became ready", vm.Path, n.MAC)
				}
			}
		}
	}
	if owned != p.NumClones() {
		t.Errorf("%d clones in the inventory, want the %d the run made and left", owned, p.NumClones())
	}
}
