package vsphere

import (
	"context"
	"fmt"
	"reflect"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
)

// CheckFinding is one error or warning of vCenter's instant-clone check.
type CheckFinding struct {
	// Fault is the vSphere fault type, e.g. "DuplicateName".
	Fault string `json:"fault"`
	// Message is vCenter's message.
	Message string `json:"message"`
	// Warning is set for a warning; an error makes the clone fail.
	Warning bool `json:"warning,omitempty"`
}

// ErrNoCheck is returned by CheckInstantClone when vCenter has no
// instant-clone check (it came with vSphere 6.7).
var ErrNoCheck = fmt.Errorf("vCenter offers no CheckInstantClone_Task (it came with vSphere 6.7)")

// CheckInstantClone has vCenter check, with CheckInstantClone_Task, the
// very InstantCloneSpec that InstantClone would send for spec: its name,
// folder, pool, device edits and extraConfig. Nothing is changed.
func (o *Ops) CheckInstantClone(ctx context.Context, spec *CloneSpec) ([]CheckFinding, error) {
	checker := o.c.Vim.ServiceContent.VmProvisioningChecker
	if checker == nil {
		return nil, ErrNoCheck
	}
	ics, err := o.instantCloneSpec(ctx, spec)
	if err != nil {
		return nil, classify(err)
	}
	res, err := methods.CheckInstantClone_Task(ctx, o.c.Vim, &types.CheckInstantClone_Task{
		This: *checker, Vm: o.vm(spec.Source).Reference(), Spec: *ics})
	if err != nil {
		if isNotImplemented(err) {
			return nil, ErrNoCheck
		}
		return nil, classify(err)
	}
	info, err := object.NewTask(o.c.Vim, res.Returnval).WaitForResult(ctx, nil)
	if err != nil {
		return nil, classify(err)
	}
	var out []CheckFinding
	if results, ok := info.Result.(types.ArrayOfCheckResult); ok {
		for _, r := range results.CheckResult {
			for _, f := range r.Error {
				out = append(out, CheckFinding{Fault: typeName(f.Fault), Message: f.LocalizedMessage})
			}
			for _, f := range r.Warning {
				out = append(out, CheckFinding{Fault: typeName(f.Fault), Message: f.LocalizedMessage, Warning: true})
			}
		}
	}
	return out, nil
}

// typeName is the vSphere type name of a fault, e.g. "DuplicateName".
func typeName(v any) string {
	if v == nil {
		return ""
	}
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}
