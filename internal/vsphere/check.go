package vsphere

import (
	"context"
	"fmt"

	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/iclone-plan/iclone-plan/internal/inventory"
)

// CheckSources runs vCenter's own pre-flight check of an instant clone
// (VirtualMachineProvisioningChecker.CheckInstantClone_Task) for each of
// the VMs refs, and records its errors and warnings in inv.Checks. A
// vCenter without the check (it came with vSphere 6.7) is not an error: the
// planner's own checks still apply.
//
// A check that vCenter refuses or that fails for one source (a fault: the
// source was removed since the read, a permission it lacks) is recorded as
// that source's error and the other sources are checked all the same, so
// that the plan reports every source's problem in one run. Only an error
// that is not about the source (the connection, ctx) is returned.
func (c *Client) CheckSources(ctx context.Context, inv *inventory.Inventory, refs []string) error {
	checker := c.Vim.ServiceContent.VmProvisioningChecker
	if checker == nil {
		return nil
	}
	for _, ref := range refs {
		if _, done := inv.Checks[ref]; done {
			continue
		}
		check, err := c.checkSource(ctx, *checker, ref)
		if err != nil {
			if isNotImplemented(err) {
				return nil
			}
			if ctx.Err() != nil || vimFault(err) == nil {
				return fmt.Errorf("checking source %s with vCenter: %w", ref, err)
			}
			check = inventory.SourceCheck{Errors: []string{"vCenter could not check it: " + checkFaultText(err)}}
		}
		if inv.Checks == nil {
			inv.Checks = map[string]inventory.SourceCheck{}
		}
		inv.Checks[ref] = check
	}
	return nil
}

// checkSource runs vCenter's check of one source and collects its errors
// and warnings.
func (c *Client) checkSource(ctx context.Context, checker types.ManagedObjectReference, ref string) (inventory.SourceCheck, error) {
	check := inventory.SourceCheck{}
	vm := types.ManagedObjectReference{Type: "VirtualMachine", Value: ref}
	res, err := methods.CheckInstantClone_Task(ctx, c.Vim, &types.CheckInstantClone_Task{
		This: checker, Vm: vm, Spec: types.VirtualMachineInstantCloneSpec{Name: "iclone-plan-check"}})
	if err != nil {
		return check, err
	}
	info, err := c.waitTask(ctx, res.Returnval, "checkInstantClone")
	if err != nil {
		return check, err
	}
	if results, ok := info.Result.(types.ArrayOfCheckResult); ok {
		for _, r := range results.CheckResult {
			for _, f := range r.Error {
				check.Errors = append(check.Errors, f.LocalizedMessage)
			}
			for _, f := range r.Warning {
				check.Warnings = append(check.Warnings, f.LocalizedMessage)
			}
		}
	}
	return check, nil
}

// checkFaultText is the text of a fault vCenter gave for a check: its
// message, or, for a fault without one, its name and the values it
// carries ("ManagedObjectNotFound: obj vm-42").
func checkFaultText(err error) string {
	if name := faultName(err); name != "" && bareFaultText(err.Error(), name) {
		return describeFault("", name, vimFault(err))
	}
	return err.Error()
}

func isNotImplemented(err error) bool {
	return soapFaultIs[types.MethodNotFound](err) || soapFaultIs[types.NotImplemented](err) || soapFaultIs[types.NotSupported](err)
}
