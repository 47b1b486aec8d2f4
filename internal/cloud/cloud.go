// Package cloud holds the vSphere-free types of the boundary between the
// executor (internal/executor, which decides what to do) and the platform
// (internal/vsphere, which does it): the requests the executor makes, and
// the classification of a failed call. Both sides import this package and
// neither imports the other, so the executor builds and tests without
// govmomi. See docs/design.md, "The Cloud boundary".
package cloud

import (
	"errors"

	"github.com/iclone-plan/iclone-plan/internal/inventory"
)

// CloneRequest is one instant clone.
type CloneRequest struct {
	// Source is the source VM's reference.
	Source string
	// Name is the clone's name.
	Name string
	// Folder is the inventory path of the clone's folder.
	Folder string
	// Pool is the resource pool's inventory path; "" means the source's.
	Pool string
	// NICs are the NIC edits (manual MACs, networks).
	NICs []NICEdit
	// Serial are the serial-port file edits.
	Serial []SerialEdit
	// ExtraConfig is merged into the clone's extraConfig: guestinfo, the
	// plan's extraConfig and the ownership markers.
	ExtraConfig map[string]string
	// Disconnected makes every NIC start disconnected (replacements, until
	// the old clone is out of the way).
	Disconnected bool
}

// NICEdit is the desired state of one NIC of a new clone.
type NICEdit struct {
	Adapter int    // 1-based "Network adapter N"
	MAC     string // manual MAC
	Network string // port group name; "" keeps the source's
}

// SerialEdit is the desired backing file of one serial port of a new clone.
type SerialEdit struct {
	Port int    // 1-based "Serial port N"
	File string // "[datastore] path"
}

// VMChange is a reconfiguration of a VM's NICs and markers.
type VMChange struct {
	// Connect, if set, connects (or disconnects) every NIC, now and at
	// power-on.
	Connect *bool
	// Restore sets each NIC (by device key) back to the recorded state.
	Restore []inventory.NIC
	// ExtraConfig sets keys; an empty value removes the key.
	ExtraConfig map[string]string
}

// Ready is when a clone's guest counts as ready: VMware Tools running and,
// if Key is set, the extraConfig key Key (a guestinfo key the guest sets)
// holding Value (any value when Value is "").
type Ready struct {
	Tools bool
	Key   string
	Value string
}

// Class says what a failed call means for retrying it.
type Class uint8

// Classes of a failed call.
const (
	// Permanent: the request itself is wrong (DuplicateName,
	// InvalidArgument, NoPermission, ...); retrying fails the same way.
	Permanent Class = iota
	// Transient: the object was busy, a host or the network hiccupped,
	// vCenter ran short or restarted; a retry may succeed.
	Transient
	// NotFound: the object the call names does not exist (any more).
	NotFound
)

// String returns the class's name.
func (c Class) String() string {
	switch c {
	case Transient:
		return "transient"
	case NotFound:
		return "not found"
	}
	return "permanent"
}

// Fault is an error of a Cloud call, classified by the platform. Its text is
// the platform error's, unchanged.
type Fault struct {
	// Class says whether a retry may succeed.
	Class Class
	// Name is the platform's fault type, such as vSphere's "DuplicateName",
	// or "" when the error is not a platform fault (a network error, say).
	Name string
	// TaskEnded is set when the error is the failure of a task that ran to
	// its end, as opposed to an error of starting or waiting for it (the
	// task may then still be running).
	TaskEnded bool
	// Unanswered is set when the request that makes the change (the one
	// that starts the task) was sent and got no answer in time: the
	// platform may carry it out all the same.
	Unanswered bool
	// Err is the platform's error.
	Err error
}

// Error returns the platform error's text, unchanged.
func (f *Fault) Error() string { return f.Err.Error() }

// Unwrap returns the platform's error.
func (f *Fault) Unwrap() error { return f.Err }

// Classify returns the Fault carried by err (however wrapped). An error
// that carries none did not come from a Cloud call: it is Permanent, with
// no name.
func Classify(err error) Fault {
	var f *Fault
	if errors.As(err, &f) {
		return *f
	}
	return Fault{Class: Permanent, Err: err}
}

// IsTransient reports whether err is a Cloud fault worth retrying.
func IsTransient(err error) bool { return err != nil && Classify(err).Class == Transient }

// FaultName returns the platform fault type of err, or "".
func FaultName(err error) string {
	if err == nil {
		return ""
	}
	return Classify(err).Name
}

// TaskEnded reports whether err is the failure of a task that ran to its
// end.
func TaskEnded(err error) bool { return err != nil && Classify(err).TaskEnded }

// Unanswered reports whether err is a change request that was sent and got
// no answer in time (see Fault.Unanswered).
func Unanswered(err error) bool { return err != nil && Classify(err).Unanswered }
