package vsphere

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// taskPoller waits for the tasks of many concurrent callers with one
// request per poll: a single RetrievePropertiesEx of the state, error and
// result of every task still waited for, repeated until each has ended.
//
// It replaces one property collector per task (govmomi's WaitForResult:
// CreatePropertyCollector, CreateFilter, two or more WaitForUpdatesEx and
// DestroyPropertyCollector, five round trips or more per task and a
// collector that vCenter updates for every change in the inventory). With
// 32 clones in flight, a poll costs one round trip for all of them.
//
// The poll interval follows the tasks: an eighth of how long recent tasks
// of the kind waited for took (a moving average per kind: instant clones,
// destroys, renames...), between 5 ms and 500 ms, so even a task that
// ends early is seen within a fraction of a task's running time, whether
// tasks take 200 ms (the simulator) or 20 s (a busy vCenter). Between those
// full polls, a task that has run nearly as long as the quickest recent
// one is due: the due tasks alone are polled every sixty-fourth of the
// typical duration (2 ms to 100 ms; less often while they are all long
// overdue), so most completions are seen within a few milliseconds, while
// each of those polls names only the handful of tasks about to end (a slot
// freed late is a slot idle: every millisecond counts once per wave of
// clones on a host). It keeps no state in vCenter, so an expired session
// (the client logs in again) or a broken connection loses nothing: polling
// resumes after a pause. A caller whose context has no deadline (and
// WaitTasks) gives up after a minute of failed polls (or one request
// deadline, if shorter); one whose context ends while polls fail is told
// the poll's error. A vCenter that ends every new session at once counts
// as failing polls after a few logins.
type taskPoller struct {
	rt      soap.RoundTripper
	pc      types.ManagedObjectReference
	host    string                      // vCenter's host:port, for messages
	relogin func(context.Context) error // logs in again when the session is gone
	timeout time.Duration               // bound of one poll (Config.Timeout)

	mu       sync.Mutex
	waits    map[types.ManagedObjectReference][]*taskWait
	running  bool
	stats    map[string]*taskStats // by kind of task
	lastFull time.Time             // the last poll of every task
	wake     chan struct{}         // a new wait: work out the next poll again
	sleeping time.Time             // when the sleeping loop wakes up; zero when it is not asleep
	failing  error                 // the error of the last poll while polls fail; nil once one succeeds
}

// taskStats is how long the tasks of one kind (instant clones, destroys,
// ...) take: kinds differ by orders of magnitude.
type taskStats struct {
	typical time.Duration // moving average of task durations; 0 before the first
	// quick is a low estimate of how long a task takes: the shortest recent
	// duration, drifting up slowly; 0 before the first.
	quick time.Duration
}

type taskWait struct {
	kind    string
	since   time.Time
	bounded bool // the caller's context has a deadline
	missing int  // consecutive polls that did not find the task
	done    chan struct{}
	info    *types.TaskInfo
	err     error
}

const (
	pollFirst    = 10 * time.Millisecond // before any task has ended
	pollMin      = 5 * time.Millisecond
	pollMax      = 500 * time.Millisecond
	pollDueMin   = 2 * time.Millisecond // bounds of the interval between polls of due tasks
	pollDueMax   = 100 * time.Millisecond
	pollLostMax  = 2 * time.Second // pause after failed polls, doubling from 100 ms
	pollGiveUp   = time.Minute     // failed polls an unbounded wait sits out, at most
	pollVanished = 3               // polls without the task before it counts as gone
)

func newTaskPoller(c *Client) *taskPoller {
	return &taskPoller{rt: c.Vim, host: c.host, pc: c.Vim.ServiceContent.PropertyCollector, relogin: c.relogin, timeout: c.cfg.timeout(),
		waits: map[types.ManagedObjectReference][]*taskWait{}, stats: map[string]*taskStats{}, wake: make(chan struct{}, 1)}
}

// requestTimeout bounds one poll (and a login after a lost session).
func (p *taskPoller) requestTimeout() time.Duration {
	if p.timeout <= 0 {
		return DefaultTimeout
	}
	return p.timeout
}

// giveUpAfter is how long an unbounded wait sits out failed polls: a
// minute, or one request deadline if that is shorter.
func (p *taskPoller) giveUpAfter() time.Duration {
	return min(pollGiveUp, p.requestTimeout())
}

// tasks returns the client's task poller, made on first use: the one way
// this package waits for a task, shared by everything the client does, so
// one poll serves every task in flight.
func (c *Client) tasks() *taskPoller {
	c.pollerOnce.Do(func() { c.poller = newTaskPoller(c) })
	return c.poller
}

// waitTask waits for the task ref with the client's poller (see
// taskPoller.wait); kind names the kind of task, whose durations the
// poller learns.
func (c *Client) waitTask(ctx context.Context, ref types.ManagedObjectReference, kind string) (*types.TaskInfo, error) {
	return c.tasks().wait(ctx, ref, kind)
}

// waitEnded waits until each task has ended, whatever its result: a task
// that failed, or that vCenter no longer knows, is over. It returns an
// error only when ctx ends first. It is Client.WaitTasks with the poller.
//
// Its waits may be long (a dead run's tasks take what they take), but
// they give up as an unbounded wait does when vCenter has not answered a
// poll for a while (see giveUpAfter): a task whose end was not seen has
// not ended as far as the caller knows.
func (c *Client) waitEnded(ctx context.Context, refs []string) error {
	ctx = context.WithValue(ctx, giveUpKey{}, true)
	for _, ref := range refs {
		_, err := c.waitTask(ctx, types.ManagedObjectReference{Type: "Task", Value: ref}, "interrupted")
		if errors.Is(err, errPollsFailed) {
			return fmt.Errorf("waiting for task %s of an interrupted run: %w", ref, err)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("waiting for task %s of an interrupted run: %w", ref, ctx.Err())
		}
	}
	return nil
}

// giveUpKey marks a context whose task waits give up when the polls fail
// for a while, even though it has a deadline.
type giveUpKey struct{}

// errPollsFailed ends the waits that give up when vCenter has not
// answered the polls for a while.
var errPollsFailed = errors.New("vCenter did not answer the task polls")

// wait blocks until the task has ended or ctx is done. It returns the
// task's info; a task that ended in error returns a task.Error (as
// govmomi's WaitForResult does). kind names the kind of task (its
// durations are learnt per kind).
func (p *taskPoller) wait(ctx context.Context, ref types.ManagedObjectReference, kind string) (*types.TaskInfo, error) {
	_, bounded := ctx.Deadline()
	bounded = bounded && ctx.Value(giveUpKey{}) == nil
	w := &taskWait{kind: kind, since: time.Now(), bounded: bounded, done: make(chan struct{})}
	p.mu.Lock()
	p.waits[ref] = append(p.waits[ref], w)
	if !p.running {
		p.running = true
		go p.loop()
	} else if !p.sleeping.IsZero() && p.firstPoll(w).Before(p.sleeping) {
		// The loop sleeps until a poll worked out for slower tasks.
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	p.mu.Unlock()
	select {
	case <-w.done:
		return w.info, w.err
	case <-ctx.Done():
		p.mu.Lock()
		defer p.mu.Unlock()
		select {
		case <-w.done: // ended meanwhile
			return w.info, w.err
		default:
			p.drop(ref, w)
		}
		if p.failing != nil {
			// Say why the task's end was not seen: vCenter did not
			// answer, rather than the task running too long.
			return nil, fmt.Errorf("waiting for task %s: %w (the last polls failed: %w)", ref.Value, ctx.Err(), p.failing)
		}
		return nil, ctx.Err()
	}
}

// drop removes one waiter; p.mu is held.
func (p *taskPoller) drop(ref types.ManagedObjectReference, w *taskWait) {
	ws := slices.DeleteFunc(p.waits[ref], func(x *taskWait) bool { return x == w })
	if len(ws) == 0 {
		delete(p.waits, ref)
	} else {
		p.waits[ref] = ws
	}
}

// finish ends every wait for ref; p.mu is held.
func (p *taskPoller) finish(ref types.ManagedObjectReference, info *types.TaskInfo, err error) {
	now := time.Now()
	for _, w := range p.waits[ref] {
		w.info, w.err = info, err
		close(w.done)
		if err == nil || info != nil {
			d := now.Sub(w.since)
			st := p.statsOf(w.kind)
			if st.typical == 0 {
				st.typical = d
			} else {
				st.typical = (7*st.typical + d) / 8
			}
			if st.quick == 0 || d < st.quick {
				st.quick = d
			} else {
				st.quick += (d - st.quick) / 64
			}
		}
	}
	delete(p.waits, ref)
}

// statsOf returns the statistics of a kind of task; p.mu is held.
func (p *taskPoller) statsOf(kind string) *taskStats {
	st := p.stats[kind]
	if st == nil {
		st = &taskStats{}
		p.stats[kind] = st
	}
	return st
}

// interval is the interval between full polls: the shortest of the kinds
// of task waited for. p.mu is held.
func (p *taskPoller) interval() time.Duration {
	iv := pollMax
	for _, ws := range p.waits {
		for _, w := range ws {
			st := p.statsOf(w.kind)
			if st.typical == 0 {
				return pollFirst
			}
			iv = min(iv, st.fullInterval())
		}
	}
	return iv
}

// fullInterval is the interval between full polls for tasks of st's kind
// (st.typical > 0).
func (st *taskStats) fullInterval() time.Duration {
	return min(max(st.typical/8, pollMin), pollMax)
}

// dueInterval is the interval between polls of due tasks of st's kind.
func (st *taskStats) dueInterval() time.Duration {
	return min(max(st.typical/64, pollDueMin), pollDueMax)
}

// dueAt is when w's task may have ended: once it has run for nearly as
// long as the quickest recent task of its kind; ok is false before a task
// of its kind has ended. p.mu is held.
func (p *taskPoller) dueAt(w *taskWait) (at time.Time, ok bool) {
	st := p.statsOf(w.kind)
	return w.since.Add(st.quick - st.quick/16), st.quick > 0
}

// next is when the next poll is due, just after a poll at now: the next
// full poll, or earlier, when a task becomes due or, if some are due
// already, after the interval between polls of due tasks, which grows to
// a quarter of how long the most recently due task is overdue: tasks
// slower than usual (a busy vCenter) are not polled every few
// milliseconds for long. p.mu is held.
func (p *taskPoller) next(now time.Time) time.Time {
	at := p.lastFull.Add(p.interval())
	for _, ws := range p.waits {
		for _, w := range ws {
			d, ok := p.dueAt(w)
			if !ok {
				continue
			}
			if !d.After(now) {
				d = now.Add(max(p.statsOf(w.kind).dueInterval(), now.Sub(d)/4))
			}
			if d.Before(at) {
				at = d
			}
		}
	}
	return at
}

var taskProps = []string{"info.state", "info.error", "info.result"}

// loop polls until nothing is waited for: it picks the tasks due, reads
// their state in one request, and ends the waits of those that ended.
func (p *taskPoller) loop() {
	var fails pollFailures
	logins := 0 // logins since the last poll that was answered with a session
	for {
		objs, ok := p.due()
		if !ok {
			p.setFailing(nil)
			return
		}
		if len(objs) == 0 {
			p.sleepUntilNext()
			continue
		}
		res, err := p.poll(objs)
		if err == nil && notAuthenticated(res) {
			// The session is gone: log in again and poll at once; but a
			// vCenter that ends every new session at once is a failing
			// poll, not a reason to log in forever.
			if logins++; logins > reloginAttempts {
				err = fmt.Errorf("vCenter %s ended the session again after each of %d logins", p.host, reloginAttempts)
			} else if err = p.loginAgain(); err == nil {
				continue
			}
		}
		if err != nil {
			if p.forgotten(err) {
				continue
			}
			p.setFailing(err)
			fails.add()
			if fails.longerThan(p.giveUpAfter()) {
				p.giveUpUnbounded(err)
			}
			time.Sleep(fails.pause)
			continue
		}
		fails, logins = pollFailures{}, 0
		p.setFailing(nil)
		p.record(objs, res)
		p.sleepUntilNext()
	}
}

// setFailing records the error of the last poll while polls fail (nil
// once one succeeds), for the waits that end meanwhile.
func (p *taskPoller) setFailing(err error) {
	p.mu.Lock()
	p.failing = err
	p.mu.Unlock()
}

// due returns the tasks to poll now: every task at a full poll, else those
// due (see dueAt). ok is false when nothing is waited for any more: the
// loop ends (a new wait starts another).
func (p *taskPoller) due() (objs []types.ObjectSpec, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.waits) == 0 {
		p.running = false
		return nil, false
	}
	now := time.Now()
	full := !now.Before(p.lastFull.Add(p.interval()))
	if full {
		p.lastFull = now
	}
	objs = make([]types.ObjectSpec, 0, len(p.waits))
	for ref, ws := range p.waits {
		if full || slices.ContainsFunc(ws, func(w *taskWait) bool { d, ok := p.dueAt(w); return ok && !d.After(now) }) {
			objs = append(objs, types.ObjectSpec{Obj: ref, Skip: types.NewBool(false)})
		}
	}
	return objs, true
}

// poll reads the state, error and result of the tasks, in one request.
// The client bounds each request (Config.Timeout, failing with a
// StallError that names it); the poll's own, longer bound is a backstop.
func (p *taskPoller) poll(objs []types.ObjectSpec) ([]types.ObjectContent, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*p.requestTimeout())
	defer cancel()
	return mo.RetrievePropertiesEx(ctx, p.rt, types.RetrievePropertiesEx{This: p.pc,
		SpecSet: []types.PropertyFilterSpec{{ObjectSet: objs, PropSet: []types.PropertySpec{{Type: "Task", PathSet: taskProps}}}}})
}

func (p *taskPoller) loginAgain() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*p.requestTimeout())
	defer cancel()
	return p.relogin(ctx)
}

// forgotten ends the waits for a task vCenter no longer knows (the poll
// failed for it with ManagedObjectNotFound): its outcome is unknown.
func (p *taskPoller) forgotten(err error) bool {
	ref, ok := missingObject(err)
	if !ok {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.waits[ref] == nil {
		return false
	}
	p.finish(ref, nil, fmt.Errorf("waiting for task %s: %w", ref.Value, err))
	return true
}

// giveUpUnbounded ends, with err, the waits whose context has no deadline
// (the others end with their context).
func (p *taskPoller) giveUpUnbounded(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for ref, ws := range p.waits {
		var keep []*taskWait
		for _, w := range ws {
			if w.bounded {
				keep = append(keep, w)
				continue
			}
			w.err = fmt.Errorf("waiting for task %s: %w for %s: %w", ref.Value, errPollsFailed, p.giveUpAfter(), err)
			close(w.done)
		}
		if len(keep) == 0 {
			delete(p.waits, ref)
		} else {
			p.waits[ref] = keep
		}
	}
}

// record ends the waits of the tasks polled that ended, and of those that
// vCenter did not return pollVanished polls in a row.
func (p *taskPoller) record(objs []types.ObjectSpec, res []types.ObjectContent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	seen := make(map[types.ManagedObjectReference]bool, len(res))
	for _, oc := range res {
		seen[oc.Obj] = true
		p.ended(oc.Obj, taskInfo(oc))
	}
	for _, o := range objs {
		if !seen[o.Obj] && p.waits[o.Obj] != nil {
			p.notReturned(o.Obj)
		}
	}
}

// ended ends the waits for a task that succeeded or failed; p.mu is held.
func (p *taskPoller) ended(ref types.ManagedObjectReference, info *types.TaskInfo) {
	switch info.State {
	case types.TaskInfoStateSuccess:
		p.finish(ref, info, nil)
	case types.TaskInfoStateError:
		if info.Error == nil {
			info.Error = &types.LocalizedMethodFault{Fault: &types.SystemError{}, LocalizedMessage: "task failed without an error"}
		}
		p.finish(ref, info, task.Error{LocalizedMethodFault: info.Error})
	default:
		for _, w := range p.waits[ref] {
			w.missing = 0
		}
	}
}

// notReturned counts a poll that did not return the task; after
// pollVanished in a row, the task is gone. p.mu is held.
func (p *taskPoller) notReturned(ref types.ManagedObjectReference) {
	gone := false
	for _, w := range p.waits[ref] {
		w.missing++
		gone = gone || w.missing >= pollVanished
	}
	if gone {
		p.finish(ref, nil, fmt.Errorf("task %s no longer exists in vCenter", ref.Value))
	}
}

// pollFailures are the polls failed in a row: since when, and the pause
// before the next, doubling from 100 ms up to pollLostMax.
type pollFailures struct {
	since time.Time
	pause time.Duration
}

func (f *pollFailures) add() {
	if f.since.IsZero() {
		f.since, f.pause = time.Now(), 100*time.Millisecond
		return
	}
	f.pause = min(2*f.pause, pollLostMax)
}

func (f *pollFailures) longerThan(d time.Duration) bool {
	return !f.since.IsZero() && time.Since(f.since) > d
}

// sleepUntilNext sleeps until the next poll is due, or a new wait comes;
// it does not sleep when nothing is waited for (the loop then ends).
func (p *taskPoller) sleepUntilNext() {
	p.mu.Lock()
	if len(p.waits) == 0 {
		p.mu.Unlock()
		return
	}
	now := time.Now()
	at := p.next(now)
	p.sleeping = at
	p.mu.Unlock()
	t := time.NewTimer(at.Sub(now))
	defer t.Stop()
	select {
	case <-t.C:
	case <-p.wake:
	}
	p.mu.Lock()
	p.sleeping = time.Time{}
	p.mu.Unlock()
}

// firstPoll is when w's task should first be polled: at once for the
// first of its kind, else after its kind's full interval or when it is
// due, whichever is first. p.mu is held.
func (p *taskPoller) firstPoll(w *taskWait) time.Time {
	st := p.statsOf(w.kind)
	if st.typical == 0 {
		return w.since
	}
	first := w.since.Add(st.fullInterval())
	if d, ok := p.dueAt(w); ok && d.Before(first) {
		first = d
	}
	return first
}

// taskInfo reads the properties of taskProps.
func taskInfo(oc types.ObjectContent) *types.TaskInfo {
	info := &types.TaskInfo{Task: oc.Obj, Key: oc.Obj.Value}
	for _, prop := range oc.PropSet {
		switch prop.Name {
		case "info.state":
			switch v := prop.Val.(type) {
			case types.TaskInfoState:
				info.State = v
			case string:
				info.State = types.TaskInfoState(v)
			}
		case "info.error":
			switch v := prop.Val.(type) {
			case types.LocalizedMethodFault:
				info.Error = &v
			case *types.LocalizedMethodFault:
				info.Error = v
			}
		case "info.result":
			info.Result = prop.Val
		}
	}
	return info
}

// missingObject returns the object of a ManagedObjectNotFound fault.
func missingObject(err error) (types.ManagedObjectReference, bool) {
	if soap.IsSoapFault(err) {
		switch f := soap.ToSoapFault(err).VimFault().(type) {
		case types.ManagedObjectNotFound:
			return f.Obj, true
		case *types.ManagedObjectNotFound:
			return f.Obj, true
		}
	}
	return types.ManagedObjectReference{}, false
}
