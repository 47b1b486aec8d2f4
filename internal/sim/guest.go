package sim

import (
	"context"
	"fmt"
	"time"

	"github.com/vmware/govmomi/find"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// The guest model. A clone resumes with its source's guest state; a script
// in the guest reads the clone's guestinfo, takes the new identity and then
// reports readiness. The simulator plays that script: Options.GuestReadyAfter
// after a clone powers on, its VMware Tools report running and, if the clone
// carries guestinfo.iclone.name (iclone-plan sets it on clones that wait for
// a ready key), guestinfo.iclone.ready is set to that name, as the example
// guest scripts in plans/examples/guest do. Options.GuestNeverReady makes
// the Nth instant clone's guest never come up.

// A clone's guest is its source's: a clone of a source whose Tools do not
// run (not installed, or not running when it was cloned) has no Tools
// running either, and its guest never reports readiness. Seeded running
// sources, and the running VMs of vcsim's default inventory, have Tools
// running (SeedSource.NoTools leaves them out).

// Guest keys of the contract between iclone-plan and the guest scripts.
const (
	GuestNameKey  = "guestinfo.iclone.name"
	GuestReadyKey = "guestinfo.iclone.ready"
)

// toolsRunning reports whether a guest's Tools run.
func toolsRunning(g *types.GuestInfo) bool {
	return g != nil && g.ToolsRunningStatus == string(types.VirtualMachineToolsRunningStatusGuestToolsRunning)
}

// toolsChanges are the property changes of a guest whose Tools start.
func toolsChanges() []types.PropertyChange {
	return []types.PropertyChange{
		{Name: "guest.toolsStatus", Val: types.VirtualMachineToolsStatusToolsOk},
		{Name: "guest.toolsRunningStatus", Val: string(types.VirtualMachineToolsRunningStatusGuestToolsRunning)},
		{Name: "guest.toolsVersionStatus2", Val: string(types.VirtualMachineToolsVersionStatusGuestToolsCurrent)},
		{Name: "summary.guest.toolsStatus", Val: types.VirtualMachineToolsStatusToolsOk},
		{Name: "summary.guest.toolsRunningStatus", Val: string(types.VirtualMachineToolsRunningStatusGuestToolsRunning)},
	}
}

// startTools starts the Tools of the guest of the VM at path (a seeded
// source).
func (s *Simulator) startTools(ctx context.Context, finder *find.Finder, path string) error {
	obj, err := finder.VirtualMachine(ctx, path)
	if err != nil {
		return fmt.Errorf("sim: seed: source %s: %w", path, err)
	}
	base := s.model.Service.Context
	if vm, ok := base.Map.Get(obj.Reference()).(*simulator.VirtualMachine); ok {
		base.WithLock(vm, func() { base.Update(vm, toolsChanges()) })
	}
	return nil
}

// startDefaultTools starts the Tools of the running VMs of vcsim's default
// inventory.
func (s *Simulator) startDefaultTools() {
	base := s.model.Service.Context
	for _, obj := range base.Map.All("VirtualMachine") {
		vm := obj.(*simulator.VirtualMachine)
		base.WithLock(vm, func() {
			if vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn {
				base.Update(vm, toolsChanges())
			}
		})
	}
}

// bootGuest starts the guest model for clone n, whose source's Tools run
// if tools.
func (s *Simulator) bootGuest(ctx *simulator.Context, clone *simulator.VirtualMachine, n int64, tools bool) {
	if !tools || s.opts.GuestNeverReady > 0 && int64(s.opts.GuestNeverReady) == n {
		return
	}
	ready := func() {
		ctx.WithLock(clone, func() {
			if clone.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
				return
			}
			changes := toolsChanges()
			var name string
			for _, o := range clone.Config.ExtraConfig {
				if ov := o.GetOptionValue(); ov.Key == GuestNameKey {
					name, _ = ov.Value.(string)
				}
			}
			if name != "" {
				extra := types.MustDeepCopy(types.ArrayOfOptionValue{OptionValue: clone.Config.ExtraConfig}).OptionValue
				set := false
				for _, o := range extra {
					if ov := o.GetOptionValue(); ov.Key == GuestReadyKey {
						ov.Value, set = name, true
					}
				}
				if !set {
					extra = append(extra, &types.OptionValue{Key: GuestReadyKey, Value: name})
				}
				changes = append(changes, types.PropertyChange{Name: "config.extraConfig", Val: extra})
			}
			ctx.Update(clone, changes)
		})
	}
	if s.opts.GuestReadyAfter <= 0 {
		ready()
		return
	}
	time.AfterFunc(s.opts.GuestReadyAfter, ready)
}
