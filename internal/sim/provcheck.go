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
// whether vm can be instant-cloned with spec. The API reference has the
// method test "the feasibility of the InstantClone_Task" for the source
// and spec; each problem is an error of the one CheckResult, with the
// fault the clone itself would fail with:
//
//   - the source is not powered on (InvalidPowerState) or on no host;
//   - its host is not connected (HostNotConnected) or in maintenance
//     (InvalidState);
//   - the spec: every check the clone makes (see plan), e.g. a host or
//     pool off the source's host, a device change the clone refuses
//     (InvalidArgument), a datastore not on the host;
//   - the name is taken in the target folder, or being cloned to
//     (DuplicateName);
//   - the source's chain has no room for another delta level
//     (GenericVmConfigFault; past DeltaWarning levels, a warning).
//
// So the check never passes what the clone would refuse.
func (c *provChecker) CheckInstantCloneTask(ctx *simulator.Context, req *types.CheckInstantClone_Task) soap.HasFault {
	task := simulator.CreateTask(c, "checkInstantClone", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		vm, ok := ctx.Map.Get(req.Vm).(*simulator.VirtualMachine)
		if !ok {
			return nil, &types.ManagedObjectNotFound{Obj: req.Vm}
		}
		return types.ArrayOfCheckResult{CheckResult: []types.CheckResult{c.s.checkInstantClone(ctx, vm, req.Spec)}}, nil
	})
	return &methods.CheckInstantClone_TaskBody{Res: &types.CheckInstantClone_TaskResponse{Returnval: task.Run(ctx)}}
}

func (s *Simulator) checkInstantClone(ctx *simulator.Context, vm *simulator.VirtualMachine, spec types.VirtualMachineInstantCloneSpec) types.CheckResult {
	res := types.CheckResult{Vm: &vm.Self}
	fail := func(f types.BaseMethodFault) {
		res.Error = append(res.Error, types.LocalizedMethodFault{Fault: f, LocalizedMessage: faultMessage(f)})
	}
	st := s.readSource(ctx, vm)
	res.Host = st.host
	if f := sourceFault(st); f != nil && st.host != nil {
		fail(f.fault) // InvalidPowerState; the spec is checked all the same
	}
	if st.host == nil {
		fail(&types.InvalidState{})
	} else {
		if h, ok := ctx.Map.Get(*st.host).(*simulator.HostSystem); ok {
			ctx.WithLock(h, func() {
				if h.Runtime.ConnectionState != types.HostSystemConnectionStateConnected {
					fail(&types.HostNotConnected{})
				}
				if h.Runtime.InMaintenanceMode {
					fail(&types.InvalidState{})
				}
			})
		}
		if p, f := s.plan(ctx, vm, st, &spec); f != nil {
			fail(f.fault)
		} else if f := s.nameTaken(ctx, p); f != nil {
			fail(f.fault)
		}
	}

	depth := 0
	for _, d := range st.devices {
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
	// No reference gives vCenter's check result for a deep chain; the
	// fault is the cause of the clone's own failure (KB 67186).
	switch reason := fmt.Sprintf("The source's disks have %d delta levels; instant clones fail at %d.", depth, MaxDeltaLevels); {
	case depth >= MaxDeltaLevels:
		fail(&types.GenericVmConfigFault{Reason: reason})
	case depth > DeltaWarning:
		w := &types.GenericVmConfigFault{Reason: reason}
		res.Warning = append(res.Warning, types.LocalizedMethodFault{Fault: w, LocalizedMessage: faultMessage(w)})
	}
	return res
}
