package sim

import (
	"time"

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

// Guest keys of the contract between iclone-plan and the guest scripts.
const (
	GuestNameKey  = "guestinfo.iclone.name"
	GuestReadyKey = "guestinfo.iclone.ready"
)

// bootGuest starts the guest model for clone n.
func (s *Simulator) bootGuest(ctx *simulator.Context, clone *simulator.VirtualMachine, n int64) {
	if s.opts.GuestNeverReady > 0 && int64(s.opts.GuestNeverReady) == n {
		return
	}
	ready := func() {
		ctx.WithLock(clone, func() {
			if clone.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
				return
			}
			changes := []types.PropertyChange{
				{Name: "guest.toolsStatus", Val: types.VirtualMachineToolsStatusToolsOk},
				{Name: "guest.toolsRunningStatus", Val: string(types.VirtualMachineToolsRunningStatusGuestToolsRunning)},
			}
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
