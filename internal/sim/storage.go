package sim

import (
	"strconv"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// refreshStorage is vm.RefreshStorageInfo with vm's datastores locked.
// vcsim's RefreshStorageInfo reads each datastore's whole object (to ask
// whether it is vSAN) while a concurrent CreateVM_Task appends the new VM
// to that datastore under the datastore's lock: a data race the race
// detector reports when clones run in parallel. The caller holds vm's
// lock; datastore locks are taken after it, as vcsim takes a datastore's
// lock alone.
func refreshStorage(ctx *simulator.Context, vm *simulator.VirtualMachine) {
	refresh := func() { vm.RefreshStorageInfo(ctx, nil) }
	for _, ref := range vm.Datastore {
		if ds := ctx.Map.Get(ref); ds != nil {
			inner := refresh
			refresh = func() { ctx.WithLock(ds, inner) }
		}
	}
	refresh()
}

// refreshLater brings src's file layout and storage usage up to date with
// its disks, in the background, once no clone of it has been made for
// refreshDelay: vcsim's RefreshStorageInfo costs time in proportion to the
// square of the chain's length (each file it adds recounts every file) and
// holds the source's and its datastores' locks meanwhile. Run in the stun
// phase it made the stun of a source with 50 deltas take twice its
// modelled time on a busy machine; run once a second it still held up the
// clones of a busy source. So a source's layout lags while it is being
// cloned and catches up after (vCenter's layoutEx lags too:
// RefreshStorageInfo exists to catch it up). Close drops pending refreshes.
func (s *Simulator) refreshLater(ctx *simulator.Context, src *simulator.VirtualMachine) {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	select {
	case <-s.closing:
		return // Close waits for refreshes: none may start after it
	default:
	}
	_, pending := s.refreshing[src.Self]
	s.refreshing[src.Self] = time.Now()
	if pending {
		return // the pending refresh waits for this delta too
	}
	s.refreshWG.Go(func() {
		for {
			s.refreshMu.Lock()
			wait := time.Until(s.refreshing[src.Self].Add(refreshDelay))
			if wait <= 0 {
				// Deltas added from here on schedule a refresh of their own.
				delete(s.refreshing, src.Self)
			}
			s.refreshMu.Unlock()
			if wait <= 0 {
				break
			}
			select {
			case <-time.After(wait):
			case <-s.closing:
				return // nobody will read it
			}
		}
		ctx.WithLock(src, func() {
			if ctx.Map.Get(src.Self) != nil {
				refreshStorage(ctx, src)
			}
		})
	})
}

// setDevices replaces vm's devices as a reconfiguration does: with a new
// config.changeVersion (what clients compare to tell a changed
// configuration). The caller holds vm's lock.
func setDevices(ctx *simulator.Context, vm *simulator.VirtualMachine, devices []types.BaseVirtualDevice) {
	now := time.Now()
	ctx.Update(vm, []types.PropertyChange{
		{Name: "config.hardware.device", Val: devices},
		{Name: "config.changeVersion", Val: strconv.FormatInt(now.UnixNano(), 10)},
		{Name: "config.modified", Val: now},
	})
}

// refreshDelay is how long after its last clone a source's file layout
// catches up with its disks.
const refreshDelay = time.Second
