package ui

import (
	"fmt"
	"io"

	"github.com/iclone-plan/iclone-plan/internal/executor"
)

// RenderReport writes the end-of-run summary: the outcome, what was done,
// what failed and why, and anything a failed rollback left behind.
func RenderReport(w io.Writer, r *executor.Report, st Style) {
	counts := r.Counts(executor.ActionDone)
	took := r.Finished.Sub(r.Started).Round(1e7)
	switch r.Outcome {
	case executor.OutcomeSuccess:
		fmt.Fprintf(w, "%s %d created, %d replaced, %d destroyed in %s (run %s).\n",
			st.paint(ansiGreen, "Apply complete:"), counts["create"], counts["replace"], counts["destroy"], took, r.Run)
	case executor.OutcomePartial:
		fmt.Fprintf(w, "%s %d created, %d replaced, %d destroyed, %d failed in %s (run %s).\n",
			st.paint(ansiYellow, "Apply finished with failures:"), counts["create"], counts["replace"], counts["destroy"], len(r.Failed()), took, r.Run)
	case executor.OutcomeRolledBack, executor.OutcomeInterrupted:
		fmt.Fprintf(w, "%s (run %s, %s): the inventory is as it was before the run; %d rollback step(s).\n",
			st.paint(ansiRed, "Apply failed and was rolled back"), r.Run, took, len(r.Rollback))
	case executor.OutcomeRollbackIncomplete:
		fmt.Fprintf(w, "%s (run %s, %s).\n", st.paint(ansiBold+ansiRed, "Apply failed and the rollback was INCOMPLETE"), r.Run, took)
	}
	if r.Cause != "" {
		fmt.Fprintf(w, "Cause: %s\n", r.Cause)
	}
	for _, a := range r.Failed() {
		fault := ""
		if a.Fault != "" {
			fault = " [" + a.Fault + "]"
		}
		fmt.Fprintf(w, "  failed: %s %s%s: %s\n", a.Op, a.Name, fault, a.Error)
	}
	if len(r.Leftover) > 0 {
		fmt.Fprintln(w, "Left in the inventory (the next apply of this plan cleans up what carries its marker):")
		for _, l := range r.Leftover {
			fmt.Fprintf(w, "  %s %s: %s\n", l.Name, l.VM, l.What)
		}
	}
}
