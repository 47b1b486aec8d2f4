package vsphere

import (
	"context"
	"fmt"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/iclone-plan/iclone-plan/internal/platform"
)

// LeaseState is a plan's lease as ReadLease finds it, for force-unlock.
type LeaseState struct {
	// Plan is the plan's name.
	Plan string
	// Folder is the lease folder's inventory path.
	Folder string
	// Held says the lease folder exists.
	Held bool
	// Info is the holder as recorded; nil when none is (a run killed
	// between creating the folder and recording itself).
	Info *LeaseInfo
	ref  types.ManagedObjectReference
}

// Holderless reports whether the lease has no holder recorded.
// A folder another run marked as seen without a holder (Unclaimed) has
// none either.
func (s *LeaseState) Holderless() bool { return s.Info == nil || s.Info.Unclaimed || s.Info.PID == 0 }

// HolderAliveHere reports whether the holder is a process of this machine
// that still runs (a stopped process runs too: it may resume).
func (s *LeaseState) HolderAliveHere() bool {
	return !s.Holderless() && s.Info.Host == hostname() && platform.ProcessAlive(s.Info.PID)
}

// HolderGoneHere reports whether the holder was a process of this machine
// that no longer runs.
func (s *LeaseState) HolderGoneHere() bool {
	return !s.Holderless() && s.Info.Host == hostname() && !platform.ProcessAlive(s.Info.PID)
}

// Expired reports whether the holder let the lease expire.
func (s *LeaseState) Expired(now time.Time) bool {
	return s.Info != nil && now.After(s.Info.Expires)
}

// ReadLease returns the plan's lease: whether its folder exists and who
// holds it.
func (o *Ops) ReadLease(ctx context.Context, plan string) (*LeaseState, error) {
	key, err := o.leaseFieldKey(ctx)
	if err != nil {
		return nil, err
	}
	root, err := o.folder(ctx, o.dcPath+"/vm")
	if err != nil || root == nil {
		return nil, fmt.Errorf("the VM folder of %s: %v", o.dcPath, err)
	}
	name := LeaseFolderPrefix + plan
	s := &LeaseState{Plan: plan, Folder: o.dcPath + "/vm/" + name}
	ref, err := object.NewSearchIndex(o.c.Vim).FindChild(ctx, root, name)
	if err != nil || ref == nil {
		return s, err
	}
	s.Held, s.ref = true, ref.Reference()
	if s.Info, err = o.readLease(ctx, s.ref, key); err != nil {
		if isNotFound(err) {
			return &LeaseState{Plan: plan, Folder: s.Folder}, nil
		}
		return nil, err
	}
	return s, nil
}

// RemoveLease destroys the lease folder ReadLease found, by reference: a
// lease taken again since is a new folder and is not touched. A folder
// already gone is not an error. The holder, if it still runs, finds its
// lease lost and makes no further change.
func (o *Ops) RemoveLease(ctx context.Context, s *LeaseState) error {
	if !s.Held {
		return nil
	}
	task, err := object.NewFolder(o.c.Vim, s.ref).Destroy(ctx)
	if err == nil {
		_, err = o.c.waitTask(ctx, task.Reference(), "destroyFolder")
	}
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("removing the lease folder %s: %w", s.Folder, err)
	}
	return nil
}
