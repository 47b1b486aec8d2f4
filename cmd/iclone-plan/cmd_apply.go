package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/iclone-plan/iclone-plan/internal/executor"
	"github.com/iclone-plan/iclone-plan/internal/journal"
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
}

func (f *applyFlags) register(cmd *cobra.Command, replaceAll bool) {
	f.conn.register(cmd.Flags())
	cmd.Flags().BoolVar(&f.autoApprove, "auto-approve", false, "apply without asking for confirmation (required when not on a terminal, e.g. cron)")
	if replaceAll {
		cmd.Flags().BoolVar(&f.replaceAll, "replace-all", false, "replace every existing clone (nightly rebuild)")
	}
	cmd.Flags().BoolVar(&f.json, "json", false, "print a line-delimited JSON event stream instead of text")
	cmd.Flags().StringVar(&f.report, "report", "", "write a JSON report of every action (tasks, timings, faults) to `FILE`")
	cmd.Flags().StringVar(&f.metricsFile, "metrics-file", "", "write the run's outcome, duration and clone counts as Prometheus metrics to `FILE` (node_exporter textfile collector), whatever the outcome")
	cmd.Flags().BoolVar(&f.noColor, "no-color", false, "never colour the output")
	cmd.Flags().StringVar(&f.journal, "journal", "", "task journal `FILE` for crash recovery (default $XDG_STATE_HOME/iclone-plan/PLAN@VCENTER.journal)")
	cmd.Flags().IntVar(&f.chainWarning, "chain-warning", plan.DefaultChainWarning, "warn when a source's delta chain would pass this many levels (vSphere stops at 255; negative: never)")
	cmd.Flags().DurationVar(&f.leaseTTL, "lease-ttl", 2*time.Minute, "how long the plan's lease outlives a crashed run (renewed every third of it)")
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

Exit codes: 0 success, 1 error (nothing changed), 3 failed and rolled back,
4 failed and rollback incomplete (see the report), 5 locked by another run,
6 finished with failures under onFailure: continue, 130 interrupted (after
rollback).`,
		Example: `  # Interactive: show the plan, confirm, apply
  iclone-plan apply plans/lab.yaml

  # Nightly rebuild from cron (maxAge in the plan, or --replace-all), with
  # metrics for node_exporter's textfile collector
  iclone-plan apply --auto-approve --report /var/log/iclone/lab.json \
    --metrics-file /var/lib/node_exporter/textfile/iclone-plan-lab.prom plans/lab.yaml

  # Try it without a vCenter
  iclone-plan apply --sim --auto-approve plans/examples/lab.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.applyWithMetrics(cmd.Context(), args[0], f, false)
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
It shows what it will destroy and asks for confirmation on a terminal.`,
		Example: `  iclone-plan destroy plans/lab.yaml
  iclone-plan destroy --auto-approve plans/lab.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.applyWithMetrics(cmd.Context(), args[0], f, true)
		},
	}
	f.register(cmd, false)
	return cmd
}

// savedPlan reads a plan saved by plan --out, or returns nil if path is not
// one.
func savedPlan(path string) (*ui.PlanDoc, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("plan file %s does not exist", path)
		}
		return nil, err
	}
	if !bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
		return nil, nil
	}
	var doc ui.PlanDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s looks like a saved plan but is not valid JSON: %v", path, err)
	}
	if doc.Format != ui.PlanFormat || doc.PlanSource == "" {
		return nil, fmt.Errorf("%s is not a saved plan (format %q); save one with: iclone-plan plan --out FILE PLAN", path, doc.Format)
	}
	if doc.Version != ui.PlanVersion {
		return nil, fmt.Errorf("%s is a saved plan of version %d; this iclone-plan reads version %d: plan again", path, doc.Version, ui.PlanVersion)
	}
	sum := sha256.Sum256([]byte(doc.PlanSource))
	if hex.EncodeToString(sum[:]) != doc.PlanSHA256 {
		return nil, fmt.Errorf("%s: the saved plan text does not match its hash; the file was edited or damaged: plan again", path)
	}
	return &doc, nil
}

func newRunID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:4])
}

// runApply applies (or destroys) the plan at path, noting in rec what it
// learns on the way.
func (a *app) runApply(ctx context.Context, path string, f *applyFlags, destroy bool, rec *runRecord) error {
	var (
		p     *plan.Plan
		saved *ui.PlanDoc
		err   error
	)
	if !destroy {
		if saved, err = savedPlan(path); err != nil {
			return err
		}
	}
	if saved != nil {
		if p, err = plan.Parse(saved.File, []byte(saved.PlanSource)); err != nil {
			return fmt.Errorf("the plan saved in %s is no longer valid:\n%w", path, err)
		}
		f.replaceAll = saved.ReplaceAll
	} else if p, err = loadPlan(path); err != nil {
		return err
	}
	rec.plan = p
	terminal := isTerminal(a.stdout)
	if !f.autoApprove && !(terminal && isTerminal(a.stdin)) {
		return errors.New("refusing to change the inventory without confirmation: run on a terminal to confirm, or pass --auto-approve (as cron jobs must)")
	}
	st := a.style(f.noColor || f.json)

	t, err := a.connect(ctx, &f.conn, p)
	if err != nil {
		return err
	}
	defer t.close()
	dcPath, err := t.client.ResolveDatacenter(ctx, t.client.Datacenter())
	if err != nil {
		return err
	}
	ops, err := t.client.Ops(ctx, dcPath)
	if err != nil {
		return err
	}
	defer func() { _ = ops.Close(context.WithoutCancel(ctx)) }()

	runID := newRunID()
	lease, err := ops.AcquireLease(ctx, vsphere.LocalHolder(p.Name, runID), f.leaseTTL)
	if err != nil {
		var held *vsphere.LeaseHeldError
		if errors.As(err, &held) {
			return withExit(ExitLocked, err)
		}
		return err
	}
	defer func() {
		if err := lease.Release(context.WithoutCancel(ctx)); err != nil {
			fmt.Fprintf(a.stderr, "Warning: the plan's lease (folder %s%s) could not be released: %v; it stays until %s, or until a run of this plan on this machine finds its holder gone\n",
				vsphere.LeaseFolderPrefix, p.Name, err, lease.Info().Expires.UTC().Format(time.RFC3339))
		}
	}()

	jpath := f.journal
	if jpath == "" {
		if jpath, err = journal.DefaultPath(p.Name, t.client.Host()); err != nil {
			return err
		}
	}
	if err := a.recoverDeadRuns(ctx, t.client, jpath); err != nil {
		return err
	}

	// apply and destroy read every VM afresh (a cache emptied first); what
	// they read of the VMs no plan owns, which they do not change, is left
	// in the inventory cache for the plans that follow.
	var cache *vsphere.DeviceCache
	if t.sim == nil {
		cache = openCache(t.client, t.client.Datacenter(), true)
	}
	inv, err := readInventory(ctx, t.client, dcPath, p, cache)
	if err != nil {
		return err
	}
	if cache != nil {
		_ = cache.Save() // only time is lost if it cannot be written
	}
	desired := p
	if destroy {
		empty := *p
		empty.Groups = nil
		desired = &empty
	}
	ch := plan.Diff(desired, inv, plan.Options{ReplaceAll: f.replaceAll, ChainWarning: f.chainWarning})
	rec.changes = ch
	h := ui.PlanHeader{Plan: p.Name, File: path, VCenter: t.client.Host()}
	if saved != nil && saved.Fingerprint != ch.Fingerprint {
		return fmt.Errorf("the inventory changed since %s was saved (%s): nothing was applied; run plan again and review the new plan", path, saved.CreatedAt.Format(time.RFC3339))
	}
	if saved != nil {
		if err := checkSavedPlan(path, saved, ui.NewPlanDoc(h, ch)); err != nil {
			return err
		}
	}

	progress := ui.NewProgress(a.stdout, terminal, f.json, st)
	if f.json {
		ui.EmitJSON(progress, ui.JSONEvent{Type: "plan", Plan: ui.NewPlanDoc(h, ch)})
	} else if err := ui.RenderPlan(a.stdout, h, ch, st); err != nil {
		return err
	}
	if err := ch.Err(); err != nil {
		return err
	}
	if !ch.HasChanges() {
		return nil
	}
	if !f.autoApprove && !confirm(a.stdin, a.stdout, destroy) {
		fmt.Fprintln(a.stdout, "Apply cancelled; nothing was changed.")
		return silentExit(ExitError)
	}
	if !f.json {
		fmt.Fprintln(a.stdout)
	}

	jr, err := journal.Open(jpath, runID)
	if err != nil {
		return fmt.Errorf("opening the journal %s: %w", jpath, err)
	}
	opts := executor.OptionsFrom(p.Execution, runID)
	opts.Hooks.Event = func(e executor.Event) {
		if e.Type == executor.EventTaskStarted {
			// Recorded before anything else happens with the task.
			_ = jr.Record(journal.Entry{Kind: "task", Op: string(e.Op), Name: e.Name, Task: e.Task})
		}
		progress.Event(e)
	}
	rep, runErr := executor.Run(ctx, ch, ops, opts)
	rec.report = rep
	progress.Close()
	_ = jr.Finish()

	if rep != nil {
		if f.json {
			ui.EmitJSON(progress, ui.JSONEvent{Type: "report", Report: rep})
		} else {
			ui.RenderReport(a.stdout, rep, st)
		}
		if f.report != "" {
			if err := writeFileAtomic(f.report, 0o600, func(w io.Writer) error { return ui.WriteJSON(w, rep) }); err != nil {
				fmt.Fprintf(a.stderr, "Error: writing the report %s: %v\n", f.report, err)
			}
		}
	}
	if lerr := lease.Err(); lerr != nil {
		fmt.Fprintf(a.stderr, "Warning: renewing the plan's lease failed during the run: %v\n", lerr)
	}
	return applyExit(runErr)
}

// applyExit maps the executor's result to the documented exit codes.
func applyExit(err error) error {
	if err == nil {
		return nil
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

// recoverDeadRuns waits for the tasks that runs which died (kill -9, reboot)
// left in flight, so that the inventory read next sees what they made.
func (a *app) recoverDeadRuns(ctx context.Context, c *vsphere.Client, path string) error {
	runs, err := journal.Unfinished(path)
	if err != nil {
		return fmt.Errorf("reading the journal %s: %w", path, err)
	}
	for run, entries := range runs {
		var tasks []string
		for _, e := range entries {
			tasks = append(tasks, e.Task)
		}
		fmt.Fprintf(a.stderr, "Run %s did not finish (the process died); waiting for its %d task(s) to end before planning.\n", run, len(tasks))
		wctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
		err := c.WaitTasks(wctx, tasks)
		cancel()
		if err != nil {
			return err
		}
	}
	return journal.Reset(path)
}

// confirm asks the user to type "yes".
func confirm(in io.Reader, out io.Writer, destroy bool) bool {
	what := "apply these changes"
	if destroy {
		what = "destroy these clones"
	}
	fmt.Fprintf(out, "\nDo you want to %s? Only 'yes' is accepted: ", what)
	line, _ := bufio.NewReader(in).ReadString('\n')
	return strings.TrimSpace(line) == "yes"
}
