package vsphere

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/iclone-plan/iclone-plan/internal/sim"
)

// Concurrent instant clones share one task poller: waiting for 32 tasks
// costs a few polls in all, not a property collector per task, and a task
// that fails returns its fault as govmomi's WaitForResult does.
func TestInstantClonesShareOnePoller(t *testing.T) {
	const n = 32
	ctx := context.Background()
	l := newWebLab(t, sim.Options{Latency: 100 * time.Millisecond, FailClone: n})
	c, ops, src := l.client, l.ops, l.src
	// Warm the caches (source devices, folder): they are read once.
	if _, err := ops.InstantClone(ctx, &CloneSpec{Source: src, Name: "warm", Folder: "/Lab/vm"}, nil); err != nil {
		t.Fatal(err)
	}
	before := c.RoundTrips()
	var wg sync.WaitGroup
	errs := make([]error, n-1)
	for i := range n - 1 {
		wg.Go(func() {
			_, errs[i] = ops.InstantClone(ctx, &CloneSpec{Source: src, Name: fmt.Sprintf("c%02d", i), Folder: "/Lab/vm"}, nil)
		})
	}
	wg.Wait()
	trips := c.RoundTrips() - before
	failed := 0
	for _, err := range errs {
		if err == nil {
			continue
		}
		failed++
		var te task.Error
		if !errors.As(err, &te) {
			t.Errorf("the injected failure is %T %v, want a task.Error", err, err)
		}
	}
	if failed != 1 {
		t.Errorf("%d clones failed, want the one injected", failed)
	}
	// One InstantClone_Task per clone plus the polls (about 30 here); a
	// property collector per task would take six or more per clone. The
	// bound leaves room for a slow machine.
	if trips > 4*(n-1) {
		t.Errorf("%d round trips for %d clones, want at most %d", trips, n-1, 4*(n-1))
	}
	t.Logf("%d round trips for %d concurrent clones", trips, n-1)
}

// The poller polls every task at its full interval and, between those, the
// tasks that have run about as long as the quickest recent one, at a short
// interval: next says when the next poll is due.
func TestTaskPollerNext(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	ms := time.Millisecond
	ago := func(d time.Duration) *taskWait { return &taskWait{kind: "clone", since: now.Add(-d)} }
	destroyAgo := func(d time.Duration) *taskWait { return &taskWait{kind: "destroy", since: now.Add(-d)} }
	tests := []struct {
		name           string
		typical, quick time.Duration
		lastFull       time.Duration // before now
		waits          []*taskWait
		destroy        *taskStats    // of the waits of kind destroy
		want           time.Duration // after now
	}{
		{name: "no task has ended yet: full polls only", lastFull: 0, waits: []*taskWait{ago(time.Second)}, want: pollFirst},
		{name: "no task due before the next full poll", typical: 200 * ms, quick: 200 * ms, lastFull: 5 * ms,
			waits: []*taskWait{ago(10 * ms), ago(50 * ms)}, want: 200*ms/8 - 5*ms},
		{name: "a task becomes due before the next full poll", typical: 200 * ms, quick: 200 * ms, lastFull: 0,
			waits: []*taskWait{ago(10 * ms), ago(180 * ms)}, want: 187500*time.Microsecond - 180*ms},
		{name: "a task is due: poll the due ones soon", typical: 200 * ms, quick: 200 * ms, lastFull: 0,
			waits: []*taskWait{ago(10 * ms), ago(190 * ms)}, want: 200 * ms / 64},
		{name: "the due tasks are long overdue: poll them less often", typical: 200 * ms, quick: 200 * ms, lastFull: 0,
			waits: []*taskWait{ago(10 * ms), ago(187500*time.Microsecond + 40*ms), ago(time.Second)}, want: 10 * ms},
		{name: "overdue, but another soon due", typical: 200 * ms, quick: 200 * ms, lastFull: 0,
			waits: []*taskWait{ago(185 * ms), ago(187500*time.Microsecond + 80*ms)}, want: 2500 * time.Microsecond},
		{name: "quick tasks: the shortest due interval", typical: 20 * ms, quick: 10 * ms, lastFull: 0,
			waits: []*taskWait{ago(10 * ms)}, want: pollDueMin},
		{name: "slow tasks: the longest due interval", typical: 20 * time.Second, quick: 10 * time.Second, lastFull: 0,
			waits: []*taskWait{ago(9500 * ms)}, want: pollDueMax},
		{name: "slow tasks, none due: the full interval", typical: 20 * time.Second, quick: 10 * time.Second, lastFull: 0,
			waits: []*taskWait{ago(time.Second)}, want: pollMax},
		{name: "a task of a kind not seen yet: full polls at the first interval", typical: 20 * time.Second, quick: 10 * time.Second, lastFull: 0,
			waits: []*taskWait{ago(time.Second), destroyAgo(0)}, want: pollFirst},
		{name: "kinds differ: a quick kind's due task is polled on its own terms", typical: 20 * time.Second, quick: 10 * time.Second, lastFull: 0,
			destroy: &taskStats{typical: 640 * ms, quick: 32 * ms},
			waits:   []*taskWait{ago(time.Second), destroyAgo(31 * ms)}, want: 10 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &taskPoller{lastFull: now.Add(-tt.lastFull), waits: map[types.ManagedObjectReference][]*taskWait{},
				stats: map[string]*taskStats{"clone": {typical: tt.typical, quick: tt.quick}}}
			if tt.destroy != nil {
				p.stats["destroy"] = tt.destroy
			}
			for i, w := range tt.waits {
				p.waits[types.ManagedObjectReference{Type: "Task", Value: fmt.Sprint("task-", i)}] = []*taskWait{w}
			}
			if got := p.next(now).Sub(now); got != tt.want {
				t.Errorf("next poll in %v, want %v", got, tt.want)
			}
		})
	}
}

// The quick estimate follows the shortest task at once and longer ones
// slowly, so one slow task does not delay the polls of the others; each
// kind of task has its own.
func TestTaskPollerQuickEstimate(t *testing.T) {
	p := &taskPoller{waits: map[types.ManagedObjectReference][]*taskWait{}, stats: map[string]*taskStats{}}
	ref := types.ManagedObjectReference{Type: "Task", Value: "task-1"}
	end := func(kind string, d time.Duration) {
		p.waits[ref] = []*taskWait{{kind: kind, since: time.Now().Add(-d), done: make(chan struct{})}}
		p.finish(ref, &types.TaskInfo{}, nil)
	}
	end("clone", 300*time.Millisecond)
	end("clone", 200*time.Millisecond)
	end("destroy", 20*time.Millisecond)
	if q := p.stats["clone"].quick; q < 200*time.Millisecond || q > 210*time.Millisecond {
		t.Fatalf("quick %v after clones of 300 and 200 ms (and a destroy of 20 ms), want about 200 ms", q)
	}
	if q := p.stats["destroy"].quick; q < 20*time.Millisecond || q > 25*time.Millisecond {
		t.Fatalf("quick %v of destroys after one of 20 ms, want about 20 ms", q)
	}
	end("clone", 10*time.Second)
	if q := p.stats["clone"].quick; q > 400*time.Millisecond {
		t.Errorf("quick %v after one 10 s task, want it to move up only slowly", q)
	}
}

// A new wait wakes the sleeping poller only when its task should be polled
// before the poll the poller sleeps until: the first of its kind at once,
// another after its kind's full interval or once due.
func TestTaskPollerFirstPoll(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	ms := time.Millisecond
	p := &taskPoller{stats: map[string]*taskStats{
		"clone":   {typical: 4 * time.Second, quick: 3 * time.Second},
		"destroy": {typical: 80 * ms, quick: 160 * ms},
	}}
	for _, tt := range []struct {
		kind string
		want time.Duration
	}{
		{"rename", 0},        // first of its kind
		{"destroy", 10 * ms}, // its full interval, before it is due
		{"clone", 500 * ms},  // its full interval
	} {
		if got := p.firstPoll(&taskWait{kind: tt.kind, since: now}).Sub(now); got != tt.want {
			t.Errorf("first poll of a %s task after %v, want %v", tt.kind, got, tt.want)
		}
	}
	p.stats["clone"].quick = 400 * ms
	if got := p.firstPoll(&taskWait{kind: "clone", since: now}).Sub(now); got != 375*ms {
		t.Errorf("first poll of a clone due at 375 ms after %v, want 375ms", got)
	}
}
