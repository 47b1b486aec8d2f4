package sim

import (
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
