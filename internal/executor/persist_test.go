package executor

import (
	"errors"
	"fmt"
	"testing"

	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// A SOAP fault wrapped in context ("powering off vm-1: ...") keeps its
// name, and so whether it is transient.
func TestWrappedSOAPFault(t *testing.T) {
	inUse := soap.WrapSoapFault(&soap.Fault{Code: "ServerFaultCode", String: "busy", Detail: struct {
		Fault types.AnyType `xml:",any,typeattr"`
	}{Fault: types.ResourceInUse{}}})
	for _, err := range []error{inUse, fmt.Errorf("powering off vm-1: %w", inUse), fmt.Errorf("a: %w", fmt.Errorf("b: %w", inUse))} {
		if FaultName(err) != "ResourceInUse" || !Transient(err) {
			t.Errorf("%v: fault %q, transient %v; want ResourceInUse, true", err, FaultName(err), Transient(err))
		}
	}
	if Transient(fmt.Errorf("x: %w", errors.New("InvalidArgument"))) {
		t.Error("a plain error is transient")
	}
}
