package vsphere

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/iclone-plan/iclone-plan/internal/platform"
)

// The lease of a plan is a VM folder named LeaseFolderPrefix+plan in the
// datacenter's VM folder. Creating a folder whose name is taken fails with
// DuplicateName, atomically, on every vCenter: that is the mutual exclusion,
// across machines. Who holds it and until when is stored as JSON in the
// folder's custom attribute LeaseField.
const (
	LeaseFolderPrefix = "iclone-lease-"
	LeaseField        = "iclone.lease"
)

// LeaseInfo says who holds a plan's lease.
type LeaseInfo struct {
	Plan    string    `json:"plan"`
	Run     string    `json:"run"`
	User    string    `json:"user,omitempty"`
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Expires time.Time `json:"expires"`
	// Unclaimed marks the record a run writes on a lease folder it finds
	// with no holder recorded (its creator was killed before it wrote
	// itself): Expires is then when the folder may be taken over, a
	// lifetime after it was first seen so. Run, Host and PID are empty.
	Unclaimed bool `json:"unclaimed,omitempty"`
}

func (i LeaseInfo) String() string {
	if i.Unclaimed {
		return fmt.Sprintf("no holder recorded, first seen so a lifetime before %s", i.Expires.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("run %s, pid %d on %s, until %s", i.Run, i.PID, i.Host, i.Expires.UTC().Format(time.RFC3339))
}

// LeaseHeldError is returned by AcquireLease when another run holds the
// plan's lease.
type LeaseHeldError struct {
	Plan   string
	Folder string
	Info   *LeaseInfo // nil if the holder did not record itself
}

func (e *LeaseHeldError) Error() string {
	if e.Info != nil && e.Info.Unclaimed {
		return fmt.Sprintf("plan %q is locked: lease folder %s has no holder recorded (a run killed while taking the lease leaves that); it is taken over after %s, or delete that folder now if no apply of this plan is running anywhere",
			e.Plan, e.Folder, e.Info.Expires.UTC().Format(time.RFC3339))
	}
	if e.Info == nil {
		return fmt.Sprintf("plan %q is locked by another run (lease folder %s has no holder recorded); if no apply of this plan is running anywhere, delete that folder", e.Plan, e.Folder)
	}
	return fmt.Sprintf("plan %q is locked by another run (%s); wait for it to finish, or if that process is gone, wait until the lease expires", e.Plan, e.Info)
}

// Lease is a held plan lease, renewed in the background until Release.
//
// A run must make no change once its lease could have expired: another
// run may have taken it over. Valid says whether the lease still holds,
// cheaply (no request to vCenter); call it before every mutating call.
// Lost and Context signal the loss as it happens.
type Lease struct {
	ops    *Ops
	folder *object.Folder
	key    int32
	ttl    time.Duration

	mu      sync.Mutex
	info    LeaseInfo
	renewed time.Time // when the last successful write started (with its monotonic reading)
	err     error     // first renewal failure
	lost    error     // why the lease no longer holds; once set, never cleared
	lostCh  chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

// ErrLeaseLost is the error (errors.Is) of a lease that no longer holds:
// not renewed within its lifetime less a safety margin, its folder gone,
// or released.
var ErrLeaseLost = errors.New("the plan's lease is lost")

// leaseMargin is how long before its recorded expiry a lease stops
// counting as held: room for clocks that differ between machines and for
// a call checked just before the limit to reach vCenter.
func leaseMargin(ttl time.Duration) time.Duration { return ttl / 4 }

// AcquireLease takes the plan's lease for ttl, renewed every ttl/3 until
// Release. A lease whose holder let it expire, or whose holder is a dead
// process on this very machine, is taken over. Otherwise the error is a
// *LeaseHeldError naming the holder.
func (o *Ops) AcquireLease(ctx context.Context, info LeaseInfo, ttl time.Duration) (*Lease, error) {
	key, err := o.leaseFieldKey(ctx)
	if err != nil {
		return nil, err
	}
	root, err := o.folder(ctx, o.dcPath+"/vm")
	if err != nil || root == nil {
		return nil, fmt.Errorf("the VM folder of %s: %v", o.dcPath, err)
	}
	name := LeaseFolderPrefix + info.Plan
	path := o.dcPath + "/vm/" + name
	for attempt := 0; attempt < 3; attempt++ {
		start := time.Now()
		info.Expires = start.Add(ttl)
		f, err := root.CreateFolder(ctx, name)
		if err == nil {
			l := &Lease{ops: o, folder: f, key: key, ttl: ttl, info: info, renewed: start,
				lostCh: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
			if err := l.write(ctx); err != nil {
				l.destroy(context.WithoutCancel(ctx))
				return nil, err
			}
			go l.renew()
			return l, nil
		}
		if !isDuplicateName(err) {
			return nil, fmt.Errorf("taking the lease of plan %q: %w", info.Plan, err)
		}
		ref, err := object.NewSearchIndex(o.c.Vim).FindChild(ctx, root, name)
		if err != nil {
			return nil, err
		}
		if ref == nil {
			continue // released meanwhile: try again
		}
		held, err := o.readLease(ctx, ref.Reference(), key)
		if err != nil {
			return nil, err
		}
		if held == nil {
			// First seen without a holder: record so, and take it over
			// once it has stayed so for a lifetime.
			if held, err = o.markUnclaimed(ctx, ref.Reference(), key, info.Plan, ttl); err != nil {
				return nil, err
			}
			if held == nil {
				continue // released meanwhile: try again
			}
		}
		if !held.takeable(time.Now()) {
			return nil, &LeaseHeldError{Plan: info.Plan, Folder: path, Info: held}
		}
		// Take over by destroying that very folder (by reference): if a
		// racer took it over first, this fails and the loop re-reads.
		task, err := object.NewFolder(o.c.Vim, ref.Reference()).Destroy(ctx)
		if err == nil {
			_, _ = o.c.waitTask(ctx, task.Reference(), "destroyFolder")
		}
	}
	return nil, fmt.Errorf("could not take the lease of plan %q: it changed hands during the attempt; try again", info.Plan)
}

// takeable reports whether a lease may be taken over: it expired, or its
// holder is a process of this machine that no longer runs.
func (i *LeaseInfo) takeable(now time.Time) bool {
	if now.After(i.Expires) {
		return true
	}
	return i.Host == hostname() && i.PID > 0 && !platform.ProcessAlive(i.PID)
}

// markUnclaimed records on a lease folder with no holder that it was seen
// so now, and returns that record (nil if the folder is gone). Its creator, if alive and about to
// record itself, may have written meanwhile and be overwritten: its next
// renewal, a third of a lifetime later, writes it back, and the record
// written here expires later than the creator's own, so the lease is not
// taken over early.
func (o *Ops) markUnclaimed(ctx context.Context, ref types.ManagedObjectReference, key int32, plan string, ttl time.Duration) (*LeaseInfo, error) {
	info := &LeaseInfo{Plan: plan, Expires: time.Now().Add(ttl), Unclaimed: true}
	m, err := object.GetCustomFieldsManager(o.c.Vim)
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(info)
	if err := m.Set(ctx, ref, key, string(b)); err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("recording that lease folder %s has no holder: %w", ref.Value, err)
	}
	return info, nil
}

// leaseFieldKey returns the key of the custom attribute LeaseField,
// defining it if vCenter has none; looked up once per client.
func (o *Ops) leaseFieldKey(ctx context.Context) (int32, error) {
	return o.c.fieldKeys.get(ctx, LeaseField, func(ctx context.Context) (int32, error) {
		m, err := object.GetCustomFieldsManager(o.c.Vim)
		if err != nil {
			return 0, err
		}
		key, err := m.FindKey(ctx, LeaseField)
		if err == nil {
			return key, nil
		}
		def, err := m.Add(ctx, LeaseField, "Folder", nil, nil)
		if err != nil {
			if isDuplicateName(err) {
				return m.FindKey(ctx, LeaseField)
			}
			return 0, fmt.Errorf("defining the custom attribute %s for plan leases: %w", LeaseField, err)
		}
		return def.Key, nil
	})
}

func (o *Ops) readLease(ctx context.Context, ref types.ManagedObjectReference, key int32) (*LeaseInfo, error) {
	var f mo.Folder
	if err := object.NewFolder(o.c.Vim, ref).Properties(ctx, ref, []string{"customValue"}, &f); err != nil {
		return nil, err
	}
	for _, v := range f.CustomValue {
		if s, ok := v.(*types.CustomFieldStringValue); ok && s.Key == key {
			var info LeaseInfo
			if err := json.Unmarshal([]byte(s.Value), &info); err != nil {
				return nil, nil
			}
			return &info, nil
		}
	}
	return nil, nil
}

func (l *Lease) write(ctx context.Context) error {
	m, err := object.GetCustomFieldsManager(l.ops.c.Vim)
	if err != nil {
		return err
	}
	l.mu.Lock()
	b, _ := json.Marshal(l.info)
	l.mu.Unlock()
	return m.Set(ctx, l.folder.Reference(), l.key, string(b))
}

// renew writes the lease again every third of its lifetime (a quarter of
// that after a failed write), until Release or until the lease is lost.
func (l *Lease) renew() {
	defer close(l.done)
	every := l.ttl / 3
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-l.lostCh:
			return
		case <-t.C:
		}
		if l.Valid() != nil {
			return
		}
		next := every
		if err := l.renewOnce(); err != nil {
			next = every / 4
		}
		// Wake up no later than the lease stops holding, to close Lost.
		t.Reset(max(min(next, l.remaining()), time.Millisecond))
	}
}

// renewOnce writes the lease with a new expiry. A write that ends after
// the lease stopped holding does not revive it: another run may have read
// the old expiry and taken the lease over meanwhile.
func (l *Lease) renewOnce() error {
	start := time.Now()
	l.mu.Lock()
	l.info.Expires = start.Add(l.ttl)
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), l.ttl/3)
	err := l.write(ctx)
	cancel()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.validLocked(time.Now()) != nil {
		return l.lost
	}
	if err == nil {
		l.renewed = start
		return nil
	}
	if l.err == nil {
		l.err = err
	}
	if isNotFound(err) {
		l.loseLocked(fmt.Errorf("%w: plan %q: its lease folder %s was deleted (by force-unlock, or by a run that took the lease over): %v",
			ErrLeaseLost, l.info.Plan, l.folder.Reference().Value, err))
	}
	return err
}

// Valid returns nil while the lease holds: it was renewed less than its
// lifetime less a safety margin ago, as measured by both the monotonic
// clock (a paused process) and the wall clock (a suspended machine, whose
// monotonic clock stands still; other machines judge expiry by the wall
// clock). Otherwise it returns an error wrapping ErrLeaseLost that says
// why; from then on the lease never holds again. It makes no request and
// is safe for concurrent use.
func (l *Lease) Valid() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.validLocked(time.Now())
}

func (l *Lease) validLocked(now time.Time) error {
	if l.lost != nil {
		return l.lost
	}
	limit := l.ttl - leaseMargin(l.ttl)
	if age := l.ageLocked(now); age >= limit {
		l.loseLocked(fmt.Errorf("%w: plan %q: not renewed for %s, past its lifetime of %s less a margin of %s (the process was paused, or vCenter did not take the renewals); another run may hold it now",
			ErrLeaseLost, l.info.Plan, age.Round(time.Millisecond), l.ttl, leaseMargin(l.ttl)))
	}
	return l.lost
}

// ageLocked is the time since the last renewal: the longer of the
// monotonic and the wall-clock measure.
func (l *Lease) ageLocked(now time.Time) time.Duration {
	return max(now.Sub(l.renewed), now.Round(0).Sub(l.renewed.Round(0)))
}

// remaining is how long the lease still holds, 0 if it does not.
func (l *Lease) remaining() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.validLocked(time.Now()) != nil {
		return 0
	}
	return l.ttl - leaseMargin(l.ttl) - l.ageLocked(time.Now())
}

// loseLocked records why the lease no longer holds and closes Lost.
func (l *Lease) loseLocked(why error) {
	if l.lost == nil {
		l.lost = why
		close(l.lostCh)
	}
}

// Lost returns a channel closed when the lease stops holding (see Valid),
// or is released.
func (l *Lease) Lost() <-chan struct{} { return l.lostCh }

// Context returns a context derived from parent that is cancelled when the
// lease stops holding or is released, with Valid's error as its cause
// (context.Cause). Call cancel to release its resources.
func (l *Lease) Context(parent context.Context) (ctx context.Context, cancel context.CancelFunc) {
	ctx, cancelCause := context.WithCancelCause(parent)
	go func() {
		select {
		case <-l.lostCh:
			cancelCause(l.Valid())
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancelCause(context.Canceled) }
}

// Err reports the first renewal failure, if any.
func (l *Lease) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Info returns the lease as recorded.
func (l *Lease) Info() LeaseInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.info
}

// Release stops renewing and gives the lease up. It is safe to call more
// than once.
func (l *Lease) Release(ctx context.Context) error {
	select {
	case <-l.stop:
		return nil
	default:
	}
	close(l.stop)
	<-l.done
	l.mu.Lock()
	l.loseLocked(fmt.Errorf("%w: plan %q: released", ErrLeaseLost, l.info.Plan))
	l.mu.Unlock()
	return l.destroy(ctx)
}

func (l *Lease) destroy(ctx context.Context) error {
	task, err := l.folder.Destroy(ctx)
	if err == nil {
		_, err = l.ops.c.waitTask(ctx, task.Reference(), "destroyFolder")
	}
	if isNotFound(err) {
		return nil
	}
	return err
}

func isDuplicateName(err error) bool {
	if err == nil {
		return false
	}
	if soapFaultIs[types.DuplicateName](err) {
		return true
	}
	return strings.Contains(err.Error(), "DuplicateName") || strings.Contains(err.Error(), "already exists")
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

// LocalHolder returns a LeaseInfo for this process: host, pid and user.
func LocalHolder(plan, run string) LeaseInfo {
	return LeaseInfo{Plan: plan, Run: run, User: os.Getenv("USER"), Host: hostname(), PID: os.Getpid()}
}
