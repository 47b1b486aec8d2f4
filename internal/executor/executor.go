// Package executor carries out a plan's Changes against vCenter through the
// small Cloud interface: bounded parallelism, a token-bucket submission
// rate, per-host and per-source limits, retries of transient faults with
// backoff, a timeout per task, and rollback of the run when it fails.
//
// The executor never prints. It reports through Hooks, and its result is a
// Report. The safety rules it keeps are docs/design.md's invariants
// (section 7; the protocol is section 4, "Ownership"):
//
//   - It only ever touches VMs the plan's Changes name (which the planner
//     only lets be VMs carrying the plan's marker) and VMs it created itself.
//   - Replacements are create-before-destroy: the new clone is made with its
//     NICs disconnected under a temporary name; the swap disconnects the old
//     clone before it connects the new one, so no two connected NICs ever
//     share a MAC; old clones are destroyed only once the whole run has
//     succeeded, so a rollback restores them exactly.
//   - Destroys of clones the plan no longer has are done last, for the same
//     reason.
package executor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/iclone-plan/iclone-plan/internal/cloud"
	"github.com/iclone-plan/iclone-plan/internal/plan"
)

// Cloud is what the executor needs of vCenter. *vsphere.Ops implements it;
// every method is safe for concurrent use. VMs are identified by their
// managed object reference value. The requests are internal/cloud's types,
// and a failed call's error carries a *cloud.Fault that says whether a
// retry may help: the executor never sees vSphere's own types.
type Cloud interface {
	// EnsureFolder creates the VM folder at path (and its parents) if it
	// does not exist, and reports whether it created it.
	EnsureFolder(ctx context.Context, path string) (created bool, err error)
	// RemoveFolder removes the folder at path if it is empty.
	RemoveFolder(ctx context.Context, path string) error
	// InstantClone runs InstantClone_Task as req says, calls started with
	// the task's reference as soon as the task exists, and returns the new
	// VM's reference when the task succeeds.
	InstantClone(ctx context.Context, req *cloud.CloneRequest, started func(task string)) (vm string, err error)
	// FindVM returns the reference and markers of the VM called name in the
	// folder at path, or "" if there is none.
	FindVM(ctx context.Context, folder, name string) (vm string, markers map[string]string, err error)
	// Destroy powers the VM off if needed and destroys it. A VM that no
	// longer exists is not an error.
	Destroy(ctx context.Context, vm string) error
	// Rename renames the VM.
	Rename(ctx context.Context, vm, name string) error
	// Reconfigure changes the VM's NIC connection states and extraConfig.
	Reconfigure(ctx context.Context, vm string, change *cloud.VMChange) error
	// WaitGuest blocks until the VM's guest is ready as ready says (Tools
	// running, the ready key set), or ctx ends; the error then says what
	// is missing. Many waits may run at once.
	WaitGuest(ctx context.Context, vm string, ready cloud.Ready) error
}

// Options say how to run. Load them from the plan's execution block with
// OptionsFrom; the zero value runs one task at a time with no rate limit.
type Options struct {
	// Parallelism is the number of clone tasks in flight overall (>= 1).
	Parallelism int
	// PerHost and PerSource limit tasks in flight per ESXi host and per
	// source VM; 0 means no limit.
	PerHost, PerSource int
	// Rate is the number of task submissions per second; 0 means no limit.
	Rate float64
	// Retries is how often a transient fault is retried.
	Retries int
	// Backoff is the wait before the first retry, doubled each time up to
	// ten seconds, less a random part of up to half (jitter); 0 means one
	// second.
	Backoff time.Duration
	// TaskTimeout bounds each task; 0 means no timeout.
	TaskTimeout time.Duration
	// Continue keeps going after failures (onFailure: continue) instead of
	// rolling back.
	Continue bool
	// MaxFailures is the number of failures tolerated before the run stops
	// (and, unless Continue, rolls back).
	MaxFailures int
	// RunID is this run's id, stamped on every clone as iclone.run.
	RunID string
	// Now returns the current time (for markers); nil means time.Now.
	Now func() time.Time
	// Hooks receive progress; nil fields are ignored.
	Hooks Hooks
	// Guard, if set, is asked before every call that changes the inventory
	// (clone, destroy, rename, reconfigure, folders), rollback steps
	// included. An error refuses the call and stops the run for good: it
	// makes no further change, and every change it made stays and is
	// reported as left (Report.Leftover). apply passes the lease's
	// validity check: a run that may have lost its lease must not act.
	Guard func() error
}

// OptionsFrom returns the options of a plan's execution block.
func OptionsFrom(e plan.Execution, runID string) Options {
	return Options{
		Parallelism: e.Parallelism, PerHost: e.PerHost, PerSource: e.PerSource,
		Rate: e.Rate.PerSecond, Retries: e.Retries, TaskTimeout: e.TaskTimeout,
		Continue: e.OnFailure == plan.OnFailureContinue, MaxFailures: e.MaxFailures, RunID: runID,
	}
}

// Hooks report what the executor does.
type Hooks struct {
	// Event is called for every step: see EventType. Events are delivered
	// one at a time, under the executor's lock: Event must not block for
	// long (no disk syncs; use Journal for those).
	Event func(Event)
	// Journal, if set, is called when a vCenter task starts, before
	// anything else happens with the task, from the goroutine that started
	// it and outside the executor's lock: it may write and sync a file.
	// Calls may come from several goroutines at once. An error is a
	// failure of the run itself: nothing new is submitted, and the run
	// rolls back whatever onFailure says, with the error as its cause (a
	// run whose tasks are not recorded is not crash-safe).
	Journal func(op Op, name, task string) error
}

// EventType says what an Event reports.
type EventType string

// Event types, in the order a run emits them.
const (
	EventStart        EventType = "start"         // the run starts; Progress.Total is set
	EventFolder       EventType = "folder"        // a folder was created
	EventTaskStarted  EventType = "task-started"  // a vCenter task exists: record Task now
	EventRetry        EventType = "retry"         // a transient fault; retrying after a backoff
	EventReady        EventType = "ready"         // a clone's guest is ready (Elapsed: how long it took)
	EventDone         EventType = "done"          // an operation succeeded
	EventFailed       EventType = "failed"        // an operation failed for good
	EventStopping     EventType = "stopping"      // failures or an interrupt stop the run
	EventRollback     EventType = "rollback"      // rollback starts
	EventRollbackStep EventType = "rollback-step" // one rollback step ended (Err set if it failed)
	EventFinish       EventType = "finish"        // the run ended; Outcome is set
)

// Op names what an Event, Action or rollback Step is about.
type Op string

// Operations of a run.
const (
	OpCreate     Op = "create"     // a new clone
	OpReplace    Op = "replace"    // a new clone swapped in for the current one
	OpDestroy    Op = "destroy"    // a VM destroyed (or, in rollback, a clone this run made)
	OpFolder     Op = "folder"     // a folder created
	OpDisconnect Op = "disconnect" // a VM on its way out disconnected to free a MAC
	OpRename     Op = "rename"     // a VM on its way out renamed aside to free a name
	OpCleanup    Op = "cleanup"    // a half-made VM of a failed clone task removed
	OpReady      Op = "ready"      // a clone's guest became ready

	// Rollback steps.
	OpUnswap       Op = "unswap"        // a swap undone: the old clone back in place
	OpRemoveFolder Op = "remove-folder" // a folder this run created removed
	OpRestoreNICs  Op = "restore-nics"  // a disconnected VM's NICs restored
	OpRestoreName  Op = "restore-name"  // a VM renamed aside given its name back
)

// ActionState is where an Action is. (A replacement's iclone.state marker
// is something else: ownership.State.)
type ActionState string

// States of an Action.
const (
	ActionQueued     ActionState = "queued"      // not started yet; never left in a finished report
	ActionDone       ActionState = "done"        // succeeded
	ActionFailed     ActionState = "failed"      // failed for good
	ActionSkipped    ActionState = "skipped"     // never started: the run stopped first
	ActionRolledBack ActionState = "rolled-back" // succeeded, then undone by the rollback
)

// Event is one step of a run.
type Event struct {
	Time     time.Time
	Type     EventType
	Op       Op
	Name     string        // clone name
	VM       string        // VM reference, when known
	Task     string        // task reference, for EventTaskStarted
	Attempt  int           // 1-based attempt of the operation
	Elapsed  time.Duration // for EventReady: the wait for the guest
	Err      error
	Progress Progress
	Outcome  Outcome // for EventFinish
}

// Progress counts the run's steps: every folder to create, every clone to
// create or replace, every replaced clone's destroy (part of its replace
// action) and every VM to destroy. On a run that succeeds, Done reaches
// Total; InFlight counts the clone tasks holding a slot.
type Progress struct {
	Total    int `json:"total"`
	Done     int `json:"done"`
	Failed   int `json:"failed"`
	InFlight int `json:"inFlight"`
}

// Outcome is how a run ended.
type Outcome string

// Outcomes of a run.
const (
	OutcomeSuccess            Outcome = "success"
	OutcomeRolledBack         Outcome = "rolled-back"
	OutcomeRollbackIncomplete Outcome = "rollback-incomplete"
	OutcomePartial            Outcome = "partial"     // onFailure: continue, with failures
	OutcomeInterrupted        Outcome = "interrupted" // interrupted, then rolled back
)

// ErrInterrupted is the cause reported when the run's context was cancelled.
var ErrInterrupted = errors.New("interrupted")

// Report is the record of a run: every action with its task, timings and
// fault, the rollback steps, and what is left if rollback was incomplete.
type Report struct {
	Run      string    `json:"run"`
	Plan     string    `json:"plan"`
	Outcome  Outcome   `json:"outcome"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Cause is the first failure that stopped the run, if any.
	Cause string `json:"cause,omitempty"`
	// Execution is the run's execution settings: what bounds its speed.
	Execution *Execution `json:"execution,omitempty"`
	// Actions, Rollback and Leftover are never nil, so that the JSON report
	// always has its lists (empty when there is nothing).
	Actions  []*Action  `json:"actions"`
	Rollback []*Step    `json:"rollback"`
	Leftover []Leftover `json:"leftover"`
}

// Execution is the execution settings a run applied (the plan's execution
// block), as the report records them.
type Execution struct {
	Parallelism int     `json:"parallelism"`
	PerHost     int     `json:"perHost"`
	PerSource   int     `json:"perSource"`
	Rate        float64 `json:"rate"`
	Retries     int     `json:"retries"`
	OnFailure   string  `json:"onFailure"` // rollback or continue
	MaxFailures int     `json:"maxFailures"`
}

// Action is one planned operation and how it went. A replace is one
// action: the destroy of the clone it replaced (when the run commits) is
// one of its Steps, not an action of its own.
type Action struct {
	Op     Op     `json:"op"` // create, replace, destroy, folder, disconnect
	Name   string `json:"name"`
	Group  string `json:"group,omitempty"`
	Index  int    `json:"index,omitempty"`
	Reason string `json:"reason,omitempty"`
	VM     string `json:"vm,omitempty"`    // the VM created or destroyed
	OldVM  string `json:"oldVm,omitempty"` // for replace: the clone replaced
	// Host is the ESXi host a clone operation ran on (its source's host).
	Host string `json:"host,omitempty"`
	// Tasks and Steps are never nil (the JSON lists are always present).
	Tasks    []string `json:"tasks"`
	Attempts int      `json:"attempts,omitempty"`
	// Queued is when the operation was ready to start and began to wait
	// for a slot or the rate limit.
	Queued   time.Time   `json:"queued,omitzero"`
	Started  time.Time   `json:"started,omitzero"`
	Finished time.Time   `json:"finished,omitzero"`
	State    ActionState `json:"state"`
	Error    string      `json:"error,omitempty"`
	Fault    string      `json:"fault,omitempty"` // the vSphere fault type, if any
	// Steps are the later steps of the action: for a replace, the destroy
	// of the replaced clone when the run commits.
	Steps []*Step `json:"steps"`
}

// Counts returns how many actions of each operation (create, replace,
// destroy, ...) are in state st. It counts the way plan does: a replaced
// clone's destroy is a step of its replace action, not a destroy of its own.
func (r *Report) Counts(st ActionState) map[Op]int {
	n := map[Op]int{}
	for _, a := range r.Actions {
		if a.State == st {
			n[a.Op]++
		}
	}
	return n
}

// newAction returns a queued action with its lists made.
func newAction(op Op, name string) *Action {
	return &Action{Op: op, Name: name, State: ActionQueued, Tasks: []string{}, Steps: []*Step{}}
}

// Step is one rollback step, or a later step of an action (a replaced
// clone's destroy).
type Step struct {
	Op       Op        `json:"op"` // destroy, unswap, remove-folder, restore-nics
	Name     string    `json:"name"`
	VM       string    `json:"vm,omitempty"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
	Error    string    `json:"error,omitempty"`
}

// Leftover is something a failed rollback could not undo.
type Leftover struct {
	Name string `json:"name"`
	VM   string `json:"vm,omitempty"`
	What string `json:"what"`
}

// Failed returns the actions that failed.
func (r *Report) Failed() []*Action {
	var out []*Action
	for _, a := range r.Actions {
		if a.State == ActionFailed {
			out = append(out, a)
		}
	}
	return out
}

// RunError is returned by Run when the run did not succeed; the Report says
// the rest.
type RunError struct {
	Outcome Outcome
	Cause   error
	// Rollback holds the rollback failures, if any.
	Rollback error
}

func (e *RunError) Error() string {
	switch e.Outcome {
	case OutcomeRolledBack:
		return fmt.Sprintf("apply failed and was rolled back: %v", e.Cause)
	case OutcomeInterrupted:
		return "apply was interrupted and rolled back"
	case OutcomeRollbackIncomplete:
		return fmt.Sprintf("apply failed (%v) and the rollback was incomplete: %v", e.Cause, e.Rollback)
	case OutcomePartial:
		return fmt.Sprintf("apply finished with failures: %v", e.Cause)
	}
	return fmt.Sprint(e.Cause)
}

func (e *RunError) Unwrap() error { return e.Cause }
