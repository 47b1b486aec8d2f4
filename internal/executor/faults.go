package executor

import (
	"context"
	"errors"
	"io"
	"net"
	"reflect"
	"strings"

	"github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// vimFault returns the vSphere fault carried by err (a SOAP fault or a task
// error), or nil.
func vimFault(err error) types.AnyType {
	var te task.Error
	if errors.As(err, &te) && te.LocalizedMethodFault != nil {
		return te.LocalizedMethodFault.Fault
	}
	var pte *task.Error
	if errors.As(err, &pte) && pte.LocalizedMethodFault != nil {
		return pte.LocalizedMethodFault.Fault
	}
	// SOAP faults may be wrapped ("powering off vm-1: ...").
	for e := err; e != nil; e = errors.Unwrap(e) {
		if soap.IsSoapFault(e) {
			return soap.ToSoapFault(e).VimFault()
		}
		if soap.IsVimFault(e) {
			return soap.ToVimFault(e)
		}
	}
	return nil
}

// FaultName returns the vSphere fault type of err, such as "DuplicateName",
// or "" when err is not a vSphere fault.
func FaultName(err error) string {
	f := vimFault(err)
	if f == nil {
		return ""
	}
	t := reflect.TypeOf(f)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

// transientFaults are vSphere faults that may succeed when retried: the
// object was busy, a host or the network hiccupped, vCenter ran short.
var transientFaults = map[string]bool{
	"TaskInProgress":             true,
	"ResourceInUse":              true,
	"ConcurrentAccess":           true,
	"HostCommunication":          true,
	"HostNotReachable":           true,
	"NotAuthenticated":           true,
	"Timedout":                   true,
	"InsufficientResourcesFault": true,
}

// Transient reports whether err is worth retrying: a transient vSphere fault
// or a network error. Faults about the request itself (DuplicateName,
// InvalidArgument, InvalidPowerState, NoPermission, ...) are not.
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if name := FaultName(err); name != "" {
		return transientFaults[name]
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	return strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "connection refused")
}
