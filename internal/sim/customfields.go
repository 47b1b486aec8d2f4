package sim

import (
	"fmt"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// customFieldsSafe is a CustomFieldsManager whose SetField answers
// ManagedObjectNotFound for an entity that no longer exists, as vCenter
// does. vcsim's SetField type-asserts the entity it looks up, so a value
// set on a deleted object (a plan lease renewed after its folder was
// deleted) panicked in the handler and left the manager's lock held: every
// later SetField, the next run's lease included, hung.
type customFieldsSafe struct {
	*simulator.CustomFieldsManager
}

// SetField implements CustomFieldsManager.SetField.
func (w *customFieldsSafe) SetField(ctx *simulator.Context, req *types.SetField) (res soap.HasFault) {
	notFound := func() soap.HasFault {
		msg := fmt.Sprintf("The object 'vim.%s:%s' has already been deleted or has not been completely created", req.Entity.Type, req.Entity.Value)
		return &methods.SetFieldBody{Fault_: simulator.Fault(msg, &types.ManagedObjectNotFound{Obj: req.Entity})}
	}
	if ctx.Map.Get(req.Entity) == nil {
		return notFound()
	}
	// The entity may go between the check and vcsim's lookup: answer that
	// too instead of unwinding through the manager's lock.
	defer func() {
		if recover() != nil {
			res = notFound()
		}
	}()
	return w.CustomFieldsManager.SetField(ctx, req)
}
