package vsphere

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/vim25/types"
)

// waitTask waits for a task to end and returns its info; a task that
// failed returns its error at once. Losing the way to vCenter while
// waiting does not lose the task, which runs on in vCenter: when the
// session ends (its property collector goes with it; the client logs in
// again) or the network fails, the wait starts again after a pause, until
// ctx ends. Without a deadline on ctx it gives up after about a minute.
func waitTask(ctx context.Context, t *object.Task) (*types.TaskInfo, error) {
	pause := 100 * time.Millisecond
	_, bounded := ctx.Deadline()
	giveUp := time.Now().Add(time.Minute)
	for {
		info, err := t.WaitForResult(ctx, nil)
		if err == nil || taskFailed(err) || ctx.Err() != nil || !lostWait(err) || (!bounded && time.Now().After(giveUp)) {
			return info, err
		}
		select {
		case <-ctx.Done():
			return info, err
		case <-time.After(pause):
		}
		pause = min(2*pause, 2*time.Second)
	}
}

// taskFailed reports whether err is the error of a task that ended in
// error (as opposed to an error of waiting for it).
func taskFailed(err error) bool {
	var te task.Error
	var pte *task.Error
	return errors.As(err, &te) || errors.As(err, &pte)
}

// lostWait reports whether waiting failed for want of a session or of the
// network rather than because of the task.
func lostWait(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isNotAuthenticated(err) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"connection refused", "connection reset", "broken pipe", "NotAuthenticated",
		"PropertyCollector:session[", "PropertyFilter:session["} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
