// Package inventory holds the plain data the planner sees of a vCenter: the
// virtual machines of one datacenter with their ownership markers and NICs,
// the hosts, networks and datastores by name.
//
// It is pure data with no behaviour that needs vCenter: internal/vsphere
// fills it in with one property-collector read, internal/plan diffs a plan
// against it without any I/O, and tests build it by hand.
package inventory

import (
	"time"

	"github.com/iclone-plan/iclone-plan/internal/ownership"
)

// Marker keys, as internal/ownership defines them; internal/vsphere reads
// them under these names.
const (
	MarkerPlan    = ownership.KeyPlan
	MarkerGroup   = ownership.KeyGroup
	MarkerIndex   = ownership.KeyIndex
	MarkerSpec    = ownership.KeySpec
	MarkerRun     = ownership.KeyRun
	MarkerCreated = ownership.KeyCreated
	MarkerSource  = ownership.KeySource
	MarkerState   = ownership.KeyState
)

// MarkerKeys lists every marker key, in a stable order (ownership.Keys).
var MarkerKeys = ownership.Keys

// Inventory is a snapshot of one datacenter, read at ReadAt.
type Inventory struct {
	// Datacenter is the inventory path of the datacenter, e.g. "/Lab".
	Datacenter string
	// VMs holds every virtual machine (and template) of the datacenter.
	VMs []VM
	// Hosts, keyed by managed object reference value.
	Hosts map[string]Host
	// Networks holds the names of the datacenter's networks and port groups.
	Networks map[string]bool
	// Datastores holds the names of the datacenter's datastores.
	Datastores map[string]bool
	// Folders holds the inventory paths of the datacenter's VM folders.
	Folders map[string]bool
	// Pools holds the inventory paths of the datacenter's resource pools,
	// e.g. "/Lab/host/Cluster/Resources/lab".
	Pools map[string]bool
	// PoolPaths maps each resource pool's reference value to its inventory
	// path (to show the pool a clone is in).
	PoolPaths map[string]string
	// ReadAt is when the snapshot was taken (the vCenter clock when known).
	ReadAt time.Time
	// Checks holds vCenter's own instant-clone pre-flight check of each
	// source, by VM reference (empty where vCenter has no such check).
	Checks map[string]SourceCheck
}

// SourceCheck is the result of vCenter's CheckInstantClone_Task for a
// source: errors stop the plan, warnings are shown.
type SourceCheck struct {
	Errors   []string
	Warnings []string
}

// VM is one virtual machine as the planner needs it.
type VM struct {
	Ref        string // managed object reference value, e.g. "vm-42"
	Name       string
	Path       string // inventory path, e.g. "/Lab/vm/lab/web/lab-web-01"
	Folder     string // inventory path of its folder
	HostRef    string // managed object reference value of its host, if any
	PoolRef    string // managed object reference value of its resource pool, if any
	PowerState string // "poweredOn", "poweredOff" or "suspended"
	// Frozen reports runtime.instantCloneFrozen (a frozen instant-clone source).
	Frozen       bool
	Template     bool
	InstanceUUID string
	// Markers holds the iclone.* extraConfig keys the VM carries (empty for
	// VMs iclone-plan did not create).
	Markers map[string]string
	// ExtraConfig holds the other extraConfig keys that were asked for
	// (vsphere.ReadOptions.ExtraConfigKeys) and that the VM carries: the
	// plan's guestinfo and extraConfig keys, for showing what a replace
	// changes. Nil when none was read.
	ExtraConfig map[string]string
	NICs        []NIC
	Serial      []SerialPort
	// DiskChainDepth holds, for each virtual disk, the number of delta
	// disks in its chain (0 = a flat disk with no parent). Every instant
	// clone of a running VM adds one; vSphere stops at 255.
	DiskChainDepth []int
}

// Owned reports whether the VM carries the ownership marker of plan.
func (v *VM) Owned(plan string) bool { return v.Markers[ownership.KeyPlan] == plan && plan != "" }

// NIC is a virtual ethernet card. Adapter is its 1-based position among the
// VM's ethernet cards, as the vSphere client labels them "Network adapter N".
type NIC struct {
	Adapter        int
	Key            int32 // device key
	MAC            string
	AddressType    string // "manual", "generated" or "assigned"
	Network        string // name of the backing network or port group
	Connected      bool
	StartConnected bool
}

// SerialPort is a virtual serial port. Port is its 1-based position among the
// VM's serial ports ("Serial port N"); File is set for file-backed ports.
type SerialPort struct {
	Port int
	Key  int32
	File string
}

// Host is an ESXi host.
type Host struct {
	Ref               string
	Name              string
	ConnectionState   string // "connected", "disconnected", "notResponding"
	InMaintenanceMode bool
}
