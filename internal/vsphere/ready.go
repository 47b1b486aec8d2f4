package vsphere

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// ReadyCond is when a clone is ready: Tools running and, if Key is set,
// extraConfig Key equal to Value (a guest script sets it once the guest has
// taken its new identity).
type ReadyCond struct {
	Tools      bool
	Key, Value string
}

// ReadyWaiter waits for many clones to become ready with one property
// collector, one list view and one filter, whatever the number of clones:
// a clone is added to the view when a wait starts and removed when it ends,
// and one WaitForUpdatesEx loop serves every wait. It is safe for concurrent
// use. Close it when done.
type ReadyWaiter struct {
	c    *Client
	pc   *property.Collector
	view *view.ListView
	stop context.CancelFunc
	done chan struct{}

	mu        sync.Mutex
	guests    map[string]*guestState // by VM reference
	waiters   map[string][]*readyWait
	err       error // the update loop's failure, if it stopped
	refreshed time.Time

	// View changes are batched: one ModifyListView adds (or removes) every
	// VM queued meanwhile, so 500 waits do not cost 1,000 calls.
	viewMu          sync.Mutex
	toAdd, toRemove []types.ManagedObjectReference
	kick            chan struct{}
}

type guestState struct {
	tools string
	power string
	extra map[string]string
}

type readyWait struct {
	cond ReadyCond
	ch   chan struct{}
}

// readyProps are the properties the filter watches.
var readyProps = []string{"guest.toolsRunningStatus", "runtime.powerState", "config.extraConfig"}

// NewReadyWaiter creates the collector, view and filter and starts the
// update loop.
func (c *Client) NewReadyWaiter(ctx context.Context) (*ReadyWaiter, error) {
	pc, err := property.DefaultCollector(c.Vim).Create(ctx)
	if err != nil {
		return nil, fmt.Errorf("creating a property collector to wait for guests: %w", err)
	}
	lv, err := view.NewManager(c.Vim).CreateListView(ctx, nil)
	if err != nil {
		_ = pc.Destroy(ctx)
		return nil, fmt.Errorf("creating a view to wait for guests: %w", err)
	}
	loop, stop := context.WithCancel(context.WithoutCancel(ctx))
	w := &ReadyWaiter{c: c, pc: pc, view: lv, stop: stop, done: make(chan struct{}),
		guests: map[string]*guestState{}, waiters: map[string][]*readyWait{}, kick: make(chan struct{}, 1)}
	if _, err = pc.CreateFilter(ctx, types.CreateFilter{Spec: w.spec()}); err != nil {
		stop()
		_ = lv.Destroy(ctx)
		_ = pc.Destroy(ctx)
		return nil, fmt.Errorf("creating the filter to wait for guests: %w", err)
	}
	go w.loop(loop)
	go w.viewer(loop)
	return w, nil
}

// viewer applies the queued view changes, a batch at a time.
func (w *ReadyWaiter) viewer(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.kick:
		}
		w.viewMu.Lock()
		add, remove := w.toAdd, w.toRemove
		w.toAdd, w.toRemove = nil, nil
		w.viewMu.Unlock()
		if len(add) > 0 {
			if _, err := w.view.Add(ctx, add); err != nil && ctx.Err() == nil {
				w.fail(fmt.Errorf("watching guests: adding VMs to the view: %w", err))
				return
			}
		}
		if len(remove) > 0 {
			_, _ = w.view.Remove(ctx, remove)
		}
	}
}

func (w *ReadyWaiter) queue(add bool, ref types.ManagedObjectReference) {
	w.viewMu.Lock()
	if add {
		w.toAdd = append(w.toAdd, ref)
	} else {
		w.toRemove = append(w.toRemove, ref)
	}
	w.viewMu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// fail stops every wait with err.
func (w *ReadyWaiter) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
	for ref := range w.waiters {
		w.notify(ref)
	}
}

// resync is how often the loop also reads the full state of every VM in
// the view (one call for all of them). Updates alone would do on a perfect
// collector; the periodic read makes a missed update cost at most this long
// instead of a timeout.
const resync = 2 * time.Second

func (w *ReadyWaiter) loop(ctx context.Context) {
	defer close(w.done)
	var err error
	version := ""
	for ctx.Err() == nil {
		var res *types.WaitForUpdatesExResponse
		res, err = methods.WaitForUpdatesEx(ctx, w.c.Vim, &types.WaitForUpdatesEx{
			This: w.pc.Reference(), Version: version,
			Options: &types.WaitOptions{MaxWaitSeconds: types.NewInt32(int32(resync / time.Second))},
		})
		if err != nil {
			break
		}
		if set := res.Returnval; set != nil {
			version = set.Version
			for _, fs := range set.FilterSet {
				w.apply(fs.ObjectSet)
			}
		}
		if err = w.refresh(ctx); err != nil {
			break
		}
	}
	if ctx.Err() == nil {
		w.fail(fmt.Errorf("watching guests: %w", err))
	}
}

// refresh reads the full state of the VMs in the view, when a wait is
// pending and the last read is older than resync.
func (w *ReadyWaiter) refresh(ctx context.Context) error {
	w.mu.Lock()
	due := len(w.waiters) > 0 && time.Since(w.refreshed) >= resync
	w.mu.Unlock()
	if !due {
		return nil
	}
	objs, err := mo.RetrievePropertiesEx(ctx, w.c.Vim, types.RetrievePropertiesEx{
		This:    w.pc.Reference(),
		SpecSet: []types.PropertyFilterSpec{w.spec()},
	})
	if err != nil {
		return err
	}
	updates := make([]types.ObjectUpdate, 0, len(objs))
	for _, o := range objs {
		u := types.ObjectUpdate{Kind: types.ObjectUpdateKindEnter, Obj: o.Obj}
		for _, p := range o.PropSet {
			u.ChangeSet = append(u.ChangeSet, types.PropertyChange{Name: p.Name, Op: types.PropertyChangeOpAssign, Val: p.Val})
		}
		updates = append(updates, u)
	}
	w.apply(updates)
	w.mu.Lock()
	w.refreshed = time.Now()
	w.mu.Unlock()
	return nil
}

func (w *ReadyWaiter) spec() types.PropertyFilterSpec {
	return types.PropertyFilterSpec{
		ObjectSet: []types.ObjectSpec{{
			Obj:       w.view.Reference(),
			Skip:      types.NewBool(true),
			SelectSet: []types.BaseSelectionSpec{&types.TraversalSpec{Type: "ListView", Path: "view"}},
		}},
		PropSet: []types.PropertySpec{{Type: "VirtualMachine", PathSet: readyProps}},
	}
}

// apply records the updates and wakes the waits they satisfy.
func (w *ReadyWaiter) apply(updates []types.ObjectUpdate) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, u := range updates {
		ref := u.Obj.Value
		g := w.guests[ref]
		if g == nil || u.Kind == types.ObjectUpdateKindEnter {
			g = &guestState{extra: map[string]string{}}
			w.guests[ref] = g
		}
		for _, ch := range u.ChangeSet {
			switch ch.Name {
			case "guest.toolsRunningStatus":
				g.tools = fmt.Sprint(ch.Val)
			case "runtime.powerState":
				g.power = fmt.Sprint(ch.Val)
			case "config.extraConfig":
				g.extra = map[string]string{}
				if a, ok := ch.Val.(types.ArrayOfOptionValue); ok {
					for _, o := range a.OptionValue {
						ov := o.GetOptionValue()
						g.extra[ov.Key] = fmt.Sprint(ov.Value)
					}
				}
			}
		}
		w.notify(ref)
	}
}

// notify wakes the waits on ref whose condition holds; the caller holds mu.
func (w *ReadyWaiter) notify(ref string) {
	g := w.guests[ref]
	kept := w.waiters[ref][:0]
	for _, rw := range w.waiters[ref] {
		if w.err != nil || (g != nil && g.satisfies(rw.cond)) {
			close(rw.ch)
			continue
		}
		kept = append(kept, rw)
	}
	w.waiters[ref] = kept
}

func (g *guestState) satisfies(c ReadyCond) bool {
	if g.power != string(types.VirtualMachinePowerStatePoweredOn) {
		return false
	}
	if c.Tools && g.tools != string(types.VirtualMachineToolsRunningStatusGuestToolsRunning) {
		return false
	}
	return c.Key == "" || g.extra[c.Key] == c.Value
}

// describe says what the guest of ref is missing, for a timeout message.
func (w *ReadyWaiter) describe(ref string, c ReadyCond) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	g := w.guests[ref]
	if g == nil {
		return "no guest state was ever reported"
	}
	var parts []string
	if g.power != string(types.VirtualMachinePowerStatePoweredOn) {
		parts = append(parts, "the VM is "+g.power)
	}
	if c.Tools && g.tools != string(types.VirtualMachineToolsRunningStatusGuestToolsRunning) {
		parts = append(parts, fmt.Sprintf("VMware Tools are %q, not running", g.tools))
	}
	if c.Key != "" && g.extra[c.Key] != c.Value {
		parts = append(parts, fmt.Sprintf("%s is %q, want %q (the guest script has not reported)", c.Key, g.extra[c.Key], c.Value))
	}
	return fmt.Sprint(parts)
}

// Wait blocks until the VM ref is ready, ctx ends (the caller's timeout),
// or the update loop fails.
func (w *ReadyWaiter) Wait(ctx context.Context, ref string, c ReadyCond) error {
	rw := &readyWait{cond: c, ch: make(chan struct{})}
	w.mu.Lock()
	if w.err != nil {
		w.mu.Unlock()
		return w.err
	}
	w.waiters[ref] = append(w.waiters[ref], rw)
	w.notify(ref) // already ready, if its state is known
	w.mu.Unlock()

	mref := types.ManagedObjectReference{Type: "VirtualMachine", Value: ref}
	w.queue(true, mref)
	defer func() {
		w.queue(false, mref)
		w.mu.Lock()
		if len(w.waiters[ref]) == 0 {
			delete(w.waiters, ref)
			delete(w.guests, ref)
		}
		w.mu.Unlock()
	}()
	select {
	case <-rw.ch:
		w.mu.Lock()
		err := w.err
		w.mu.Unlock()
		return err
	case <-ctx.Done():
		w.forget(ref, rw)
		return fmt.Errorf("not ready: %s", w.describe(ref, c))
	}
}

func (w *ReadyWaiter) forget(ref string, rw *readyWait) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ws := w.waiters[ref]
	for i, x := range ws {
		if x == rw {
			w.waiters[ref] = append(ws[:i], ws[i+1:]...)
			break
		}
	}
}

// Close stops the update loop and destroys the collector (and with it the
// filter) and the view. Those two calls are bounded by a minute when ctx
// has no deadline: a vCenter that does not answer must not keep a run from
// ending (the session's end frees them anyway).
func (w *ReadyWaiter) Close(ctx context.Context) error {
	w.stop()
	select {
	case <-w.done:
	case <-time.After(30 * time.Second):
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Minute)
		defer cancel()
	}
	err := w.view.Destroy(ctx)
	if derr := w.pc.Destroy(ctx); err == nil {
		err = derr
	}
	return err
}

// WaitReady waits until the VM's guest is ready as c says, with the one
// ReadyWaiter these Ops share (made on first use).
func (o *Ops) WaitReady(ctx context.Context, vm string, c ReadyCond) error {
	o.readyMu.Lock()
	if o.waiter == nil {
		w, err := o.c.NewReadyWaiter(ctx)
		if err != nil {
			o.readyMu.Unlock()
			return err
		}
		o.waiter = w
	}
	w := o.waiter
	o.readyMu.Unlock()
	return w.Wait(ctx, vm, c)
}

// Close releases what the Ops hold in vCenter (the ReadyWaiter's collector
// and view). The Ops remain usable.
func (o *Ops) Close(ctx context.Context) error {
	o.readyMu.Lock()
	w := o.waiter
	o.waiter = nil
	o.readyMu.Unlock()
	if w == nil {
		return nil
	}
	return w.Close(ctx)
}
