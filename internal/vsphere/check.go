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
func (c *Client) CheckSources(ctx context.Context, inv *inventory.Inventory, refs []string) error {
	checker := c.Vim.ServiceContent.VmProvisioningChecker
	if checker == nil {
		return nil
	}
	for _, ref := range refs {
		if _, done := inv.Checks[ref]; done {
			continue
		}
		vm := types.ManagedObjectReference{Type: "VirtualMachine", Value: ref}
		res, err := methods.CheckInstantClone_Task(ctx, c.Vim, &types.CheckInstantClone_Task{
			This: *checker, Vm: vm, Spec: types.VirtualMachineInstantCloneSpec{Name: "iclone-plan-check"}})
		if err != nil {
			if isNotImplemented(err) {
				return nil
			}
			return fmt.Errorf("checking source %s with vCenter: %w", ref, err)
		}
		info, err := c.waitTask(ctx, res.Returnval, "checkInstantClone")
		if err != nil {
			return fmt.Errorf("checking source %s with vCenter: %w", ref, err)
		}
		check := inventory.SourceCheck{}
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
		if inv.Checks == nil {
			inv.Checks = map[string]inventory.SourceCheck{}
		}
		inv.Checks[ref] = check
	}
	return nil
}

func isNotImplemented(err error) bool {
	return soapFaultIs[types.MethodNotFound](err) || soapFaultIs[types.NotImplemented](err) || soapFaultIs[types.NotSupported](err)
}
