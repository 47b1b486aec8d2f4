package executor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/iclone-plan/iclone-plan/internal/cloud"
)

// persistDefault is how long rollback and commit retry transient faults
// when the run has no task timeout.
const persistDefault = 2 * time.Minute

// patience is how long one rollback or commit retries a step's transient
// faults, and how long any single attempt may take: the task timeout.
func (r *runner) patience() time.Duration {
	if r.opts.TaskTimeout > 0 {
		return r.opts.TaskTimeout
	}
	return persistDefault
}

// persistDeadline is the time until which the rollback or commit starting
// now retries transient faults: the task timeout from now.
func (r *runner) persistDeadline() time.Time {
	return time.Now().Add(r.patience())
}

// persist runs a rollback or commit step (destroy, rename back, restore),
// retrying transient faults (vCenter unreachable or restarting, an object
// busy, the session lost) with backoff until deadline: what the run made
// must not be left behind because vCenter hiccupped. Past the deadline a
// step gets a single attempt, itself bounded by the task timeout, and only
// while vCenter answers: once it has not answered at or past the deadline
// (a network error, or no answer within the request deadline), the
// remaining steps are not tried at all, so a vCenter that died or stalls
// costs a rollback the task timeout, not an attempt per step (see
// docs/guarantees.md). A fault that is not transient, or that outlasts the
// deadline, is returned.
func (r *runner) persist(work context.Context, deadline time.Time, step func(context.Context) error) error {
	for attempt := 1; ; attempt++ {
		end := deadline
		if !time.Now().Before(deadline) {
			if err := r.silentSince(); err != nil {
				return fmt.Errorf("not attempted: vCenter did not answer by the end of the task timeout (%s): %w", r.patience(), err)
			}
			end = time.Now().Add(r.patience())
		}
		pause := r.retry.delay(attempt)
		ctx, cancel := context.WithDeadline(work, end)
		err := step(ctx)
		cancel()
		if err == nil || !cloud.IsTransient(err) {
			return err
		}
		if time.Now().Add(pause).After(deadline) {
			if unanswered(err) {
				r.markSilent(err)
			}
			return err
		}
		time.Sleep(pause)
	}
}

// unanswered reports whether err is vCenter not answering at all, as
// opposed to a fault it answered with: a network error (refused, reset,
// no answer within the request deadline) or a step's own deadline.
func unanswered(err error) bool {
	if cloud.FaultName(err) != "" {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded)
}

// markSilent records that vCenter did not answer a rollback or commit
// step that had used up its retries (see persist).
func (r *runner) markSilent(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.silent == nil {
		r.silent = err
	}
}

// silentSince is the error with which vCenter stopped answering a
// rollback or commit step, or nil.
func (r *runner) silentSince() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.silent
}
