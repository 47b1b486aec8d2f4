package executor

import (
	"context"
	"time"

	"github.com/iclone-plan/iclone-plan/internal/cloud"
)

// persistDefault is how long rollback and commit retry transient faults
// when the run has no task timeout.
const persistDefault = 2 * time.Minute

// persistDeadline is the time until which the rollback or commit starting
// now retries transient faults: the task timeout from now.
func (r *runner) persistDeadline() time.Time {
	patience := r.opts.TaskTimeout
	if patience <= 0 {
		patience = persistDefault
	}
	return time.Now().Add(patience)
}

// persist runs a rollback or commit step (destroy, rename back, restore),
// retrying transient faults (vCenter unreachable or restarting, an object
// busy, the session lost) with backoff until deadline: what the run made
// must not be left behind because vCenter hiccupped. Past the deadline a
// step gets a single attempt. A fault that is not transient, or that
// outlasts the deadline, is returned.
func (r *runner) persist(work context.Context, deadline time.Time, step func(context.Context) error) error {
	for attempt := 1; ; attempt++ {
		pause := r.retry.delay(attempt)
		ctx, cancel := work, context.CancelFunc(func() {})
		if time.Now().Before(deadline) {
			ctx, cancel = context.WithDeadline(work, deadline)
		}
		err := step(ctx)
		cancel()
		if err == nil || !cloud.IsTransient(err) || time.Now().Add(pause).After(deadline) {
			return err
		}
		time.Sleep(pause)
	}
}
