package vsphere

import (
	"context"
	"encoding/json"
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
}

func (i LeaseInfo) String() string {
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
	if e.Info == nil {
		return fmt.Sprintf("plan %q is locked by another run (lease folder %s has no holder recorded); if no apply of this plan is running anywhere, delete that folder", e.Plan, e.Folder)
	}
	return fmt.Sprintf("plan %q is locked by another run (%s); wait for it to finish, or if that process is gone, wait until the lease expires", e.Plan, e.Info)
}

// Lease is a held plan lease, renewed in the background until Release.
type Lease struct {
	ops    *Ops
	folder *object.Folder
	key    int32
	ttl    time.Duration

	mu   sync.Mutex
	info LeaseInfo
	err  error // first renewal failure
	stop chan struct{}
	done chan struct{}
}

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
		info.Expires = time.Now().Add(ttl)
		f, err := root.CreateFolder(ctx, name)
		if err == nil {
			l := &Lease{ops: o, folder: f, key: key, ttl: ttl, info: info, stop: make(chan struct{}), done: make(chan struct{})}
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
		if held == nil || !held.takeable(time.Now()) {
			return nil, &LeaseHeldError{Plan: info.Plan, Folder: path, Info: held}
		}
		// Take over by destroying that very folder (by reference): if a
		// racer took it over first, this fails and the loop re-reads.
		task, err := object.NewFolder(o.c.Vim, ref.Reference()).Destroy(ctx)
		if err == nil {
			_ = task.Wait(ctx)
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

func (o *Ops) leaseFieldKey(ctx context.Context) (int32, error) {
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

func (l *Lease) renew() {
	defer close(l.done)
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), l.ttl/3)
			l.mu.Lock()
			l.info.Expires = time.Now().Add(l.ttl)
			l.mu.Unlock()
			err := l.write(ctx)
			cancel()
			if err != nil {
				l.mu.Lock()
				if l.err == nil {
					l.err = err
				}
				l.mu.Unlock()
			}
		}
	}
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
	return l.destroy(ctx)
}

func (l *Lease) destroy(ctx context.Context) error {
	task, err := l.folder.Destroy(ctx)
	if err == nil {
		err = task.Wait(ctx)
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
