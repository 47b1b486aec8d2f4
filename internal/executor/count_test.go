package executor_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/iclone-plan/iclone-plan/internal/cloud"
	"github.com/iclone-plan/iclone-plan/internal/executor"
	"github.com/iclone-plan/iclone-plan/internal/plan"
	"github.com/iclone-plan/iclone-plan/internal/sim"
)

// failingDestroys is the real Cloud, except that destroying one of refs
// fails with a permanent fault.
type failingDestroys struct {
	executor.Cloud
	refs map[string]bool
}

func (c failingDestroys) Destroy(ctx context.Context, vm string) error {
	if c.refs[vm] {
		return &cloud.Fault{Class: cloud.Permanent, Name: "SystemError", Err: errors.New("injected: destroy of " + vm)}
	}
	return c.Cloud.Destroy(ctx, vm)
}

// TestReplaceCountsOnce applies a plan that changes every clone (a new
// guestinfo version) against the simulator, and checks how the report and
// the progress count it: a replace is one action whose old clone's destroy
// is a step of it (no destroy action of a NAME~old-RUN); the progress
// total counts every step (a replace twice) and, on success, the finish
// event has every step done. When the old clones' destroys fail, each
// replace fails by its step, the old clone is a leftover, and the progress
// counts those steps as failed.
func TestReplaceCountsOnce(t *testing.T) {
	for _, tc := range []struct {
		name       string
		failOld    bool
		wantState  executor.ActionState
		wantResult executor.Outcome
	}{
		{"old clones destroyed", false, executor.ActionDone, executor.OutcomeSuccess},
		{"old clones' destroys fail", true, executor.ActionFailed, executor.OutcomePartial},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, sim.Options{})
			if _, _, err := l.apply(t, parse(t, "1"), context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			p := parse(t, "2")
			ch := plan.Diff(p, l.inventory(t), plan.Options{})
			n := ch.Count(plan.Replace)
			if n != p.NumClones() || ch.Count(plan.Destroy) != 0 {
				t.Fatalf("a new version: %d replaces, %d destroys; want every clone replaced", n, ch.Count(plan.Destroy))
			}
			old := map[string]bool{}
			for _, it := range ch.Items {
				old[it.Current.Ref] = true
			}
			c := executor.Cloud(l.ops)
			if tc.failOld {
				c = failingDestroys{l.ops, old}
			}
			var mu sync.Mutex
			var start, finish executor.Progress
			opts := executor.OptionsFrom(p.Execution, "run-count")
			opts.Hooks.Event = func(e executor.Event) {
				mu.Lock()
				defer mu.Unlock()
				switch e.Type {
				case executor.EventStart:
					start = e.Progress
				case executor.EventFinish:
					finish = e.Progress
				}
			}
			rep, err := executor.Run(context.Background(), ch, c, opts)
			if rep.Outcome != tc.wantResult || (err == nil) != (tc.wantResult == executor.OutcomeSuccess) {
				t.Fatalf("outcome %s (%v), want %s", rep.Outcome, err, tc.wantResult)
			}
			replaces := 0
			for _, a := range rep.Actions {
				if a.Op != executor.OpReplace {
					t.Errorf("action %s %s: a replace-only run has only replace actions", a.Op, a.Name)
					continue
				}
				replaces++
				if a.State != tc.wantState || len(a.Steps) != 1 {
					t.Errorf("%s: state %s with steps %+v, want %s with the old clone's destroy", a.Name, a.State, a.Steps, tc.wantState)
					continue
				}
				st := a.Steps[0]
				if st.Op != executor.OpDestroy || st.VM != a.OldVM || !old[st.VM] || !strings.HasPrefix(st.Name, a.Name+"~old-") || st.Finished.Before(st.Started) {
					t.Errorf("%s: step %+v, want the destroy of %s", a.Name, st, a.OldVM)
				}
				if (st.Error != "") != tc.failOld {
					t.Errorf("%s: step error %q", a.Name, st.Error)
				}
				if a.Host == "" || a.Queued.IsZero() || a.Tasks == nil {
					t.Errorf("%s: host %q, queued %v, tasks %v: not recorded", a.Name, a.Host, a.Queued, a.Tasks)
				}
			}
			if replaces != n {
				t.Errorf("%d replace actions, want %d", replaces, n)
			}
			if start.Total != 2*n || finish.Total != 2*n {
				t.Errorf("progress totals %d at the start, %d at the end; want %d (each replace is two steps)", start.Total, finish.Total, 2*n)
			}
			wantDone, wantFailed := 2*n, 0
			if tc.failOld {
				wantDone, wantFailed = n, n
			}
			if finish.Done != wantDone || finish.Failed != wantFailed || finish.InFlight != 0 {
				t.Errorf("progress at the finish %+v, want %d done and %d failed", finish, wantDone, wantFailed)
			}
			if left := len(rep.Leftover); (left == n) != tc.failOld || (left == 0) == tc.failOld {
				t.Errorf("%d leftovers: %+v", left, rep.Leftover)
			}
			if rep.Rollback == nil || rep.Leftover == nil || rep.Execution == nil {
				t.Error("the report's lists and execution must be present")
			}
		})
	}
}
