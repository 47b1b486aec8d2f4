package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/iclone-plan/iclone-plan/internal/apply"
	"github.com/iclone-plan/iclone-plan/internal/executor"
	"github.com/iclone-plan/iclone-plan/internal/plan"
	"github.com/iclone-plan/iclone-plan/internal/ui"
)

// runRecord collects what an apply (or destroy) learned on its way, for
// --metrics-file: each field is set once the run gets that far.
type runRecord struct {
	runID   string
	plan    *plan.Plan
	changes *plan.Changes
	report  *executor.Report
	// cause is why a run ended that returned a silent exit (the user
	// cancelled); other runs' causes are their errors.
	cause error
}

// Outcomes of a run as the metrics name them: the executor's outcomes, and
// those of a run that never started the executor.
const (
	outcomeNoChanges = "no-changes" // nothing to do; exit 0
	outcomeConflict  = "conflict"   // the plan has conflicts; exit 1, nothing changed
	outcomeLocked    = "locked"     // another run holds the lease; exit 5
	outcomeError     = "error"      // any other error before the run; exit 1
)

// metricOutcomes lists every outcome label, so that the outcome metric has
// one series per outcome (1 for the run's, 0 for the others) and alert rules
// never see series vanish.
var metricOutcomes = []string{
	string(executor.OutcomeSuccess), outcomeNoChanges,
	string(executor.OutcomePartial), string(executor.OutcomeRolledBack),
	string(executor.OutcomeRollbackIncomplete), string(executor.OutcomeInterrupted),
	outcomeConflict, outcomeLocked, outcomeError,
}

// runMetrics is one run's metrics file.
type runMetrics struct {
	Plan     string
	Finished time.Time
	Duration time.Duration
	ExitCode int
	Outcome  string
	// LastSuccess is when the plan last applied successfully (this run or
	// an earlier one, carried over from the previous metrics file); zero if
	// never.
	LastSuccess time.Time
	Desired     int            // clones the plan declares
	Planned     map[string]int // by action: create, replace, destroy, unchanged
	Operations  map[string]int // by "action/state": create/done, replace/failed, ...
	Failures    int
	Leftovers   int
}

var (
	plannedActions = []struct {
		label  string
		action plan.Action
	}{{"create", plan.Create}, {"replace", plan.Replace}, {"destroy", plan.Destroy}, {"unchanged", plan.NoOp}}
	operationActions = []executor.Op{executor.OpCreate, executor.OpReplace, executor.OpDestroy}
	operationStates  = []executor.ActionState{executor.ActionDone, executor.ActionFailed, executor.ActionRolledBack, executor.ActionSkipped}
)

// newRunMetrics derives the metrics of a run from what it recorded and the
// error it returned.
func newRunMetrics(planPath string, rec *runRecord, runErr error, started, finished time.Time) *runMetrics {
	m := &runMetrics{
		Plan:       strings.TrimSuffix(filepath.Base(planPath), filepath.Ext(planPath)),
		Finished:   finished,
		Duration:   finished.Sub(started),
		ExitCode:   exitCode(runErr),
		Planned:    map[string]int{},
		Operations: map[string]int{},
	}
	if rec.plan != nil {
		m.Plan = rec.plan.Name
		m.Desired = rec.plan.NumClones()
	}
	if ch := rec.changes; ch != nil {
		for _, pa := range plannedActions {
			m.Planned[pa.label] = ch.Count(pa.action)
		}
	}
	if r := rec.report; r != nil {
		for _, a := range r.Actions {
			// The destroy of a replaced clone is a step of its replace
			// action, not an action: a replace is one operation, as plan,
			// apply's summary and the report count it.
			m.Operations[string(a.Op)+"/"+string(a.State)]++
		}
		m.Failures = len(r.Failed())
		m.Leftovers = len(r.Leftover)
	}
	switch {
	case rec.report != nil:
		m.Outcome = string(rec.report.Outcome)
	case m.ExitCode == ExitLocked:
		m.Outcome = outcomeLocked
	case rec.changes != nil && rec.changes.Err() != nil:
		m.Outcome = outcomeConflict
	case m.ExitCode == ExitOK:
		m.Outcome = outcomeNoChanges
	default:
		m.Outcome = outcomeError
	}
	if m.ExitCode == ExitOK {
		m.LastSuccess = finished
	}
	return m
}

// metricLastSuccess is the metric carried over from one metrics file to the
// next, so that "no success for 26 hours" can be alerted on.
const metricLastSuccess = "iclone_plan_last_success_timestamp_seconds"

// previousSuccess reads the last-success time from an earlier metrics file
// at path; zero if there is none.
func previousSuccess(path string) time.Time {
	f, err := os.Open(path)
	if err != nil {
		return time.Time{}
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, metricLastSuccess+"{") {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil || v <= 0 {
			return time.Time{}
		}
		return time.UnixMilli(int64(math.Round(v * 1e3))) // written with millisecond precision
	}
	return time.Time{}
}

// WriteTo writes the metrics in the Prometheus text exposition format
// (version 0.0.4), as node_exporter's textfile collector reads it.
func (m *runMetrics) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	pl := `plan="` + escapeLabel(m.Plan) + `"`
	metric := func(name, typ, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	sample := func(name, labels string, v float64) {
		fmt.Fprintf(&b, "%s{%s} %s\n", name, labels, strconv.FormatFloat(v, 'f', -1, 64))
	}
	unix := func(t time.Time) float64 {
		if t.IsZero() {
			return 0
		}
		return float64(t.UnixMilli()) / 1e3
	}
	bool01 := func(ok bool) float64 {
		if ok {
			return 1
		}
		return 0
	}

	metric("iclone_plan_last_run_timestamp_seconds", "gauge", "When the last apply of the plan ended, in seconds since the Unix epoch.")
	sample("iclone_plan_last_run_timestamp_seconds", pl, unix(m.Finished))
	metric("iclone_plan_last_run_success", "gauge", "1 if the last apply of the plan succeeded (exit code 0, including no changes), else 0.")
	sample("iclone_plan_last_run_success", pl, bool01(m.ExitCode == ExitOK))
	metric("iclone_plan_last_run_outcome", "gauge", "The outcome of the last apply of the plan: 1 for the outcome it had, 0 for every other.")
	for _, o := range metricOutcomes {
		sample("iclone_plan_last_run_outcome", pl+`,outcome="`+o+`"`, bool01(o == m.Outcome))
	}
	metric("iclone_plan_last_run_exit_code", "gauge", "The exit code of the last apply of the plan (see iclone-plan apply --help).")
	sample("iclone_plan_last_run_exit_code", pl, float64(m.ExitCode))
	metric("iclone_plan_last_run_duration_seconds", "gauge", "How long the last apply of the plan took, from start to exit, in seconds.")
	sample("iclone_plan_last_run_duration_seconds", pl, m.Duration.Seconds())
	metric(metricLastSuccess, "gauge", "When an apply of the plan last succeeded, in seconds since the Unix epoch; 0 if never (carried over from the previous metrics file).")
	sample(metricLastSuccess, pl, unix(m.LastSuccess))
	metric("iclone_plan_desired_clones", "gauge", "Clones the plan declares.")
	sample("iclone_plan_desired_clones", pl, float64(m.Desired))
	metric("iclone_plan_last_run_planned_clones", "gauge", "Clones the last apply planned to create, replace or destroy, or left unchanged.")
	for _, pa := range plannedActions {
		sample("iclone_plan_last_run_planned_clones", pl+`,action="`+pa.label+`"`, float64(m.Planned[pa.label]))
	}
	metric("iclone_plan_last_run_clone_operations", "gauge", "Clone operations of the last apply by action and final state: done, failed, rolled-back (undone by the rollback) or skipped (never started).")
	for _, a := range operationActions {
		for _, s := range operationStates {
			sample("iclone_plan_last_run_clone_operations", pl+`,action="`+string(a)+`",state="`+string(s)+`"`, float64(m.Operations[string(a)+"/"+string(s)]))
		}
	}
	metric("iclone_plan_last_run_failures", "gauge", "Operations of the last apply that failed for good (after retries).")
	sample("iclone_plan_last_run_failures", pl, float64(m.Failures))
	metric("iclone_plan_last_run_leftovers", "gauge", "Changes an incomplete rollback of the last apply left in the inventory (the report lists them).")
	sample("iclone_plan_last_run_leftovers", pl, float64(m.Leftovers))
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// escapeLabel escapes a label value for the text format.
func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

// applyWithOutputs runs apply (or destroy) and writes --report and
// --metrics-file whatever the outcome: success, no changes, failure before
// any change (with the reason), rollback, lock or interrupt. A file that
// cannot be written makes a run that succeeded exit ExitOutputs; a run that
// failed keeps its own exit code, which says what happened to the
// inventory. Either way the error is printed.
func (a *app) applyWithOutputs(ctx context.Context, path string, f *applyFlags, destroy bool) error {
	rec := &runRecord{runID: apply.NewRunID()}
	started := time.Now()
	err := a.applyFlow(ctx, path, f, destroy, rec)
	finished := time.Now()
	var failed []string
	if f.report != "" {
		rep := runReport(rec, err, started, finished)
		if werr := writeFileAtomic(f.report, 0o600, func(w io.Writer) error { return ui.WriteJSON(w, rep) }); werr != nil {
			failed = append(failed, fmt.Sprintf("writing the report %s: %v", f.report, werr))
		}
	}
	if f.metricsFile != "" {
		m := newRunMetrics(path, rec, err, started, finished)
		if destroy {
			m.Desired = 0 // destroy's desired state has no clones
		}
		if m.LastSuccess.IsZero() {
			m.LastSuccess = previousSuccess(f.metricsFile)
		}
		// World-readable: node_exporter runs as its own user; the file
		// holds no more than the plan's name and counts.
		if werr := writeFileAtomic(f.metricsFile, 0o644, func(w io.Writer) error { _, err := m.WriteTo(w); return err }); werr != nil {
			failed = append(failed, fmt.Sprintf("writing the metrics file %s: %v", f.metricsFile, werr))
		}
	}
	if len(failed) == 0 {
		return err
	}
	if code := exitCode(err); code != ExitOK && code != ExitChanges {
		// The run's own outcome wins; the lost file is still reported.
		for _, msg := range failed {
			fmt.Fprintf(a.stderr, "Error: %s\n", msg)
		}
		return err
	}
	return withExit(ExitOutputs, fmt.Errorf("%s (the run itself succeeded: exit %d)", strings.Join(failed, "; "), ExitOutputs))
}

// runReport is the run's report: the executor's, or for a run that never
// started it (nothing to do, a conflict, a lock, an error before any
// change) one with no actions whose outcome and cause say why.
func runReport(rec *runRecord, runErr error, started, finished time.Time) *executor.Report {
	if rec.report != nil {
		return rec.report
	}
	rep := &executor.Report{Run: rec.runID, Outcome: executor.Outcome(newRunMetrics("", rec, runErr, started, finished).Outcome),
		Started: started.UTC(), Finished: finished.UTC(), Actions: []*executor.Action{}, Rollback: []*executor.Step{}, Leftover: []executor.Leftover{}}
	if rec.plan != nil {
		rep.Plan = rec.plan.Name
	}
	cause := runErr
	if rec.cause != nil {
		cause = rec.cause
	}
	if cause != nil && !isSilent(cause) {
		rep.Cause = cause.Error()
	}
	return rep
}
