package sim

import (
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
)

// nameMu keeps a VM being created out of sight of the name lookups that run
// in task goroutines, in builds without the race detector. vcsim's
// CreateVM_Task puts the new VM into its folder before it names it, and
// Registry.FindByName panics on a VM without a name: a rename's duplicate
// check or findChild meeting one killed the whole simulator (a replace
// renames the old clone aside while other clones are created in its
// folder). Clone creations hold it shared while their CreateVM_Task runs;
// renames (until their task ends) and findChild hold it exclusively, and
// take it holding no lock the creation waits for. Race-detector builds
// need none of it: vmTaskMu already runs creations and renames one at a
// time.
var nameMu sync.RWMutex

// lockNames keeps name lookups out while a clone is created (see nameMu).
func lockNames() (unlock func()) {
	if raceBuild {
		return func() {}
	}
	nameMu.RLock()
	return nameMu.RUnlock
}

// renameTask runs a VM's Rename_Task to its end with no clone creation
// under way (see nameMu); in race-detector builds it is vmTask.
func (s *Simulator) renameTask(ctx *simulator.Context, start func() soap.HasFault) soap.HasFault {
	if raceBuild {
		return s.vmTask(ctx, start)
	}
	nameMu.Lock()
	defer nameMu.Unlock()
	res := start()
	if b, ok := res.(*methods.Rename_TaskBody); ok && b.Res != nil {
		if t, ok := ctx.Map.Get(b.Res.Returnval).(*simulator.Task); ok {
			wait := *ctx // a locking identity of its own, as waitTask needs
			s.waitTask(&wait, t)
		}
	}
	return res
}
