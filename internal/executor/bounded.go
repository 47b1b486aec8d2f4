package executor

import (
	"context"
	"time"

	"github.com/iclone-plan/iclone-plan/internal/cloud"
)

// boundedCloud gives every call that would otherwise have no deadline
// (the swap's steps, connecting a ready clone, the disconnects before a
// run) the task timeout: a task that never ends, or a vCenter that stops
// answering, must not hold the run longer than that (docs/guarantees.md,
// "A vCenter that stops answering"). Calls whose context has a deadline
// (clone attempts, rollback and commit steps, guest waits) keep it.
type boundedCloud struct {
	next    Cloud
	timeout time.Duration
}

// bounded wraps c so that calls without a deadline get timeout; a zero
// timeout (no task timeout) leaves c as it is.
func bounded(c Cloud, timeout time.Duration) Cloud {
	if timeout <= 0 {
		return c
	}
	return boundedCloud{next: c, timeout: timeout}
}

func (b boundedCloud) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, b.timeout)
}

func (b boundedCloud) EnsureFolder(ctx context.Context, path string) (bool, error) {
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	return b.next.EnsureFolder(ctx, path)
}

func (b boundedCloud) RemoveFolder(ctx context.Context, path string) error {
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	return b.next.RemoveFolder(ctx, path)
}

func (b boundedCloud) InstantClone(ctx context.Context, req *cloud.CloneRequest, started func(task string)) (string, error) {
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	return b.next.InstantClone(ctx, req, started)
}

func (b boundedCloud) FindVM(ctx context.Context, folder, name string) (string, map[string]string, error) {
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	return b.next.FindVM(ctx, folder, name)
}

func (b boundedCloud) Destroy(ctx context.Context, vm string) error {
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	return b.next.Destroy(ctx, vm)
}

func (b boundedCloud) Rename(ctx context.Context, vm, name string) error {
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	return b.next.Rename(ctx, vm, name)
}

func (b boundedCloud) Reconfigure(ctx context.Context, vm string, change *cloud.VMChange) error {
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	return b.next.Reconfigure(ctx, vm, change)
}

func (b boundedCloud) WaitGuest(ctx context.Context, vm string, ready cloud.Ready) error {
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	return b.next.WaitGuest(ctx, vm, ready)
}
