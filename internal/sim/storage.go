package sim

import (
	"sync"

	"github.com/vmware/govmomi/simulator"
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

// createVMMu runs vcsim's CreateVM_Task of clones one at a time: the task
// reads the datastore objects without their locks (NewVirtualMachine)
// while another appends its VM to them (under the lock), a data race the
// race detector reports when clones complete in parallel. Creating the VM
// object is quick; the timing model's latency is spent outside it.
var createVMMu sync.Mutex

func lockCreateVM() (unlock func()) {
	createVMMu.Lock()
	return createVMMu.Unlock
}
