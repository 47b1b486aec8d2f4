package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/iclone-plan/iclone-plan/internal/apply"
	"github.com/iclone-plan/iclone-plan/internal/executor"
	"github.com/iclone-plan/iclone-plan/internal/plan"
	"github.com/iclone-plan/iclone-plan/internal/ui"
	"github.com/iclone-plan/iclone-plan/internal/vsphere"
)

func init() {
	register(newApplyCmd)
	register(newDestroyCmd)
}

type applyFlags struct {
	conn         connFlags
	autoApprove  bool
	replaceAll   bool
	json         bool
	report       string
	noColor      bool
	journal      string
	leaseTTL     time.Duration
	chainWarning int
	metricsFile  string
	lockWait     time.Duration
	replace      []string
	target       []string
	massDestroy  bool
}

func (f *applyFlags) register(cmd *cobra.Command, replaceAll bool) {
	f.conn.register(cmd.Flags())
	cmd.Flags().BoolVar(&f.autoApprove, "auto-approve", false, "apply without asking for confirmation (required when not on a terminal, e.g. cron)")
	if replaceAll {
		cmd.Flags().BoolVar(&f.replaceAll, "replace-all", false, "replace every existing clone (nightly rebuild)")
		cmd.Flags().StringArrayVar(&f.replace, "replace", nil, "replace the clones whose name matches `GLOB` even if unchanged (repeatable; * and ? as in a shell)")
		cmd.Flags().StringArrayVar(&f.target, "target", nil, "apply only the clones of `GROUP` (repeatable); the other groups are left as they are")
		cmd.Flags().BoolVar(&f.massDestroy, "allow-mass-destroy", false, "allow an apply that destroys every clone the plan owns, or more than half of them while creating fewer (refused by default: a plan emptied by mistake)")
	}
	cmd.Flags().DurationVar(&f.lockWait, "lock-wait", 0, "wait up to `DURATION` (e.g. 10m) for another run of the plan to release its lease, instead of exiting 5 at once")
	cmd.Flags().BoolVar(&f.json, "json", false, "print a line-delimited JSON event stream instead of text")
	cmd.Flags().StringVar(&f.report, "report", "", "write a JSON report of every action (tasks, timings, faults) to `FILE`, whatever the outcome (also of a run that fails before any change)")
	cmd.Flags().StringVar(&f.metricsFile, "metrics-file", "", "write the run's outcome, duration and clone counts as Prometheus metrics to `FILE` (node_exporter textfile collector), whatever the outcome")
	cmd.Flags().BoolVar(&f.noColor, "no-color", false, "never colour the output")
	cmd.Flags().StringVar(&f.journal, "journal", "", "task journal `FILE` for crash recovery (default $XDG_STATE_HOME/iclone-plan/PLAN@VCENTER.journal)")
	cmd.Flags().IntVar(&f.chainWarning, "chain-warning", plan.DefaultChainWarning, "warn when a source's delta chain would pass this many levels (vSphere stops at 255; negative: never)")
	cmd.Flags().DurationVar(&f.leaseTTL, "lease-ttl", apply.DefaultLeaseTTL, "how long the plan's lease outlives a crashed run (renewed every third of it)")
	_ = cmd.Flags().MarkHidden("lease-ttl")
}

func newApplyCmd(a *app) *cobra.Command {
	f := &applyFlags{}
	cmd := &cobra.Command{
		Use:   "apply PLAN|SAVED_PLAN",
		Short: "Make the inventory match the plan: parallel instant clones, rollback on failure",
		Long: `Apply plans (as "plan" does), shows the plan, asks for confirmation on a
terminal, then creates, replaces and destroys clones with rate-limited
parallel instant clones. With onFailure: rollback (the default), a failed or
interrupted apply leaves the inventory as it was before the run.

One apply of a plan runs at a time, across machines: a lease held in vCenter.
A saved plan (plan --out) is applied only if the inventory has not changed
since it was saved.

--replace NAME replaces the named clones (globs allowed) even if unchanged;
--target GROUP applies only those groups and says which were left out. An
apply that would destroy every clone the plan owns, or more than half of them
while creating fewer, is refused unless --allow-mass-destroy is given:
"destroy" is the way to remove them all.

--report and --metrics-file are written whatever the outcome, also when the
run fails before any change (the report's cause says why).

Exit codes: 0 success, 1 error (nothing changed), 3 failed and rolled back,
4 failed and rollback incomplete, or its lease lost mid-run (see the report),
5 locked by another run, 6 finished with failures under onFailure: continue,
7 the run succeeded but its report or metrics file could not be written,
130 interrupted (after rollback). A report or metrics file that cannot be
written after a run that failed keeps the run's own exit code.`,
		Example: `  # Interactive: show the plan, confirm, apply
  iclone-plan apply plans/lab.yaml

  # Rebuild one broken clone, or only the web group
  iclone-plan apply --replace lab-web-03 plans/lab.yaml
  iclone-plan apply --target web plans/lab.yaml

  # Nightly rebuild from cron (maxAge in the plan, or --replace-all), with
  # metrics for node_exporter's textfile collector
  iclone-plan apply --auto-approve --report /var/log/iclone/lab.json \
    --metrics-file /var/lib/node_exporter/textfile/iclone-plan-lab.prom plans/lab.yaml

  # Try it without a vCenter
  iclone-plan apply --sim --auto-approve plans/examples/lab.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.applyWithOutputs(cmd.Context(), args[0], f, false)
		},
	}
	f.register(cmd, true)
	return cmd
}

func newDestroyCmd(a *app) *cobra.Command {
	f := &applyFlags{}
	cmd := &cobra.Command{
		Use:   "destroy PLAN",
		Short: "Destroy every clone the plan owns",
		Long: `Destroy removes every VM that carries the plan's ownership marker, and
nothing else: VMs without the marker are never touched, whatever their name.
It shows what it will destroy and asks for confirmation on a terminal; without
a terminal and without --auto-approve it lists what it would destroy, then
refuses (exit 1). "plan --destroy" shows the same, changing nothing.

Exit codes are those of apply.`,
		Example: `  iclone-plan plan --destroy plans/lab.yaml
  iclone-plan destroy plans/lab.yaml
  iclone-plan destroy --auto-approve plans/lab.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.applyWithOutputs(cmd.Context(), args[0], f, true)
		},
	}
	f.register(cmd, false)
	return cmd
}

// applyFlow runs apply or destroy through the stages of internal/apply,
// mapping the flags to its options and rendering what its hooks report.
func (a *app) applyFlow(ctx context.Context, path string, f *applyFlags, destroy bool, rec *runRecord) error {
	terminal := isTerminal(a.stdout)
	interactive := terminal && isTerminal(a.stdin)
	st := a.style(f.noColor || f.json)
	var (
		progress   ui.Progress
		untargeted []plan.Untargeted
		refused    bool // destroy without a way to confirm
	)
	hooks := apply.Hooks{
		Loaded: func(p *plan.Plan) error {
			rec.plan = p
			// destroy lists what it would destroy before it refuses.
			if !destroy && !f.autoApprove && !interactive {
				return errors.New("refusing to change the inventory without confirmation: run on a terminal to confirm, or pass --auto-approve (as cron jobs must)")
			}
			return nil
		},
		LockWaiting: func(held *vsphere.LeaseHeldError) {
			fmt.Fprintf(a.stderr, "Waiting up to %s for the plan's lease: %v\n", f.lockWait, held)
		},
		Untargeted: func(groups []plan.Untargeted) {
			untargeted = groups
		},
		DeadRun: func(run string, tasks int) {
			fmt.Fprintf(a.stderr, "Run %s did not finish (the process died); waiting for its %d task(s) to end before planning.\n", run, tasks)
		},
		Review: func(h ui.PlanHeader, ch *plan.Changes) error {
			progress = ui.NewProgress(a.stdout, terminal, f.json, st)
			if f.json {
				doc := ui.NewPlanDoc(h, ch)
				doc.NotTargeted = ui.NotTargeted(untargeted)
				ui.EmitJSON(progress, ui.JSONEvent{Type: "plan", Plan: doc})
				return nil
			}
			if err := ui.RenderPlan(a.stdout, h, ch, st); err != nil {
				return err
			}
			renderUntargeted(a.stdout, untargeted)
			return nil
		},
		Confirm: func(*plan.Changes) bool {
			if !f.autoApprove && !interactive {
				refused = true
				return false
			}
			if !f.autoApprove && !confirm(a.stdin, a.stdout, destroy) {
				return false
			}
			if !f.json {
				fmt.Fprintln(a.stdout)
			}
			return true
		},
		Event: func(e executor.Event) { progress.Event(e) },
		Finished: func(rep *executor.Report) {
			progress.Close()
			if f.json {
				ui.EmitJSON(progress, ui.JSONEvent{Type: "report", Report: rep})
			} else {
				ui.RenderReport(a.stdout, rep, st)
			}
		},
		LeaseReleaseFailed: func(err error, l vsphere.LeaseInfo) {
			fmt.Fprintf(a.stderr, "Warning: the plan's lease (folder %s%s) could not be released: %v; it stays until %s, or until a run of this plan on this machine finds its holder gone\n",
				vsphere.LeaseFolderPrefix, rec.plan.Name, err, l.Expires.UTC().Format(time.RFC3339))
		},
		JournalFinishFailed: func(path string, err error) {
			fmt.Fprintf(a.stderr, "Warning: the journal %s could not record the end of this run: %v; the next run of this plan waits for its tasks, which are over\n", path, err)
		},
		LeaseRenewFailed: func(err error) {
			fmt.Fprintf(a.stderr, "Warning: renewing the plan's lease failed during the run: %v\n", err)
		},
	}
	opts := apply.Options{Path: path, Destroy: destroy, ReplaceAll: f.replaceAll, ChainWarning: f.chainWarning,
		Journal: f.journal, LeaseTTL: f.leaseTTL, LockWait: f.lockWait, Replace: f.replace, Target: f.target,
		AllowMassDestroy: f.massDestroy, RunID: rec.runID}
	res, err := apply.Run(ctx, func(ctx context.Context, p *plan.Plan) (*apply.Target, error) {
		if destroy && f.conn.sim {
			fmt.Fprintln(a.stderr, simEmptyNote)
		}
		return a.connect(ctx, &f.conn, p)
	}, opts, hooks)
	rec.changes, rec.report = res.Changes, res.Report
	if refused {
		return withExit(ExitError, errors.New("refusing to destroy without confirmation: the clones listed above would be destroyed; run on a terminal to confirm, or pass --auto-approve"))
	}
	if errors.Is(err, apply.ErrCancelled) {
		fmt.Fprintln(a.stdout, "Apply cancelled; nothing was changed.")
		rec.cause = err
		return silentExit(ExitError)
	}
	return applyExit(err)
}

// renderUntargeted says which groups --target left out, and what was not
// done to them.
func renderUntargeted(w io.Writer, groups []plan.Untargeted) {
	if len(groups) == 0 {
		return
	}
	fmt.Fprintln(w, "\nNot targeted, left as they are (--target):")
	for _, g := range groups {
		fmt.Fprintf(w, "  group %s: %d clone(s), %d change(s) not made\n", g.Group, g.Clones, g.Changes)
	}
}

// applyExit maps the executor's result to the documented exit codes.
func applyExit(err error) error {
	if err == nil {
		return nil
	}
	var held *vsphere.LeaseHeldError
	if errors.As(err, &held) {
		return withExit(ExitLocked, err)
	}
	var re *executor.RunError
	if !errors.As(err, &re) {
		return err
	}
	switch re.Outcome {
	case executor.OutcomeRolledBack:
		return withExit(ExitRolledBack, err)
	case executor.OutcomeRollbackIncomplete:
		return withExit(ExitRollbackFailed, err)
	case executor.OutcomePartial:
		return withExit(ExitPartial, err)
	case executor.OutcomeInterrupted:
		return withExit(ExitInterrupted, err)
	}
	return err
}

// confirm asks the user to type "yes".
func confirm(in io.Reader, out io.Writer, destroy bool) bool {
	what := "apply these changes"
	if destroy {
		what = "destroy these clones"
	}
	return ask(in, out, what)
}

// ask asks whether to do what, and accepts only "yes".
func ask(in io.Reader, out io.Writer, what string) bool {
	fmt.Fprintf(out, "\nDo you want to %s? Only 'yes' is accepted: ", what)
	line, _ := bufio.NewReader(in).ReadString('\n')
	return strings.TrimSpace(line) == "yes"
}
