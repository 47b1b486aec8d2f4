package executor

import (
	"fmt"

	"github.com/iclone-plan/iclone-plan/internal/cloud"
)

// unknownOutcome records, as a leftover, a clone whose task was started
// but did not report its end (vCenter unreachable until the task timeout,
// the wait lost), or whose request got no answer at all: the task may have
// made, or may still make, a VM that the rollback knows nothing of. Such a VM carries the plan's marker, so the
// next apply finds it; the report must say so, and the rollback cannot be
// called complete. cerr is the error of looking for the half-made VM.
func (r *runner) unknownOutcome(req *cloud.CloneRequest, started string, err, cerr error) {
	if cloud.TaskEnded(err) || (started == "" && !cloud.Unanswered(err)) {
		return
	}
	what := fmt.Sprintf("instant clone task %s did not report its end (%v); it may have made this VM, which the next apply finds by its marker", started, err)
	if started == "" {
		// The request was sent and its answer did not come in time:
		// vCenter may have started the task all the same.
		what = fmt.Sprintf("the instant clone request got no answer (%v); vCenter may still make this VM, which the next apply finds by its marker", err)
	}
	if cerr != nil {
		what += fmt.Sprintf("; looking for it failed: %v", cerr)
	}
	r.mu.Lock()
	r.report.Leftover = append(r.report.Leftover, Leftover{Name: req.Name, What: what})
	r.unknown++
	r.mu.Unlock()
}

// unknownErr is the rollback's error when clones of unknown outcome were
// recorded, or nil.
func (r *runner) unknownErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.unknown == 0 {
		return nil
	}
	return fmt.Errorf("%d clone task(s) did not report their end; what they made may be left (see the report)", r.unknown)
}
