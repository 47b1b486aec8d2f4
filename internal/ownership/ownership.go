// Package ownership is the protocol by which iclone-plan knows which VMs are
// its own: the extraConfig markers every clone carries from birth (set in
// its InstantCloneSpec, so a clone is owned from the moment it exists), the
// values of iclone.state while a run is in flight, and the constructor of a
// new clone's markers. The inventory is the state: there is no state file.
// See docs/design.md, "Ownership".
//
// The planner (internal/plan) reads markers, the executor
// (internal/executor) writes them, internal/vsphere reads them from vCenter;
// all of them take the keys and values from here.
package ownership

import (
	"strconv"
	"time"
)

// Marker keys: plain (not guest-visible) extraConfig keys.
const (
	KeyPlan    = "iclone.plan"    // plan name
	KeyGroup   = "iclone.group"   // group name
	KeyIndex   = "iclone.index"   // 1-based index within the group
	KeySpec    = "iclone.spec"    // hash of the clone's desired spec
	KeyRun     = "iclone.run"     // id of the run that created the clone
	KeyCreated = "iclone.created" // RFC 3339 creation time
	KeySource  = "iclone.source"  // instance UUID of the source VM at clone time
	KeyState   = "iclone.state"   // a State while a run is in flight
)

// Keys lists every marker key, in a stable order.
var Keys = []string{KeyPlan, KeyGroup, KeyIndex, KeySpec, KeyRun, KeyCreated, KeySource, KeyState}

// State is the value of the iclone.state marker. A clone in service has
// none; a VM with one is debris if the run that set it is gone.
type State string

// States of an owned VM.
const (
	// Live is a clone in service (the marker is absent).
	Live State = ""
	// Replacement is a new clone made under a temporary name, not yet
	// swapped in for the clone it replaces. Its value is "pending" on VMs.
	Replacement State = "pending"
	// Retired is a replaced clone awaiting destruction when the run commits.
	Retired State = "retired"
)

// StateOf returns the iclone.state of a VM's markers.
func StateOf(markers map[string]string) State { return State(markers[KeyState]) }

// Markers are the ownership markers a new clone carries from birth.
type Markers struct {
	Plan    string    // the plan's name
	Group   string    // the clone's group
	Index   int       // the clone's 1-based index in its group
	Spec    string    // the hash of the clone's desired spec
	Run     string    // the id of the run creating it
	Created time.Time // its creation time
	Source  string    // the source VM's instance UUID
	State   State     // Replacement for a replacement, else Live
}

// ExtraConfig returns the markers as extraConfig keys and values. A Live
// state sets no iclone.state key.
func (m Markers) ExtraConfig() map[string]string {
	out := map[string]string{
		KeyPlan:    m.Plan,
		KeyGroup:   m.Group,
		KeyIndex:   strconv.Itoa(m.Index),
		KeySpec:    m.Spec,
		KeyRun:     m.Run,
		KeyCreated: m.Created.UTC().Format(time.RFC3339),
		KeySource:  m.Source,
	}
	if m.State != Live {
		out[KeyState] = string(m.State)
	}
	return out
}

// SetState returns the extraConfig change that sets a VM's iclone.state to
// s (Live removes the key).
func SetState(s State) map[string]string { return map[string]string{KeyState: string(s)} }
