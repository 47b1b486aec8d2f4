package executor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/iclone-plan/iclone-plan/internal/cloud"
	"github.com/iclone-plan/iclone-plan/internal/ownership"
	"github.com/iclone-plan/iclone-plan/internal/plan"
)

// Run carries out ch. It returns the run's Report and, unless the run
// succeeded, a *RunError whose Outcome says what happened. Cancelling ctx
// (SIGINT/SIGTERM) stops submitting new tasks, lets in-flight tasks end and
// rolls back, whatever onFailure says.
//
// ch must have no conflicts; Run refuses a plan that has.
func Run(ctx context.Context, ch *plan.Changes, cloud Cloud, opts Options) (*Report, error) {
	if err := ch.Err(); err != nil {
		return nil, err
	}
	r := newRunner(ch, cloud, opts)
	if opts.Guard != nil {
		r.cloud = guarded{Cloud: cloud, r: r, guard: opts.Guard}
	}
	return r.run(ctx)
}

type runner struct {
	ch    *plan.Changes
	cloud Cloud
	opts  Options
	now   func() time.Time
	lim   *rate.Limiter
	retry backoff

	mu       sync.Mutex // guards everything below and serializes hooks
	report   *Report
	progress Progress
	failures int
	cause    error
	fatal    error // a failure of the run itself (abort): it rolls back
	stopped  bool
	undo     []undoStep // LIFO
	retired  []*opState // replaced clones to destroy when the run commits
	// aside holds the names that prepare gave VMs renamed out of the way
	// of another clone (by VM reference); written before any clone
	// operation starts, only read after.
	aside   map[string]string
	unknown int   // clones whose task did not report its end (unknown.go)
	silent  error // vCenter did not answer a step past its retries (persist.go)
}

// undoStep reverses one change this run made.
type undoStep struct {
	op   Op
	name string
	vm   string
	fn   func(ctx context.Context) error
}

// opState is one clone operation in flight.
type opState struct {
	change *plan.Change
	action *Action
	src    plan.Source
	folder string
}

func newRunner(ch *plan.Changes, cloud Cloud, opts Options) *runner {
	if opts.Parallelism < 1 {
		opts.Parallelism = 1
	}
	if opts.Backoff <= 0 {
		opts.Backoff = time.Second
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	lim := rate.NewLimiter(rate.Inf, 1)
	if opts.Rate > 0 {
		lim = rate.NewLimiter(rate.Limit(opts.Rate), 1)
	}
	return &runner{ch: ch, cloud: bounded(cloud, opts.TaskTimeout), opts: opts, now: now, lim: lim, retry: newBackoff(opts.Backoff),
		report: &Report{Run: opts.RunID, Plan: ch.Plan.Name, Execution: executionOf(opts),
			Actions: []*Action{}, Rollback: []*Step{}, Leftover: []Leftover{}}}
}

// executionOf is the report's record of the options that bound the run.
func executionOf(o Options) *Execution {
	e := &Execution{Parallelism: o.Parallelism, PerHost: o.PerHost, PerSource: o.PerSource, Rate: o.Rate,
		Retries: o.Retries, OnFailure: string(plan.OnFailureRollback), MaxFailures: o.MaxFailures}
	if o.Continue {
		e.OnFailure = string(plan.OnFailureContinue)
	}
	return e
}

// emit sends an event to the hook; the caller holds r.mu.
func (r *runner) emit(e Event) {
	if r.opts.Hooks.Event == nil {
		return
	}
	e.Time = r.now()
	e.Progress = r.progress
	r.opts.Hooks.Event(e)
}

func (r *runner) event(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.emit(e)
}

func (r *runner) pushUndo(u undoStep) {
	r.mu.Lock()
	r.undo = append(r.undo, u)
	r.mu.Unlock()
}

// fail records a failed operation and decides whether the run stops.
func (r *runner) fail(a *Action, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a.State, a.Error, a.Fault, a.Finished = ActionFailed, err.Error(), cloud.FaultName(err), r.now()
	r.progress.Failed++
	r.failures++
	if r.cause == nil {
		r.cause = fmt.Errorf("%s %s: %w", a.Op, a.Name, err)
	}
	r.emit(Event{Type: EventFailed, Op: a.Op, Name: a.Name, VM: a.VM, Err: err, Attempt: a.Attempts})
	if r.failures > r.opts.MaxFailures && !r.opts.Continue && !r.stopped {
		r.stopped = true
		r.emit(Event{Type: EventStopping, Err: r.cause})
	}
}

// abort stops the run for err, a failure of the run itself rather than of
// one operation: nothing new starts, and the run rolls back whatever
// onFailure says, with err as its cause.
func (r *runner) abort(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fatal != nil {
		return
	}
	r.fatal = err
	if !r.stopped {
		r.stopped = true
		r.emit(Event{Type: EventStopping, Err: err})
	}
}

func (r *runner) isStopped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopped
}

func (r *runner) run(ctx context.Context) (*Report, error) {
	r.report.Started = r.now()
	ops, debris, destroys := r.sortChanges()
	r.mu.Lock()
	// Every step counts: a replace twice (the new clone swapped in, then the
	// old one destroyed when the run commits).
	r.progress.Total = len(r.ch.Folders) + len(ops) + len(debris) + len(destroys)
	for _, o := range ops {
		if o.change.Action == plan.Replace && o.change.Current != nil {
			r.progress.Total++
		}
	}
	r.emit(Event{Type: EventStart})
	r.mu.Unlock()

	// Tasks are not cancelled by an interrupt: they end, and are then rolled
	// back. Only submission stops.
	work := context.WithoutCancel(ctx)

	r.destroyAll(work, nil, debris)
	if !r.isStopped() {
		r.prepare(ctx, work)
	}
	if !r.isStopped() {
		r.schedule(ctx, work, ops)
	}
	for _, a := range r.report.Actions {
		if a.State == ActionQueued {
			a.State = ActionSkipped
		}
	}
	runErr := r.conclude(ctx, work, destroys)
	return r.finish(runErr)
}

// sortChanges makes an operation (and its report Action) of each create
// and replace, and sorts the destroys: debris of a dead run (pending
// replacements, retired clones, VMs with broken markers) may hold a
// clone's name, so it goes first; what the plan no longer has goes last,
// when the run commits.
func (r *runner) sortChanges() (ops []*opState, debris, destroys []*plan.Change) {
	for i := range r.ch.Items {
		it := &r.ch.Items[i]
		switch it.Action {
		case plan.Create, plan.Replace:
			src := r.ch.Sources[it.Clone.Source]
			a := newAction(Op(it.Action.String()), it.Name)
			a.Group, a.Index, a.Reason, a.Host = it.Group, it.Index, it.Reason, src.HostName
			if it.Current != nil {
				a.OldVM = it.Current.Ref
			}
			r.report.Actions = append(r.report.Actions, a)
			ops = append(ops, &opState{change: it, action: a, src: src, folder: plan.CloneFolder(r.ch.Datacenter, it.Clone)})
		case plan.Destroy:
			if it.Debris {
				debris = append(debris, it)
			} else {
				destroys = append(destroys, it)
			}
		}
	}
	return ops, debris, destroys
}

// conclude rolls the run back (an interrupt, an abort, or failures without
// onFailure: continue) or commits it, destroying what was replaced and
// what the plan no longer has. It returns the run's error, if any.
func (r *runner) conclude(ctx, work context.Context, destroys []*plan.Change) *RunError {
	interrupted := ctx.Err() != nil
	r.mu.Lock()
	rollback := interrupted || r.fatal != nil || (r.failures > 0 && !r.opts.Continue)
	cause := r.cause
	if r.fatal != nil {
		cause = r.fatal
	}
	r.mu.Unlock()
	if !rollback {
		r.commit(work, destroys)
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.fatal != nil {
			// The guard stopped the commit: what it did not destroy is left.
			return &RunError{Outcome: OutcomeRollbackIncomplete, Cause: r.fatal, Rollback: r.fatal}
		}
		if r.failures > 0 {
			return &RunError{Outcome: OutcomePartial, Cause: r.cause}
		}
		return nil
	}
	runErr := &RunError{Outcome: OutcomeRolledBack, Cause: cause}
	if interrupted {
		runErr.Outcome, runErr.Cause = OutcomeInterrupted, ErrInterrupted
	}
	rbErr := r.rollback(work)
	if rbErr == nil {
		rbErr = r.unknownErr()
	}
	if rbErr != nil {
		runErr.Outcome, runErr.Rollback = OutcomeRollbackIncomplete, rbErr
	}
	return runErr
}

// finish stamps the report with the run's end and outcome.
func (r *runner) finish(runErr *RunError) (*Report, error) {
	rep := r.report
	rep.Finished = r.now()
	rep.Outcome = OutcomeSuccess
	if runErr != nil {
		rep.Outcome = runErr.Outcome
		if runErr.Cause != nil {
			rep.Cause = runErr.Cause.Error()
		}
	}
	r.event(Event{Type: EventFinish, Outcome: rep.Outcome})
	if runErr != nil {
		return rep, runErr
	}
	return rep, nil
}

// prepare creates the missing folders and disconnects owned VMs that are on
// their way out but hold a MAC another clone of this run will connect.
func (r *runner) prepare(ctx, work context.Context) {
	if !r.makeFolders(work) {
		return
	}

	// A MAC may move between slots (a changed template): the VM losing it
	// must be disconnected before any clone connects it.
	type slot struct {
		group string
		index int
	}
	wanted := map[string]slot{}
	for c := range r.ch.Plan.Clones() {
		for _, n := range c.NICs {
			wanted[n.MAC] = slot{c.Group, c.Index}
		}
	}
	for i := range r.ch.Items {
		it := &r.ch.Items[i]
		if it.Current == nil || (it.Action != plan.Replace && it.Action != plan.Destroy) {
			continue
		}
		clash := false
		for _, n := range it.Current.NICs {
			if s, ok := wanted[n.MAC]; ok && n.Connected && s != (slot{it.Group, it.Index}) {
				clash = true
			}
		}
		if !clash {
			continue
		}
		vm, nics := it.Current.Ref, it.Current.NICs
		if err := r.cloud.Reconfigure(work, vm, &cloud.VMChange{Connect: new(false)}); err != nil {
			a := newAction(OpDisconnect, it.Name)
			a.VM = vm
			r.mu.Lock()
			r.report.Actions = append(r.report.Actions, a)
			r.mu.Unlock()
			r.fail(a, err)
			return
		}
		r.pushUndo(undoStep{op: OpRestoreNICs, name: it.Name, vm: vm, fn: func(ctx context.Context) error {
			return r.cloud.Reconfigure(ctx, vm, &cloud.VMChange{Restore: nics})
		}})
	}
	r.freeNames(work)
}

// freeNames renames aside, to NAME~aside-RUN, each VM this run destroys or
// replaces that holds the name another clone of the run gets (a group
// renamed with the same cloneName, a cloneName shifted by one, a clone
// renamed by hand into another's name): else that clone's create or swap
// fails with DuplicateName. A rename is undone by the rollback, after the
// clones made in the name are gone; the VM keeps its markers, so a crash
// leaves nothing the next apply does not recognise.
func (r *runner) freeNames(work context.Context) {
	wanted := map[string]*plan.Change{} // path -> the change whose clone gets it
	for i := range r.ch.Items {
		it := &r.ch.Items[i]
		if (it.Action == plan.Create || it.Action == plan.Replace) && it.Clone != nil {
			wanted[plan.CloneFolder(r.ch.Datacenter, it.Clone)+"/"+it.Clone.Name] = it
		}
	}
	for i := range r.ch.Items {
		it := &r.ch.Items[i]
		if it.Current == nil || it.Debris || (it.Action != plan.Replace && it.Action != plan.Destroy) {
			continue
		}
		if taker, ok := wanted[it.Current.Path]; !ok || taker == it {
			continue
		}
		vm, name := it.Current.Ref, it.Current.Name
		aside := tempName(name, "~aside-"+shortRun(r.opts.RunID))
		if err := r.cloud.Rename(work, vm, aside); err != nil {
			a := &Action{Op: OpRename, Name: name, VM: vm, State: ActionQueued}
			r.mu.Lock()
			r.report.Actions = append(r.report.Actions, a)
			r.mu.Unlock()
			r.fail(a, fmt.Errorf("renaming %s aside to %s to free its name: %w", name, aside, err))
			return
		}
		if r.aside == nil {
			r.aside = map[string]string{}
		}
		r.aside[vm] = aside
		r.pushUndo(undoStep{op: OpRestoreName, name: name, vm: vm, fn: func(ctx context.Context) error {
			return r.cloud.Rename(ctx, vm, name)
		}})
	}
}

// renameBack names, when the run commits with failures (onFailure:
// continue), each clone freeNames renamed aside whose replace did not
// happen: it stays in service, so it gets its planned name (freed by
// freeNames) or else its old one. If neither is free, the report says
// where it is; the next apply replaces it under its planned name.
func (r *runner) renameBack(work context.Context) {
	for i := range r.ch.Items {
		it := &r.ch.Items[i]
		if it.Action != plan.Replace || it.Current == nil || it.Clone == nil {
			continue
		}
		aside, ok := r.aside[it.Current.Ref]
		if !ok || r.swapped(it.Current.Ref) {
			continue
		}
		vm := it.Current.Ref
		err := r.cloud.Rename(work, vm, it.Clone.Name)
		if err != nil && it.Clone.Name != it.Current.Name {
			err = r.cloud.Rename(work, vm, it.Current.Name)
		}
		if err != nil {
			r.mu.Lock()
			r.report.Leftover = append(r.report.Leftover, Leftover{Name: it.Clone.Name, VM: vm,
				What: fmt.Sprintf("its replace failed and it is still in service as %s (neither %s nor %s is free: %v); the next apply replaces it", aside, it.Clone.Name, it.Current.Name, err)})
			r.mu.Unlock()
		}
	}
}

// swapped reports whether the VM was swapped out by a replace that
// completed (it is retired and destroyed by the commit).
func (r *runner) swapped(vm string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range r.retired {
		if o.change.Current != nil && o.change.Current.Ref == vm {
			return true
		}
	}
	return false
}

// currentName is the name the VM ref, called name in the inventory read,
// has now: name, unless freeNames renamed it aside.
func (r *runner) currentName(ref, name string) string {
	if n, ok := r.aside[ref]; ok {
		return n
	}
	return name
}

// makeFolders creates the plan's missing folders, parents first: the
// folders of one depth at the same time (up to the plan's parallelism; on
// vCenter each is a round trip of its own), then the next depth. Undo
// steps are pushed parents first, so a rollback removes children first.
// It reports whether every folder was made.
func (r *runner) makeFolders(work context.Context) bool {
	byDepth := map[int][]string{}
	var depths []int
	for _, f := range r.ch.Folders {
		d := strings.Count(f, "/")
		if byDepth[d] == nil {
			depths = append(depths, d)
		}
		byDepth[d] = append(byDepth[d], f)
	}
	slices.Sort(depths)
	for _, d := range depths {
		level := byDepth[d]
		actions := make([]*Action, len(level))
		created := make([]bool, len(level))
		errs := make([]error, len(level))
		r.mu.Lock()
		for i, f := range level {
			actions[i] = newAction(OpFolder, f)
			actions[i].Queued = r.now()
			actions[i].Started = actions[i].Queued
			r.report.Actions = append(r.report.Actions, actions[i])
		}
		r.mu.Unlock()
		// Every folder is tried: the errors are kept per folder, not
		// returned to the group (which would only keep the first).
		var g errgroup.Group
		g.SetLimit(max(r.opts.Parallelism, 1))
		for i, f := range level {
			g.Go(func() error {
				created[i], errs[i] = r.cloud.EnsureFolder(work, f)
				return nil
			})
		}
		_ = g.Wait()
		ok := true
		for i, f := range level {
			// A request vCenter did not answer may still be carried out:
			// undo it too (removing a folder that is not there does
			// nothing), or the rollback would leave it unreported.
			if created[i] || cloud.Unanswered(errs[i]) {
				r.pushUndo(undoStep{op: OpRemoveFolder, name: f, fn: func(ctx context.Context) error { return r.cloud.RemoveFolder(ctx, f) }})
			}
			if errs[i] != nil {
				if created[i] {
					r.event(Event{Type: EventFolder, Op: OpFolder, Name: f})
				}
				r.fail(actions[i], fmt.Errorf("creating folder %s: %w", f, errs[i]))
				ok = false
				continue
			}
			r.mu.Lock()
			actions[i].State, actions[i].Finished = ActionDone, r.now()
			r.progress.Done++
			if created[i] {
				r.emit(Event{Type: EventFolder, Op: OpFolder, Name: f})
			}
			r.mu.Unlock()
		}
		if !ok {
			return false
		}
	}
	return true
}

// schedule runs the clone operations within the overall, per-host and
// per-source limits, starting one as soon as a slot is free and the rate
// allows; which one starts is slots.pick's choice. An operation releases
// its slot when its clone task ends, and finishes later, after its guest
// is ready and it is swapped in: waiting for guests must not hold up clone
// submissions. Once the run stops (failures, an interrupt), nothing new
// starts and schedule waits for the operations in flight.
func (r *runner) schedule(ctx, work context.Context, ops []*opState) {
	s := newSlots(ops, limits{overall: r.opts.Parallelism, perHost: r.opts.PerHost, perSource: r.opts.PerSource})
	r.mu.Lock()
	queued := r.now()
	for _, o := range ops {
		o.action.Queued = queued
	}
	r.mu.Unlock()
	ends := make(chan opEnd, 2*len(ops)) // a release and a finish per operation: sends never block
	running := 0
	for s.pending > 0 || running > 0 {
		stop := r.isStopped() || ctx.Err() != nil
		if !stop {
			if q := s.pick(); q != nil {
				if r.lim.Wait(ctx) == nil { // else interrupted: stop submitting
					r.launch(ctx, work, s.take(q), ends)
					running++
				}
				continue
			}
		}
		if stop && running == 0 {
			return
		}
		e, ok := r.nextEnd(ctx, ends, stop)
		switch {
		case !ok:
			continue // interrupted: look again, now stopping
		case e.finished:
			running--
		default:
			s.release(e.op)
		}
	}
}

// opEnd is a slot released (the clone task ended) or, with finished, an
// operation over.
type opEnd struct {
	op       *opState
	finished bool
}

// launch starts o in its own goroutine, which reports on ends when o's
// slot is released and when o is over.
func (r *runner) launch(ctx, work context.Context, o *opState, ends chan<- opEnd) {
	r.mu.Lock()
	r.progress.InFlight++
	r.mu.Unlock()
	go func() {
		// The progress count drops with the release itself, so an event
		// right after it never shows a finished clone in flight.
		release := sync.OnceFunc(func() {
			r.mu.Lock()
			r.progress.InFlight--
			r.mu.Unlock()
			ends <- opEnd{op: o}
		})
		r.runOp(ctx, work, o, release)
		release()
		ends <- opEnd{op: o, finished: true}
	}()
}

// nextEnd waits for the next release or finish. While submitting, an
// interrupt also wakes it (ok false), to stop submitting; once stopping,
// only the operations in flight matter.
func (r *runner) nextEnd(ctx context.Context, ends <-chan opEnd, stopping bool) (e opEnd, ok bool) {
	if stopping {
		return <-ends, true
	}
	select {
	case e = <-ends:
		return e, true
	case <-ctx.Done():
		return opEnd{}, false
	}
}

// runOp creates one clone (or, for a replacement, creates the new clone and
// swaps it in). release frees the operation's scheduling slot: it is called
// as soon as the clone task has ended, before waiting for the guest.
// With a ready condition the clone counts as made only once its guest is
// ready; with connectAfterReady its NICs start disconnected and are
// connected then (a replacement's NICs are connected by the swap, which
// also waits for readiness).
func (r *runner) runOp(ctx, work context.Context, o *opState, release func()) {
	c, a := o.change.Clone, o.action
	r.mu.Lock()
	a.Started = r.now()
	r.mu.Unlock()
	replace := o.change.Action == plan.Replace && o.change.Current != nil

	markers := ownership.Markers{Plan: r.ch.Plan.Name, Group: c.Group, Index: c.Index, Spec: c.SpecHash(),
		Run: r.opts.RunID, Created: r.now(), Source: o.src.InstanceUUID}
	name := c.Name
	if replace {
		markers.State = ownership.Replacement
		name = tempName(c.Name, "~"+shortRun(r.opts.RunID))
	}
	req := &cloud.CloneRequest{Source: o.src.Ref, Name: name, Folder: o.folder, Pool: plan.ResolvePath(r.ch.Datacenter, "host", c.ResourcePool),
		NICs: nicEdits(c.NICs), Serial: serialEdits(c.Serial), ExtraConfig: mergeConfig(c.ExtraConfig, markers.ExtraConfig()), Disconnected: replace || c.ConnectAfterReady}

	vm, err := r.cloneWithRetries(ctx, work, o, req)
	release()
	if err != nil {
		r.fail(a, err)
		return
	}
	a.VM = vm
	r.pushUndo(undoStep{op: OpDestroy, name: name, vm: vm, fn: func(ctx context.Context) error { return r.cloud.Destroy(ctx, vm) }})

	if c.Ready != nil {
		if err := r.awaitReady(ctx, o, vm); err != nil {
			r.fail(a, err)
			return
		}
		if c.ConnectAfterReady && !replace {
			if err := r.cloud.Reconfigure(work, vm, &cloud.VMChange{Connect: new(true)}); err != nil {
				r.fail(a, fmt.Errorf("connecting the NICs of the ready clone: %w", err))
				return
			}
		}
	}

	if replace {
		if err := r.swap(work, o, vm, name); err != nil {
			r.fail(a, err)
			return
		}
	}
	r.mu.Lock()
	a.State, a.Finished = ActionDone, r.now()
	r.progress.Done++
	if replace {
		r.retired = append(r.retired, o)
	}
	r.emit(Event{Type: EventDone, Op: a.Op, Name: a.Name, VM: vm, Attempt: a.Attempts})
	r.mu.Unlock()
}

// awaitReady waits until the clone's guest is ready, within the group's
// timeout. An interrupt ends the wait (the run then rolls back).
func (r *runner) awaitReady(ctx context.Context, o *opState, vm string) error {
	rd := o.change.Clone.Ready
	wctx, cancel := context.WithTimeout(ctx, rd.Timeout)
	defer cancel()
	start := r.now()
	if err := r.cloud.WaitGuest(wctx, vm, cloud.Ready{Tools: rd.Tools, Key: rd.Key, Value: rd.Value}); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted while waiting for the guest: %w", err)
		}
		return fmt.Errorf("guest not ready within %s: %w", rd.Timeout, err)
	}
	r.event(Event{Type: EventReady, Op: OpReady, Name: o.action.Name, VM: vm, Elapsed: r.now().Sub(start)})
	return nil
}

// cloneWithRetries runs the instant clone, retrying transient faults with
// exponential backoff. A failed attempt that left a half-made VM of this
// run behind is cleaned up before anything else happens.
func (r *runner) cloneWithRetries(ctx, work context.Context, o *opState, req *cloud.CloneRequest) (string, error) {
	a := o.action
	for attempt := 1; ; attempt++ {
		r.mu.Lock()
		a.Attempts = attempt
		r.mu.Unlock()
		tctx, cancel := r.taskContext(work)
		started := ""
		vm, err := r.cloud.InstantClone(tctx, req, func(task string) {
			r.mu.Lock()
			started = task
			a.Tasks = append(a.Tasks, task)
			r.mu.Unlock()
			r.journal(a.Op, req.Name, task)
			r.event(Event{Type: EventTaskStarted, Op: a.Op, Name: req.Name, Task: task, Attempt: attempt})
		})
		cancel()
		if err == nil {
			return vm, nil
		}
		if errors.Is(tctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("task timed out after %s: %w", r.opts.TaskTimeout, err)
		}
		cerr := r.cleanupHalfMade(work, req)
		r.unknownOutcome(req, started, err, cerr)
		if cerr != nil {
			err = fmt.Errorf("%w (and its half-made VM could not be removed: %v)", err, cerr)
			return "", err
		}
		if attempt > r.opts.Retries || !cloud.IsTransient(err) || ctx.Err() != nil || r.isStopped() {
			return "", err
		}
		r.event(Event{Type: EventRetry, Op: a.Op, Name: a.Name, Attempt: attempt, Err: err})
		select {
		case <-time.After(r.retry.delay(attempt)):
		case <-ctx.Done():
			return "", err
		}
		if err := r.lim.Wait(ctx); err != nil {
			return "", err
		}
	}
}

// journal records a started task through the Journal hook, outside the
// lock; a failed record aborts the run.
func (r *runner) journal(op Op, name, task string) {
	if r.opts.Hooks.Journal == nil {
		return
	}
	if err := r.opts.Hooks.Journal(op, name, task); err != nil {
		r.abort(fmt.Errorf("recording task %s of %s in the journal: %w", task, name, err))
	}
}

func (r *runner) taskContext(work context.Context) (context.Context, context.CancelFunc) {
	if r.opts.TaskTimeout > 0 {
		return context.WithTimeout(work, r.opts.TaskTimeout)
	}
	return context.WithCancel(work)
}

// cleanupHalfMade destroys a VM that a failed clone task of this run left
// behind under the requested name (vSphere backs out failed instant clones
// except in a small window at their very end).
//
// It is bounded by the task timeout, as a rollback step is: a vCenter that
// stopped answering must not hold the run here.
func (r *runner) cleanupHalfMade(work context.Context, req *cloud.CloneRequest) error {
	work, cancel := context.WithTimeout(work, r.patience())
	defer cancel()
	vm, markers, err := r.cloud.FindVM(work, req.Folder, req.Name)
	if err != nil {
		return err
	}
	if vm == "" || markers[ownership.KeyRun] != r.opts.RunID {
		return nil
	}
	err = r.cloud.Destroy(work, vm)
	r.event(Event{Type: EventDone, Op: OpCleanup, Name: req.Name, VM: vm, Err: err})
	return err
}

// swap puts the new clone (made disconnected under a temporary name) in
// place of the old one: disconnect and retire the old clone, rename both,
// connect the new one. If a step fails, the completed steps are undone at
// once and the new clone destroyed, so the old clone is as it was.
func (r *runner) swap(work context.Context, o *opState, newVM, tmp string) error {
	old := o.change.Current
	name := o.change.Clone.Name
	oldTmp := tempName(name, "~old-"+shortRun(r.opts.RunID))
	oldName := r.currentName(old.Ref, old.Name)
	steps := []struct {
		do, undo func(context.Context) error
	}{
		{
			do: func(ctx context.Context) error {
				return r.cloud.Reconfigure(ctx, old.Ref, &cloud.VMChange{Connect: new(false), ExtraConfig: ownership.SetState(ownership.Retired)})
			},
			undo: func(ctx context.Context) error {
				return r.cloud.Reconfigure(ctx, old.Ref, &cloud.VMChange{Restore: old.NICs, ExtraConfig: ownership.SetState(ownership.Live)})
			},
		},
		{
			do:   func(ctx context.Context) error { return r.cloud.Rename(ctx, old.Ref, oldTmp) },
			undo: func(ctx context.Context) error { return r.cloud.Rename(ctx, old.Ref, oldName) },
		},
		{
			do:   func(ctx context.Context) error { return r.cloud.Rename(ctx, newVM, name) },
			undo: func(ctx context.Context) error { return r.cloud.Rename(ctx, newVM, tmp) },
		},
		{
			do: func(ctx context.Context) error {
				return r.cloud.Reconfigure(ctx, newVM, &cloud.VMChange{Connect: new(true), ExtraConfig: ownership.SetState(ownership.Live)})
			},
			undo: func(ctx context.Context) error {
				return r.cloud.Reconfigure(ctx, newVM, &cloud.VMChange{Connect: new(false), ExtraConfig: ownership.SetState(ownership.Replacement)})
			},
		},
	}
	completed := 0
	unswap := func(ctx context.Context) error {
		var errs []error
		for i := completed - 1; i >= 0; i-- {
			errs = append(errs, steps[i].undo(ctx))
		}
		return errors.Join(errs...)
	}
	for _, s := range steps {
		if err := s.do(work); err != nil {
			// Undo now: the destroy of the new clone is already on the undo
			// stack, and rollback (or the next apply) removes it.
			if uerr := unswap(work); uerr != nil {
				// The old clone is not as it was: rollback tries again.
				r.pushUndo(undoStep{op: OpUnswap, name: name, vm: old.Ref, fn: unswap})
				return fmt.Errorf("swapping in the replacement: %w; undoing the swap also failed: %v", err, uerr)
			}
			if derr := r.cloud.Destroy(work, newVM); derr == nil {
				r.dropUndo(newVM)
			}
			return fmt.Errorf("swapping in the replacement: %w", err)
		}
		completed++
	}
	r.pushUndo(undoStep{op: OpUnswap, name: name, vm: old.Ref, fn: unswap})
	return nil
}

// dropUndo removes the undo steps of a VM that no longer exists.
func (r *runner) dropUndo(vm string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.undo[:0]
	for _, u := range r.undo {
		if u.vm != vm || u.op != OpDestroy {
			out = append(out, u)
		}
	}
	r.undo = out
}

// rollback undoes this run's changes in reverse order. Every step is tried;
// the errors are aggregated.
func (r *runner) rollback(work context.Context) error {
	r.mu.Lock()
	undo := r.undo
	r.undo = nil
	r.emit(Event{Type: EventRollback, Err: r.cause})
	r.mu.Unlock()
	var errs []error
	deadline := r.persistDeadline()
	for i := len(undo) - 1; i >= 0; i-- {
		u := undo[i]
		st := &Step{Op: u.op, Name: u.name, VM: u.vm, Started: r.now()}
		err := r.persist(work, deadline, u.fn)
		r.mu.Lock()
		st.Finished = r.now()
		if err != nil {
			st.Error = err.Error()
			errs = append(errs, fmt.Errorf("%s %s: %w", u.op, u.name, err))
			r.report.Leftover = append(r.report.Leftover, Leftover{Name: u.name, VM: u.vm, What: fmt.Sprintf("%s failed: %v", u.op, err)})
		}
		r.report.Rollback = append(r.report.Rollback, st)
		r.emit(Event{Type: EventRollbackStep, Op: u.op, Name: u.name, VM: u.vm, Err: err})
		r.mu.Unlock()
	}
	r.mu.Lock()
	for _, a := range r.report.Actions {
		if a.State == ActionDone {
			a.State = ActionRolledBack
		}
	}
	r.mu.Unlock()
	return errors.Join(errs...)
}

// commit destroys the clones that were replaced and those the plan no
// longer has. These are irreversible, so they come last. A replaced
// clone's destroy is a step of its replace action.
func (r *runner) commit(work context.Context, destroys []*plan.Change) {
	r.renameBack(work)
	var targets []destroyTarget
	r.mu.Lock()
	for _, o := range r.retired {
		targets = append(targets, destroyTarget{name: tempName(o.change.Clone.Name, "~old-"+shortRun(r.opts.RunID)),
			vm: o.change.Current.Ref, of: o.action})
	}
	r.mu.Unlock()
	r.destroyAll(work, targets, destroys)
}

// destroyTarget is a VM to destroy: the VM of a destroy change (of nil:
// the destroy is an action of its own), or a replaced clone (of: its
// replace action, of which the destroy is a step).
type destroyTarget struct {
	name, vm, reason string
	of               *Action
}

// destroyAll destroys the given replaced clones and the VMs of the given
// destroy changes, in parallel within the run's limits. A failure is
// recorded (and stops a run in rollback mode); the VM keeps its marker, so
// the next apply destroys it.
func (r *runner) destroyAll(work context.Context, retired []destroyTarget, destroys []*plan.Change) {
	targets := retired
	for _, d := range destroys {
		targets = append(targets, destroyTarget{name: d.Name, vm: d.Current.Ref, reason: d.Reason})
	}
	// Every destroy is tried: a failure is recorded on its action, not
	// returned to the group (which would only keep the first).
	var g errgroup.Group
	g.SetLimit(r.opts.Parallelism)
	deadline := r.persistDeadline()
	for _, t := range targets {
		r.mu.Lock()
		a, st := t.of, &Step{Op: OpDestroy, Name: t.name, VM: t.vm}
		if a == nil {
			a = newAction(OpDestroy, t.name)
			a.VM, a.Reason = t.vm, t.reason
			r.report.Actions = append(r.report.Actions, a)
		} else {
			a.Steps = append(a.Steps, st)
		}
		queued := r.now()
		if t.of == nil {
			a.Queued = queued
		}
		r.mu.Unlock()
		g.Go(func() error {
			_ = r.lim.Wait(work)
			r.mu.Lock()
			st.Started = r.now()
			if t.of == nil {
				a.Started, a.Attempts = st.Started, 1
			}
			r.mu.Unlock()
			err := r.persist(work, deadline, func(ctx context.Context) error { return r.cloud.Destroy(ctx, t.vm) })
			if err != nil {
				r.mu.Lock()
				st.Finished, st.Error = r.now(), err.Error()
				r.report.Leftover = append(r.report.Leftover, Leftover{Name: t.name, VM: t.vm, What: "not destroyed; the next apply destroys it: " + err.Error()})
				r.mu.Unlock()
				if t.of != nil {
					err = fmt.Errorf("destroying the replaced clone %s (%s): %w", t.name, t.vm, err)
				}
				r.fail(a, err)
				return nil
			}
			r.mu.Lock()
			st.Finished = r.now()
			if t.of == nil {
				a.State, a.Finished = ActionDone, st.Finished
			}
			r.progress.Done++
			r.emit(Event{Type: EventDone, Op: OpDestroy, Name: t.name, VM: t.vm})
			r.mu.Unlock()
			return nil
		})
	}
	_ = g.Wait()
}

// tempName appends suffix to name, shortening name so the result stays
// within vSphere's 80 characters.
func tempName(name, suffix string) string {
	r := []rune(name)
	if limit := plan.MaxNameLen - len([]rune(suffix)); len(r) > limit {
		r = r[:limit]
	}
	return string(r) + suffix
}

// shortRun is the distinctive tail of a run id (its random part), used in
// temporary names so runs never collide with each other's leftovers.
func shortRun(id string) string {
	if len(id) > 8 {
		return id[len(id)-8:]
	}
	return id
}

func mergeConfig(a, b map[string]string) map[string]string {
	out := make(map[string]string, len(a)+len(b))
	maps.Copy(out, a)
	maps.Copy(out, b)
	return out
}

// nicEdits and serialEdits turn the plan's device edits into the Cloud's.
func nicEdits(nics []plan.NIC) []cloud.NICEdit {
	var out []cloud.NICEdit
	for _, n := range nics {
		out = append(out, cloud.NICEdit(n))
	}
	return out
}

func serialEdits(ports []plan.SerialPort) []cloud.SerialEdit {
	var out []cloud.SerialEdit
	for _, s := range ports {
		out = append(out, cloud.SerialEdit(s))
	}
	return out
}
