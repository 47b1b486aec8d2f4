package sim

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/vmware/govmomi/vim25/types"
)

// faultMessage returns the localized message vCenter gives a fault (the
// task error's localizedMessage, the SOAP fault's faultstring), so govc
// and every other client print what they print against vCenter. The texts
// are vCenter's English ones as clients report them; docs/vcsim-upstream.md
// lists where each was seen. A fault vCenter gives no message of its own
// (GenericVmConfigFault) has its reason.
func faultMessage(f types.BaseMethodFault) string {
	switch f := f.(type) {
	case *types.DuplicateName:
		return fmt.Sprintf("The name '%s' already exists.", f.Name)
	case *types.InvalidPowerState:
		return fmt.Sprintf("The attempted operation cannot be performed in the current state (%s).", powerStateText(f.ExistingState))
	case *types.InvalidArgument:
		if f.InvalidProperty == "" {
			return "A specified parameter was not correct."
		}
		return "A specified parameter was not correct: " + f.InvalidProperty
	case *types.NotSupported:
		return "The operation is not supported on the object."
	case *types.InvalidState:
		return "The operation is not allowed in the current state."
	case *types.SystemError:
		return "A general system error occurred: " + f.Reason
	case *types.ManagedObjectNotFound:
		return fmt.Sprintf("The object '%s' has already been deleted or has not been completely created", vimRef(f.Obj))
	case *types.NoPermission:
		return "Permission to perform this operation was denied."
	case *types.InvalidDatastorePath:
		return fmt.Sprintf("Invalid datastore path '%s'.", f.DatastorePath)
	case *types.CannotCreateFile:
		return fmt.Sprintf("Cannot create file %s.", f.File)
	case *types.HostNotConnected:
		return "Unable to communicate with the remote host, since it is disconnected."
	case *types.RequestCanceled:
		return "The task was canceled by a user."
	case *types.GenericVmConfigFault:
		return f.Reason
	}
	// A fault injected with Options.FailFault, of a type not listed: its
	// type's name, as vcsim gives.
	return strings.TrimPrefix(reflect.TypeOf(f).String(), "*types.")
}

// powerStateText is how vCenter's messages name a power state.
func powerStateText(s types.VirtualMachinePowerState) string {
	switch s {
	case types.VirtualMachinePowerStatePoweredOff:
		return "Powered off"
	case types.VirtualMachinePowerStatePoweredOn:
		return "Powered on"
	case types.VirtualMachinePowerStateSuspended:
		return "Suspended"
	}
	return string(s)
}

// vimRef is how vCenter's messages name a managed object:
// vim.VirtualMachine:vm-42.
func vimRef(ref types.ManagedObjectReference) string {
	return "vim." + ref.Type + ":" + ref.Value
}
