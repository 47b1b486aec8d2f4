package vsphere

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/task"

	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/iclone-plan/iclone-plan/internal/cloud"
)

// classify gives the executor a vSphere-free Fault: a SOAP fault wrapped in
// context ("powering off vm-1: ...") keeps its name and class, a network
// error or a deadline is transient, a plain or cancelled error is not, a
// missing object is NotFound.
func TestClassify(t *testing.T) {
	soapFault := func(f types.AnyType) error {
		return soap.WrapSoapFault(&soap.Fault{Code: "ServerFaultCode", String: "x", Detail: struct {
			Fault types.AnyType `xml:",any,typeattr"`
		}{Fault: f}})
	}
	inUse := soapFault(types.ResourceInUse{})
	tests := []struct {
		name  string
		err   error
		class cloud.Class
		fault string
	}{
		{"soap fault", inUse, cloud.Transient, "ResourceInUse"},
		{"wrapped once", fmt.Errorf("powering off vm-1: %w", inUse), cloud.Transient, "ResourceInUse"},
		{"wrapped twice", fmt.Errorf("a: %w", fmt.Errorf("b: %w", inUse)), cloud.Transient, "ResourceInUse"},
		{"permanent fault", soapFault(types.DuplicateName{}), cloud.Permanent, "DuplicateName"},
		{"not found", soapFault(types.ManagedObjectNotFound{}), cloud.NotFound, "ManagedObjectNotFound"},
		{"deadline", fmt.Errorf("waiting: %w", context.DeadlineExceeded), cloud.Transient, ""},
		{"cancelled", context.Canceled, cloud.Permanent, ""},
		{"connection refused", errors.New("dial tcp: connection refused"), cloud.Transient, ""},
		{"plain", fmt.Errorf("x: %w", errors.New("InvalidArgument")), cloud.Permanent, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := fmt.Errorf("executor context: %w", classify(tt.err))
			f := cloud.Classify(err)
			if f.Class != tt.class || f.Name != tt.fault || cloud.FaultName(err) != tt.fault {
				t.Errorf("%v: class %v fault %q; want %v %q", tt.err, f.Class, f.Name, tt.class, tt.fault)
			}
			if cloud.IsTransient(err) != (tt.class == cloud.Transient) {
				t.Errorf("%v: IsTransient %v", tt.err, cloud.IsTransient(err))
			}
			if err.Error() != "executor context: "+tt.err.Error() {
				t.Errorf("classify changed the text: %q", err.Error())
			}
		})
	}
	if classify(nil) != nil {
		t.Error("classify(nil) is not nil")
	}
}

// A change request that went out and got no answer in time may still be
// carried out: its Fault says so (Unanswered); a refused connection, a
// read that timed out before the change request, and a fault vCenter
// answered with do not.
func TestClassifyUnanswered(t *testing.T) {
	stall := &StallError{Host: "vc:443", Request: "InstantClone_Task", After: time.Minute}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"change request without an answer", sent(stall), true},
		{"change request past its context's deadline", sent(fmt.Errorf("post: %w", context.DeadlineExceeded)), true},
		{"change request refused", sent(&net.OpError{Op: "dial", Err: errors.New("connection refused")}), false},
		{"change request answered with a fault", sent(soap.WrapSoapFault(&soap.Fault{Code: "ServerFaultCode", String: "x"})), false},
		{"read before the change request", fmt.Errorf("reading the source: %w", stall), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := fmt.Errorf("executor context: %w", classify(tc.err))
			if got := cloud.Unanswered(err); got != tc.want {
				t.Errorf("cloud.Unanswered(%v) = %v, want %v", err, got, tc.want)
			}
			if !cloud.IsTransient(err) && tc.want {
				t.Errorf("%v: unanswered but not transient", err)
			}
		})
	}
}

// A fault without a message (vcsim sends "*types.InvalidArgument"; a task
// error may have none at all) is named with the values it carries, and
// keeps its name and class.
func TestClassifyBareFault(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"soap fault named by its type", soap.WrapSoapFault(&soap.Fault{Code: "ServerFaultCode", String: "*types.InvalidArgument", Detail: struct {
			Fault types.AnyType `xml:",any,typeattr"`
		}{Fault: &types.InvalidArgument{InvalidProperty: "spec.name"}}}),
			"ServerFaultCode: *types.InvalidArgument (InvalidArgument: invalidProperty spec.name)"},
		{"task error without a message", task.Error{LocalizedMethodFault: &types.LocalizedMethodFault{Fault: &types.DuplicateName{Name: "lab-web-01",
			Object: types.ManagedObjectReference{Type: "VirtualMachine", Value: "vm-7"}}}},
			"DuplicateName: name lab-web-01, object vm-7"},
		{"a message is kept as it is", task.Error{LocalizedMethodFault: &types.LocalizedMethodFault{Fault: &types.DuplicateName{Name: "x"},
			LocalizedMessage: "The name 'x' already exists."}},
			"The name 'x' already exists."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := classify(tt.err)
			if err.Error() != tt.want {
				t.Errorf("text %q, want %q", err.Error(), tt.want)
			}
			if f := cloud.Classify(err); f.Class != cloud.Permanent || f.Name == "" || f.TaskEnded != !strings.HasPrefix(tt.want, "ServerFaultCode") {
				t.Errorf("fault %+v", f)
			}
		})
	}
}
