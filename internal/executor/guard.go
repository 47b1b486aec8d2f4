package executor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/iclone-plan/iclone-plan/internal/cloud"
)

// ErrGuard is the error (errors.Is) of a call the run's Guard refused: the
// run no longer has the right to change the inventory (its lease was lost,
// see docs/design.md, "The apply stages"), so it makes no further change.
var ErrGuard = errors.New("the run may no longer change the inventory")

// GuardError is the error of a mutating call that Options.Guard refused.
type GuardError struct {
	// Call is the refused call, e.g. "destroy vm-42".
	Call string
	// Err is the guard's error.
	Err error
}

func (e *GuardError) Error() string {
	return fmt.Sprintf("%s stopped: %v; this run makes no further change", e.Call, e.Err)
}

// Is makes errors.Is(err, ErrGuard) hold.
func (e *GuardError) Is(target error) bool { return target == ErrGuard }

// Unwrap returns the guard's error.
func (e *GuardError) Unwrap() error { return e.Err }

// guarded is the Cloud the runner calls when Options.Guard is set: every
// call that changes the inventory asks the guard first, and a refusal
// aborts the run (nothing new starts, and the rollback's own steps are
// refused too, so they are reported as left). Reads are not guarded, but
// a wait for a guest asks the guard as it goes (guardPoll), so that a run
// that lost its right to act stops instead of waiting on.
type guarded struct {
	Cloud
	r     *runner
	guard func() error
}

// check asks the guard about call; a refusal aborts the run.
func (g guarded) check(call string) error {
	err := g.guard()
	if err == nil {
		return nil
	}
	gerr := &GuardError{Call: call, Err: err}
	g.r.abort(gerr)
	return gerr
}

// guardPoll is how often a wait for a guest asks the guard.
const guardPoll = 200 * time.Millisecond

func (g guarded) WaitGuest(ctx context.Context, vm string, ready cloud.Ready) error {
	if err := g.check("wait for the guest of " + vm); err != nil {
		return err
	}
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		t := time.NewTicker(guardPoll)
		defer t.Stop()
		for {
			select {
			case <-wctx.Done():
				return
			case <-t.C:
				if err := g.check("wait for the guest of " + vm); err != nil {
					cancel(err)
					return
				}
			}
		}
	}()
	err := g.Cloud.WaitGuest(wctx, vm, ready)
	if cause := context.Cause(wctx); err != nil && errors.Is(cause, ErrGuard) {
		return cause
	}
	return err
}

func (g guarded) EnsureFolder(ctx context.Context, path string) (bool, error) {
	if err := g.check("create folder " + path); err != nil {
		return false, err
	}
	return g.Cloud.EnsureFolder(ctx, path)
}

func (g guarded) RemoveFolder(ctx context.Context, path string) error {
	if err := g.check("remove folder " + path); err != nil {
		return err
	}
	return g.Cloud.RemoveFolder(ctx, path)
}

func (g guarded) InstantClone(ctx context.Context, req *cloud.CloneRequest, started func(task string)) (string, error) {
	if err := g.check("instant clone " + req.Name); err != nil {
		return "", err
	}
	return g.Cloud.InstantClone(ctx, req, started)
}

func (g guarded) Destroy(ctx context.Context, vm string) error {
	if err := g.check("destroy " + vm); err != nil {
		return err
	}
	return g.Cloud.Destroy(ctx, vm)
}

func (g guarded) Rename(ctx context.Context, vm, name string) error {
	if err := g.check(fmt.Sprintf("rename %s to %s", vm, name)); err != nil {
		return err
	}
	return g.Cloud.Rename(ctx, vm, name)
}

func (g guarded) Reconfigure(ctx context.Context, vm string, change *cloud.VMChange) error {
	if err := g.check("reconfigure " + vm); err != nil {
		return err
	}
	return g.Cloud.Reconfigure(ctx, vm, change)
}
