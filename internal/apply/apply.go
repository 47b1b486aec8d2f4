// Package apply is the application layer: the apply and destroy workflow as
// named stages, which the commands in cmd/iclone-plan drive and render.
//
//	load      read the plan file, or a saved plan (Load, LoadPlan)
//	connect   the command's Connector: flags, environment, --sim
//	lock      take the plan's lease in vCenter (one run at a time)
//	recover   wait out the tasks of runs that died, from the journal
//	read      read the inventory (Read) and diff the plan against it
//	verify    a saved plan is applied only if it is what applying does now
//	review    show the changes and ask for confirmation (Hooks)
//	execute   run the changes, recording every task in the journal
//	report    hand the run's report back (Hooks.Finished)
//
// plan and status (and a future doctor) reuse load, connect and read
// through Observe. The package never prints: it reports through Hooks, and
// its errors say what happened; the command picks words, colours and exit
// codes. See docs/design.md, "The apply stages".
package apply

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/iclone-plan/iclone-plan/internal/executor"
	"github.com/iclone-plan/iclone-plan/internal/journal"
	"github.com/iclone-plan/iclone-plan/internal/plan"
	"github.com/iclone-plan/iclone-plan/internal/ui"
	"github.com/iclone-plan/iclone-plan/internal/vsphere"
)

// *vsphere.Ops is the executor's Cloud: the seam has no adapter.
var _ executor.Cloud = (*vsphere.Ops)(nil)

// Options say what to apply and how.
type Options struct {
	// Path is the plan file, or (apply only) a saved plan.
	Path string
	// Destroy destroys every clone the plan owns instead of applying it.
	Destroy bool
	// ReplaceAll replaces every existing clone (a saved plan's own setting
	// wins).
	ReplaceAll bool
	// ChainWarning is the planner's chain-depth warning threshold.
	ChainWarning int
	// Journal is the journal file; "" means journal.DefaultPath.
	Journal string
	// LeaseTTL is how long the plan's lease outlives a crashed run; 0
	// means DefaultLeaseTTL.
	LeaseTTL time.Duration
	// LockWait is how long to wait for a lease another run holds before
	// giving up with a *vsphere.LeaseHeldError; 0 does not wait.
	LockWait time.Duration
	// Replace lists glob patterns of clone names to replace even if
	// unchanged (--replace); a saved plan's own list wins.
	Replace []string
	// Target restricts the run to these groups (--target); the others are
	// left as they are. A saved plan's own list wins.
	Target []string
	// AllowMassDestroy lets an apply destroy every clone the plan owns, or
	// more than half of them while creating fewer (see MassDestroy).
	AllowMassDestroy bool
	// RunID is the run's id; "" makes a new one.
	RunID string
}

// DefaultLeaseTTL is the lease's default time to live (renewed every third
// of it).
const DefaultLeaseTTL = 2 * time.Minute

// Hooks are how the workflow reports; nil fields are skipped.
type Hooks struct {
	// Loaded is called with the plan once it is loaded, before anything
	// connects; an error stops the run (the command refuses, say, to go on
	// without a way to confirm).
	Loaded func(p *plan.Plan) error
	// DeadRun is called for each run that died with tasks in flight, before
	// its tasks are waited out.
	DeadRun func(run string, tasks int)
	// Review is called with the changes to show; an error stops the run.
	Review func(h ui.PlanHeader, ch *plan.Changes) error
	// Confirm asks whether to make the changes; nil approves. A refusal
	// ends the run with ErrCancelled.
	Confirm func(ch *plan.Changes) bool
	// Event receives the executor's events (see executor.Hooks).
	Event func(executor.Event)
	// Finished is called with the run's report once the run has ended.
	Finished func(rep *executor.Report)
	// LeaseReleaseFailed is called when the plan's lease could not be
	// released at the end: it stays until it expires.
	LeaseReleaseFailed func(err error, lease vsphere.LeaseInfo)
	// JournalFinishFailed is called when the journal could not record the
	// run's end: the next run waits for this run's tasks, which are over.
	JournalFinishFailed func(path string, err error)
	// LeaseRenewFailed is called when renewing the lease failed during the
	// run.
	LeaseRenewFailed func(err error)
	// LockWaiting is called once when the lease is held by another run and
	// Options.LockWait says to wait for it.
	LockWaiting func(held *vsphere.LeaseHeldError)
	// Untargeted is called, before Review, with the groups --target left
	// out.
	Untargeted func(groups []plan.Untargeted)
}

// ErrCancelled is returned when Confirm refused the changes; nothing was
// changed.
var ErrCancelled = errors.New("apply cancelled; nothing was changed")

// Result is what a run got as far as: the plan, the changes, the report.
// Fields are nil for stages not reached.
type Result struct {
	Plan    *plan.Plan
	Changes *plan.Changes
	Report  *executor.Report
}

// Run applies (or destroys) the plan at opts.Path through its stages. The
// error of a run that started is the executor's *executor.RunError;
// a held lease is a *vsphere.LeaseHeldError.
func Run(ctx context.Context, connect Connector, opts Options, hooks Hooks) (*Result, error) {
	res := &Result{}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = DefaultLeaseTTL
	}
	if opts.RunID == "" {
		opts.RunID = NewRunID()
	}
	in, err := Load(opts.Path, opts.Destroy)
	if err != nil {
		return res, err
	}
	res.Plan = in.Plan
	if in.Saved != nil {
		if len(opts.Replace) > 0 || len(opts.Target) > 0 {
			return res, fmt.Errorf("%s is a saved plan: it applies the --replace and --target it was planned with; to change them, plan again with them (iclone-plan plan --out)", opts.Path)
		}
		opts.ReplaceAll, opts.Replace, opts.Target = in.Saved.ReplaceAll, in.Saved.Replace, in.Saved.Target
	}
	if err := in.Plan.CheckSelection(opts.Replace, opts.Target); err != nil {
		return res, err
	}
	if hooks.Loaded != nil {
		if err := hooks.Loaded(in.Plan); err != nil {
			return res, err
		}
	}
	s, err := open(ctx, connect, in.Plan)
	if err != nil {
		return res, err
	}
	defer s.close(ctx)
	return res, s.run(ctx, in, opts, hooks, res)
}

// session is a run's connection: the target, the datacenter and its
// operations.
type session struct {
	t      *Target
	dcPath string
	ops    *vsphere.Ops
}

// open connects (stage "connect") and resolves the plan's datacenter.
func open(ctx context.Context, connect Connector, p *plan.Plan) (*session, error) {
	t, err := connect(ctx, p)
	if err != nil {
		return nil, err
	}
	s := &session{t: t}
	if s.dcPath, err = t.Client.ResolveDatacenter(ctx, t.Client.Datacenter()); err == nil {
		s.ops, err = t.Client.Ops(ctx, s.dcPath)
	}
	if err != nil {
		t.Close()
		return nil, err
	}
	return s, nil
}

func (s *session) close(ctx context.Context) {
	_ = s.ops.Close(context.WithoutCancel(ctx))
	s.t.Close()
}

// run is the stages after connect, under the plan's lease.
func (s *session) run(ctx context.Context, in *Input, opts Options, hooks Hooks, res *Result) error {
	p := in.Plan
	runID := opts.RunID
	lease, err := s.acquire(ctx, p, runID, opts, hooks)
	if err != nil {
		return err
	}
	defer func() {
		if err := lease.Release(context.WithoutCancel(ctx)); err != nil && hooks.LeaseReleaseFailed != nil {
			hooks.LeaseReleaseFailed(err, lease.Info())
		}
	}()

	jpath := opts.Journal
	if jpath == "" && s.t.JournalDir != "" {
		jpath = filepath.Join(s.t.JournalDir, p.Name+".journal")
	}
	if jpath == "" {
		if jpath, err = journal.DefaultPath(p.Name, s.t.Client.Host()); err != nil {
			return err
		}
	}
	if err := s.recoverDeadRuns(ctx, jpath, hooks); err != nil {
		return err
	}

	ch, err := s.readAndDiff(ctx, p, opts)
	if err != nil {
		return err
	}
	res.Changes = ch
	if out := plan.Target(ch, opts.Target); len(out) > 0 && hooks.Untargeted != nil {
		hooks.Untargeted(out)
	}
	h := ui.PlanHeader{Plan: p.Name, File: opts.Path, VCenter: s.t.VCenter()}
	if in.Saved != nil {
		if err := VerifySaved(opts.Path, in.Saved, ui.NewPlanDoc(h, ch)); err != nil {
			return err
		}
	}

	if hooks.Review != nil {
		if err := hooks.Review(h, ch); err != nil {
			return err
		}
	}
	if err := ch.Err(); err != nil {
		return err
	}
	if !opts.Destroy && !opts.AllowMassDestroy {
		if err := MassDestroy(ch); err != nil {
			return err
		}
	}
	if !ch.HasChanges() {
		return nil
	}
	if hooks.Confirm != nil && !hooks.Confirm(ch) {
		return ErrCancelled
	}

	rep, runErr := s.execute(ctx, ch, p, runID, jpath, hooks, lease.Valid)
	res.Report = rep
	if rep != nil && hooks.Finished != nil {
		hooks.Finished(rep)
	}
	if lerr := lease.Err(); lerr != nil && hooks.LeaseRenewFailed != nil {
		hooks.LeaseRenewFailed(lerr)
	}
	return runErr
}

// recoverDeadRuns waits for the tasks that runs which died (kill -9, reboot)
// left in flight, so that the inventory read next sees what they made
// (stage "recover").
func (s *session) recoverDeadRuns(ctx context.Context, path string, hooks Hooks) error {
	runs, err := journal.Unfinished(path)
	if err != nil {
		return fmt.Errorf("reading the journal %s: %w", path, err)
	}
	for run, entries := range runs {
		var tasks []string
		for _, e := range entries {
			tasks = append(tasks, e.Task)
		}
		if hooks.DeadRun != nil {
			hooks.DeadRun(run, len(tasks))
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
		err := s.t.Client.WaitTasks(wctx, tasks)
		cancel()
		if err != nil {
			return err
		}
	}
	return journal.Reset(path)
}

// readAndDiff reads the inventory afresh and diffs the plan (or, for
// destroy, the plan with no groups) against it (stage "read").
func (s *session) readAndDiff(ctx context.Context, p *plan.Plan, opts Options) (*plan.Changes, error) {
	// apply and destroy read every VM afresh (a cache emptied first); what
	// they read of the VMs no plan owns, which they do not change, is left
	// in the inventory cache for the plans that follow.
	inv, err := Read(ctx, s.t, s.dcPath, p, true)
	if err != nil {
		return nil, err
	}
	desired := Desired(p, opts.Destroy)
	return plan.Diff(desired, inv, plan.Options{ReplaceAll: opts.ReplaceAll, ChainWarning: opts.ChainWarning, Replace: opts.Replace}), nil
}

// Desired is what a run makes the inventory match: the plan, or for
// destroy the plan with no groups.
func Desired(p *plan.Plan, destroy bool) *plan.Plan {
	if !destroy {
		return p
	}
	empty := *p
	empty.Groups = nil
	return &empty
}

// acquire takes the plan's lease (stage "lock"), waiting up to
// opts.LockWait for a run that holds it.
func (s *session) acquire(ctx context.Context, p *plan.Plan, runID string, opts Options, hooks Hooks) (*vsphere.Lease, error) {
	deadline := time.Now().Add(opts.LockWait)
	told := false
	for {
		lease, err := s.ops.AcquireLease(ctx, vsphere.LocalHolder(p.Name, runID), opts.LeaseTTL)
		var held *vsphere.LeaseHeldError
		if err == nil || !errors.As(err, &held) || opts.LockWait <= 0 {
			return lease, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("waited %s (--lock-wait) for the lease: %w", opts.LockWait, err)
		}
		if !told && hooks.LockWaiting != nil {
			hooks.LockWaiting(held)
			told = true
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(min(lockPoll, left)):
		}
	}
}

// lockPoll is how often a run waiting for the lease (--lock-wait) tries
// again.
const lockPoll = time.Second

// MassDestroyError is MassDestroy's refusal.
type MassDestroyError struct {
	Plan                     string
	Owned, Destroys, Creates int
}

func (e *MassDestroyError) Error() string {
	return fmt.Sprintf("refusing to destroy %d of the %d clones plan %q owns while creating %d: nothing was changed. "+
		"If the plan was emptied by mistake (groups: [], counts set to 0), fix it; if this is what you want, pass --allow-mass-destroy; to remove every clone of the plan, use iclone-plan destroy",
		e.Destroys, e.Owned, e.Plan, e.Creates)
}

// MassDestroy refuses changes that would destroy every clone the plan owns,
// or more than half of them while creating fewer: the mark of a plan
// emptied by mistake. Debris of interrupted runs does not count, and a
// replaced clone is not destroyed (its slot is kept).
func MassDestroy(ch *plan.Changes) error {
	owned, destroys := 0, 0
	for _, it := range ch.Items {
		if it.Current == nil || it.Debris {
			continue
		}
		switch it.Action {
		case plan.NoOp, plan.Replace:
			owned++
		case plan.Destroy:
			owned++
			destroys++
		}
	}
	creates := ch.Count(plan.Create)
	if destroys > 0 && (destroys == owned || (2*destroys > owned && creates < destroys)) {
		return &MassDestroyError{Plan: ch.Plan.Name, Owned: owned, Destroys: destroys, Creates: creates}
	}
	return nil
}

// execute runs the changes, recording every task the moment it starts in
// the journal (stage "execute").
// guard is the lease's validity check: the executor asks it before every
// call that changes the inventory, and a run that may have lost its lease
// stops (docs/design.md, "The apply stages").
func (s *session) execute(ctx context.Context, ch *plan.Changes, p *plan.Plan, runID, jpath string, hooks Hooks, guard func() error) (*executor.Report, error) {
	jr, err := journal.Open(jpath, runID)
	if err != nil {
		return nil, fmt.Errorf("opening the journal %s: %w", jpath, err)
	}
	opts := executor.OptionsFrom(p.Execution, runID)
	opts.Hooks.Event = hooks.Event
	opts.Guard = guard
	// Outside the executor's lock; a failed record rolls the run back.
	opts.Hooks.Journal = func(op executor.Op, name, task string) error {
		return jr.Record(journal.Entry{Kind: "task", Op: string(op), Name: name, Task: task})
	}
	rep, runErr := executor.Run(ctx, ch, s.ops, opts)
	if err := jr.Finish(); err != nil && hooks.JournalFinishFailed != nil {
		hooks.JournalFinishFailed(jpath, err)
	}
	return rep, runErr
}

// VerifySaved refuses a saved plan whose reviewed content is not what
// applying it would do now (stage "verify"): the inventory changed since it
// was saved (its fingerprint), the plan text it carries names another plan
// than the one it was saved for, or the changes it showed are not the
// changes that text makes against the inventory. The text's hash proves
// only that the text is intact, not that it is the text that was reviewed.
// Nor is a plan reviewed against one vCenter applied to another, however
// alike their inventories.
func VerifySaved(path string, saved, now *ui.PlanDoc) error {
	if saved.Fingerprint != now.Fingerprint {
		return fmt.Errorf("the inventory changed since %s was saved (%s): nothing was applied; run plan again and review the new plan", path, saved.CreatedAt.Format(time.RFC3339))
	}
	if saved.Plan != now.Plan || saved.Datacenter != now.Datacenter {
		return fmt.Errorf("%s was saved for plan %q in %s but holds plan %q in %s; the file was edited or damaged: plan again",
			path, saved.Plan, saved.Datacenter, now.Plan, now.Datacenter)
	}
	if saved.VCenter != now.VCenter {
		return fmt.Errorf("%s was saved against vCenter %s, not %s; nothing was applied: plan again against this vCenter and review the new plan",
			path, saved.VCenter, now.VCenter)
	}
	key := func(c ui.ChangeDoc) string {
		cur := ""
		if c.Current != nil {
			cur = c.Current.Ref
		}
		return fmt.Sprintf("%s %s %s/%d %s %s %s", c.Action, c.Name, c.Group, c.Index, cur, c.Spec, strings.Join(c.MACs, ","))
	}
	var a, b []string
	for _, c := range saved.Changes {
		a = append(a, key(c))
	}
	for _, c := range now.Changes {
		b = append(b, key(c))
	}
	slices.Sort(a)
	slices.Sort(b)
	if !slices.Equal(a, b) || !slices.Equal(saved.Folders, now.Folders) {
		return fmt.Errorf("%s: the changes it shows are not the changes its plan makes now (the file was edited or damaged); nothing was applied: plan again and review the new plan", path)
	}
	return nil
}

// NewRunID returns a new run id: the UTC start time and a random tail.
func NewRunID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:4])
}
