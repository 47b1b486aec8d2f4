package executor_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/iclone-plan/iclone-plan/internal/executor"
	"github.com/iclone-plan/iclone-plan/internal/plan"
	"github.com/iclone-plan/iclone-plan/internal/sim"
)

// A failed journal record is a failure of the run, not of one clone: the
// run stops submitting and rolls back even under onFailure: continue, with
// the journal's error as its cause, and the inventory is as before.
func TestJournalFailureRollsBack(t *testing.T) {
	for _, onFailure := range []string{plan.OnFailureRollback, plan.OnFailureContinue} {
		t.Run(onFailure, func(t *testing.T) {
			l := newLab(t, sim.Options{})
			p := parse(t, "1")
			p.Execution.OnFailure = onFailure
			before := snapshot(l.inventory(t))
			full := errors.New("no space left on device")
			var mu sync.Mutex
			var recorded []string
			_, rep, err := l.apply(t, p, context.Background(), func(o *executor.Options) {
				o.Hooks.Journal = func(op executor.Op, name, task string) error {
					mu.Lock()
					defer mu.Unlock()
					recorded = append(recorded, task)
					if len(recorded) >= 2 {
						return full
					}
					return nil
				}
			})
			var re *executor.RunError
			if !errors.As(err, &re) || re.Outcome != executor.OutcomeRolledBack || !errors.Is(err, full) ||
				!strings.Contains(rep.Cause, "in the journal: no space left on device") {
				t.Fatalf("err = %v, cause %q; want a rollback caused by the journal", err, rep.Cause)
			}
			if d := diffSnapshots(before, snapshot(l.inventory(t))); d != "" {
				t.Errorf("the rollback left changes:\n%s", d)
			}
			if len(recorded) >= 6 {
				t.Errorf("%d tasks were submitted after the journal failed; want fewer than all 6", len(recorded))
			}
		})
	}
}
