package sim

import (
	"fmt"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// DeltaWarning is the source chain depth past which CheckInstantClone_Task
// warns (vSphere's own warnings start at about 100 levels).
const DeltaWarning = 100

// provChecker is vcsim's VirtualMachineProvisioningChecker with
// CheckInstantClone_Task, which vcsim lacks. It replaces the singleton in
// the registry: vcsim itself never type-asserts that object.
type provChecker struct {
	*simulator.VmProvisioningChecker
	s *Simulator
}

// CheckInstantCloneTask checks, as vCenter does before an instant clone,
// whether vm can be instant-cloned: it exists, is powered on (or frozen),
// its host is connected and not in maintenance, and its disks' delta chains
// have room for one more level. Problems are errors of the CheckResult;
// a chain past DeltaWarning is a warning.
func (c *provChecker) CheckInstantCloneTask(ctx *simulator.Context, req *types.CheckInstantClone_Task) soap.HasFault {
	task := simulator.CreateTask(c, "checkInstantClone", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		vm, ok := ctx.Map.Get(req.Vm).(*simulator.VirtualMachine)
		if !ok {
			return nil, &types.ManagedObjectNotFound{Obj: req.Vm}
		}
		res := types.CheckResult{Vm: &req.Vm}
		fail := func(f types.BaseMethodFault, msg string) {
			res.Error = append(res.Error, types.LocalizedMethodFault{Fault: f, LocalizedMessage: msg})
		}
		var depth int
		ctx.WithLock(vm, func() {
			res.Host = vm.Runtime.Host
			if st := vm.Runtime.PowerState; st != types.VirtualMachinePowerStatePoweredOn {
				fail(&types.InvalidPowerState{RequestedState: types.VirtualMachinePowerStatePoweredOn, ExistingState: st},
					fmt.Sprintf("the source is %s; instant clone needs a powered-on (or frozen) source", st))
			}
			for _, d := range vm.Config.Hardware.Device {
				if disk, ok := d.(*types.VirtualDisk); ok {
					if b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
						n := 0
						for x := b.Parent; x != nil; x = x.Parent {
							n++
						}
						depth = max(depth, n)
					}
				}
			}
		})
		if res.Host != nil {
			if h, ok := ctx.Map.Get(*res.Host).(*simulator.HostSystem); ok {
				ctx.WithLock(h, func() {
					if h.Runtime.ConnectionState != types.HostSystemConnectionStateConnected {
						fail(&types.HostNotConnected{}, fmt.Sprintf("host %s is %s", h.Name, h.Runtime.ConnectionState))
					}
					if h.Runtime.InMaintenanceMode {
						fail(&types.InvalidState{}, fmt.Sprintf("host %s is in maintenance mode", h.Name))
					}
				})
			}
		}
		switch msg := fmt.Sprintf("the source's disks have %d delta levels", depth); {
		case depth >= MaxDeltaLevels:
			fail(&types.GenericVmConfigFault{Reason: msg}, msg+fmt.Sprintf(", the most a chain may have (%d); consolidate or freeze the source", MaxDeltaLevels))
		case depth > DeltaWarning:
			res.Warning = append(res.Warning, types.LocalizedMethodFault{Fault: &types.GenericVmConfigFault{Reason: msg},
				LocalizedMessage: msg + fmt.Sprintf("; instant clones fail past %d", MaxDeltaLevels)})
		}
		return types.ArrayOfCheckResult{CheckResult: []types.CheckResult{res}}, nil
	})
	return &methods.CheckInstantClone_TaskBody{Res: &types.CheckInstantClone_TaskResponse{Returnval: task.Run(ctx)}}
}
