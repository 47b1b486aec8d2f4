package plan

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/iclone-plan/iclone-plan/internal/inventory"
	"github.com/iclone-plan/iclone-plan/internal/macgen"
	"github.com/iclone-plan/iclone-plan/internal/ownership"
)

// Kind is the typed reason of a Change: why a clone is replaced or
// destroyed, or what a conflict is. Reason holds the sentence for people;
// Kind is for programs.
type Kind string

// The kinds of reasons.
const (
	KindSpec         Kind = "spec"        // the plan's spec of the clone changed
	KindNICDrift     Kind = "nic-drift"   // a NIC's MAC, network or connection was changed outside the plan
	KindMoved        Kind = "moved"       // the clone was moved to another folder
	KindRenamed      Kind = "renamed"     // the clone's name differs from the plan's
	KindSource       Kind = "source"      // the source was recreated
	KindPoweredOff   Kind = "powered-off" // the clone is not running
	KindMaxAge       Kind = "max-age"     // the clone is older than maxAge
	KindReplaceAll   Kind = "replace-all" // --replace-all
	KindReplaceNamed Kind = "replace"     // --replace NAME
	KindInterrupted  Kind = "interrupted" // debris of an interrupted run
	KindNotInPlan    Kind = "not-in-plan" // the plan no longer has the clone
	KindBlocked      Kind = "blocked"     // the group's source is missing or unusable: the clone is left as it is
	KindMarkedCopy   Kind = "marked-copy" // a VM with the plan's markers that no run of it made (a conflict)
)

// The kinds of conflicts (besides KindMarkedCopy). A conflict about a
// group's source has Index 0 and the source's path as Name.
const (
	KindSourceMissing    Kind = "source-missing"    // the group's source VM does not exist
	KindSourceState      Kind = "source-state"      // the source is neither running nor frozen
	KindSourceCheck      Kind = "source-check"      // vCenter's instant clone check of the source failed
	KindHost             Kind = "host"              // the source's host is disconnected or in maintenance
	KindPoolMissing      Kind = "pool-missing"      // the group's resource pool does not exist
	KindNetworkMissing   Kind = "network-missing"   // an adapter's network does not exist
	KindAdapterMissing   Kind = "adapter-missing"   // the group edits an adapter the source lacks
	KindSerialMissing    Kind = "serial-missing"    // the group edits a serial port the source lacks
	KindDatastoreMissing Kind = "datastore-missing" // a serial file's datastore does not exist
	KindNameTaken        Kind = "name-taken"        // a VM the plan does not own holds a clone's name
	KindMACTaken         Kind = "mac-taken"         // a VM the plan does not own uses a clone's MAC
	KindChainLimit       Kind = "chain-limit"       // the source's delta chain would pass vSphere's limit
)

// FieldChange is one field of a replaced clone whose live value differs
// from the plan's (or, for maxAge, the clone's age and the limit).
type FieldChange struct {
	Field  string `json:"field"`
	Before string `json:"before"`
	After  string `json:"after"`
}

// String renders the change as "field: before → after".
func (f FieldChange) String() string { return f.Field + ": " + f.Before + " → " + f.After }

// unset is how a value the live clone lacks is shown.
const unset = "(none)"

// fieldChanges compares the live clone with the desired one, field by
// field, as far as the inventory tells: source, folder, pool, each planned
// adapter's MAC, network and connection, serial files, and the guestinfo
// and extraConfig keys (when the inventory read them).
func (d *differ) fieldChanges(c *Clone, live *inventory.VM, src Source) []FieldChange {
	var out []FieldChange
	add := func(field, before, after string) {
		if before != after {
			out = append(out, FieldChange{Field: field, Before: before, After: after})
		}
	}
	if live.Name != c.Name {
		add("name", live.Name, c.Name)
	}
	if uuid := live.Markers[ownership.KeySource]; uuid != "" && src.InstanceUUID != "" {
		after := ResolvePath(d.inv.Datacenter, "vm", c.Source)
		before := "instance " + uuid
		if uuid == src.InstanceUUID {
			before = after
		} else if p := d.sourceByUUID(uuid); p != "" {
			before = p
			if p == after {
				before, after = p+" (instance "+uuid+")", after+" (instance "+src.InstanceUUID+")"
			}
		} else {
			after += " (instance " + src.InstanceUUID + ")"
		}
		add("source", before, after)
	}
	add("folder", live.Folder, CloneFolder(d.inv.Datacenter, c))
	if before, ok := d.inv.PoolPaths[live.PoolRef]; ok {
		after := ResolvePath(d.inv.Datacenter, "host", c.ResourcePool)
		if after == "" {
			after = d.inv.PoolPaths[src.PoolRef]
		}
		if after != "" {
			add("pool", before, after)
		}
	}
	for _, n := range c.NICs {
		ln := liveNIC(live, n.Adapter)
		field := fmt.Sprintf("adapter %d", n.Adapter)
		if ln == nil {
			add(field, unset, n.MAC)
			continue
		}
		add(field+" MAC", strings.ToLower(ln.MAC), n.MAC)
		if n.Network != "" {
			add(field+" network", ln.Network, n.Network)
		}
		if !ln.Connected {
			add(field+" connected", "no", "yes")
		}
	}
	for _, s := range c.Serial {
		before := unset
		if s.Port <= len(live.Serial) && live.Serial[s.Port-1].File != "" {
			before = live.Serial[s.Port-1].File
		}
		add(fmt.Sprintf("serial port %d file", s.Port), before, s.File)
	}
	if live.ExtraConfig != nil {
		keys := slices.Sorted(maps.Keys(c.ExtraConfig))
		for _, k := range keys {
			before, ok := live.ExtraConfig[k]
			if !ok {
				before = unset
			}
			add(k, before, c.ExtraConfig[k])
		}
	}
	return out
}

// sourceByUUID returns the path of the VM with the instance UUID, or "".
func (d *differ) sourceByUUID(uuid string) string {
	if d.byUUID == nil {
		d.byUUID = make(map[string]string, len(d.inv.VMs))
		for i := range d.inv.VMs {
			if u := d.inv.VMs[i].InstanceUUID; u != "" {
				d.byUUID[u] = d.inv.VMs[i].Path
			}
		}
	}
	return d.byUUID[uuid]
}

// liveNIC returns the live VM's NIC at the 1-based adapter, or nil.
func liveNIC(vm *inventory.VM, adapter int) *inventory.NIC {
	for i := range vm.NICs {
		if vm.NICs[i].Adapter == adapter {
			return &vm.NICs[i]
		}
	}
	return nil
}

// nicDrift returns why the live clone's NICs differ from the plan's when
// its spec is the plan's: so something outside the plan changed a MAC, a
// network or a connection. "" if they match.
func nicDrift(c *Clone, live *inventory.VM) string {
	for _, n := range c.NICs {
		ln := liveNIC(live, n.Adapter)
		switch {
		case ln == nil:
			return fmt.Sprintf("adapter %d removed outside the plan; expected MAC %s", n.Adapter, n.MAC)
		case !strings.EqualFold(ln.MAC, n.MAC):
			return fmt.Sprintf("adapter %d MAC %s set outside the plan; expected %s", n.Adapter, strings.ToLower(ln.MAC), n.MAC)
		case n.Network != "" && ln.Network != n.Network:
			return fmt.Sprintf("adapter %d network %s set outside the plan; expected %s", n.Adapter, ln.Network, n.Network)
		case !ln.Connected:
			return fmt.Sprintf("adapter %d disconnected outside the plan; expected connected", n.Adapter)
		}
	}
	return ""
}

// ownMACCollisions replaces each kept clone with a connected NIC whose MAC
// the plan gives another clone (an adapter the plan does not edit, set by
// hand to a planned MAC): left alone, the two would share it.
func (d *differ) ownMACCollisions() {
	for i := range d.ch.Items {
		it := &d.ch.Items[i]
		if it.Action != NoOp || it.Current == nil || it.Kind == KindBlocked {
			continue
		}
		for _, n := range it.Current.NICs {
			m, err := macgen.ParseMAC(n.MAC)
			if err != nil || !n.Connected {
				continue
			}
			label, ok := d.planned[m]
			if !ok || d.macClone[label].Name == it.Name {
				continue
			}
			it.Action, it.Kind = Replace, KindNICDrift
			it.Reason = fmt.Sprintf("adapter %d MAC %s set outside the plan; it is the MAC of %s", n.Adapter, m, label)
			it.Fields = append(it.Fields, FieldChange{Field: fmt.Sprintf("adapter %d MAC", n.Adapter), Before: m.String(), After: "(as cloned)"})
			d.fp.addVM(it.Current)
			break
		}
	}
}

// ageField is the maxAge field of a replace: the clone's age and the limit.
func ageField(live *inventory.VM, maxAge time.Duration, now time.Time) FieldChange {
	age := "unknown"
	if t, err := time.Parse(time.RFC3339, live.Markers[ownership.KeyCreated]); err == nil {
		a := now.Sub(t)
		if a >= time.Minute {
			a = a.Truncate(time.Minute)
		}
		age = fmtDuration(a.Truncate(time.Second))
	}
	return FieldChange{Field: "age", Before: age, After: "maxAge " + fmtDuration(maxAge)}
}

// blocked is the change of a clone whose group's source is missing or
// unusable: nothing is done to it (the source's conflict stops the plan),
// and its live VM, if any (Current), is shown as blocked, never as a
// destroy.
func (d *differ) blocked(g *Group, c *Clone) Change {
	ch := Change{Action: NoOp, Kind: KindBlocked, Group: g.Name, Index: c.Index, Name: c.Name, Clone: c,
		Reason: fmt.Sprintf("blocked: source VM %s %s", g.Source, d.badSource[g.Name])}
	path := clonePath(d.inv, c)
	for _, vm := range d.owned[slot{g.Name, c.Index}] {
		d.fp.addVM(vm)
		if ownership.StateOf(vm.Markers) == ownership.Live && (ch.Current == nil || vm.Path == path) {
			ch.Current = vm
		}
	}
	return ch
}

// inPlanFolders reports whether the VM is in a folder of the plan's clones.
func (d *differ) inPlanFolders(vm *inventory.VM) bool {
	if d.folders == nil {
		d.folders = map[string]bool{}
		for c := range d.p.Clones() {
			d.folders[CloneFolder(d.inv.Datacenter, c)] = true
		}
	}
	return d.folders[vm.Folder]
}

// markedCopy is the conflict of a VM that carries the plan's markers but
// that no run of the plan left: a second live VM in a clone's slot, or one
// outside the plan's folders (a full clone of a clone copies its
// extraConfig). It is never destroyed: a person must say what it is.
func (d *differ) markedCopy(vm *inventory.VM, c *Clone) Change {
	d.fp.addVM(vm)
	of := fmt.Sprintf("group %q index %s", vm.Markers[ownership.KeyGroup], vm.Markers[ownership.KeyIndex])
	if c != nil {
		of = "clone " + c.Name
	}
	return Change{Action: Conflict, Kind: KindMarkedCopy, Group: vm.Markers[ownership.KeyGroup], Name: vm.Name, Current: vm,
		Reason: fmt.Sprintf("VM %s (%s) carries plan %q's markers for %s but no run of the plan made it there (a full clone of a clone copies its extraConfig); if it is not the plan's, remove its iclone.* extraConfig keys, else delete it; nothing was changed",
			vm.Path, vm.Ref, d.p.Name, of)}
}
