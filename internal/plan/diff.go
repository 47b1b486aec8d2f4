package plan

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/iclone-plan/iclone-plan/internal/inventory"
	"github.com/iclone-plan/iclone-plan/internal/macgen"
	"github.com/iclone-plan/iclone-plan/internal/ownership"
)

// Action is what apply does about one clone. Its rune doubles as the display
// symbol (Replace displays as "-/+").
type Action rune

// The actions of a Change.
const (
	NoOp     Action = '='
	Create   Action = '+'
	Destroy  Action = '-'
	Replace  Action = '~'
	Conflict Action = '!'
)

// String returns the action's name: "noop", "create", "destroy", "replace"
// or "conflict".
func (a Action) String() string {
	switch a {
	case NoOp:
		return "noop"
	case Create:
		return "create"
	case Destroy:
		return "destroy"
	case Replace:
		return "replace"
	case Conflict:
		return "conflict"
	}
	return "unknown"
}

// Symbol returns the action as shown in plan output: "+", "-", "-/+", "!"
// or " " for no change.
func (a Action) Symbol() string {
	switch a {
	case Replace:
		return "-/+"
	case NoOp:
		return " "
	}
	return string(a)
}

// Reasons of a Change. Replace and Destroy always carry one; a Conflict's
// Reason is a whole sentence saying what to do.
const (
	ReasonSpecChanged   = "spec changed"
	ReasonNameChanged   = "name changed"
	ReasonMoved         = "moved from"
	ReasonSourceChanged = "source changed"
	ReasonPoweredOff    = "powered off"
	ReasonMaxAge        = "older than maxAge"
	ReasonReplaceAll    = "--replace-all"
	ReasonReplaceNamed  = "--replace"
	ReasonInterrupted   = "left by an interrupted run"
	ReasonNotInPlan     = "not in plan"
)

// Change is the planned action for one clone (or, for a Conflict about a
// source, for one group: Index is 0 and Name the source path).
type Change struct {
	Action Action
	// Reason says why a clone is replaced or destroyed, or what the conflict
	// is and what to do about it.
	Reason string
	Group  string
	Index  int
	Name   string
	// Clone is the desired clone; nil for Destroy.
	Clone *Clone
	// Current is the existing VM the change replaces, destroys or keeps; nil
	// for Create and for conflicts about names and sources.
	Current *inventory.VM
	// Debris marks a Destroy of what an interrupted run left behind (a
	// replacement never swapped in, a retired clone, a VM whose markers are
	// incomplete). Debris may hold a clone's name, so apply destroys it
	// first; its Reason starts with ReasonInterrupted.
	Debris bool
	// Kind is the typed form of Reason for a replace or destroy.
	Kind Kind
	// Fields lists, for a Replace, what differs between the live clone and
	// the plan, field by field.
	Fields []FieldChange
}

// Source is a group's source VM as found in the inventory.
type Source struct {
	Path         string
	Ref          string
	HostRef      string
	HostName     string
	PoolRef      string
	PowerState   string
	Frozen       bool
	InstanceUUID string
	// ChainDepth is the number of delta disks in the deepest chain of the
	// source's disks.
	ChainDepth int
	// Clones is how many clones this plan's apply makes of the source
	// (creates and replaces).
	Clones int
	// After is the source's chain depth after the apply: ChainDepth plus
	// Clones for a running source, ChainDepth for a frozen one.
	After int
}

// MaxChainDepth is the most delta disks vSphere allows in a disk's chain:
// an instant clone of a running source that deep fails (VMware KB 67186).
const MaxChainDepth = 255

// DefaultChainWarning is the chain depth past which plan warns (vSphere's
// own warnings start at about 100 levels).
const DefaultChainWarning = 100

// Changes is the result of Diff: what apply would do, in order (creates and
// replaces by group and index, then destroys), with the sources resolved.
type Changes struct {
	Plan       *Plan
	Datacenter string
	Items      []Change
	// Sources maps each group's source path to the VM found there.
	Sources map[string]Source
	// Folders lists the clone folders that do not exist yet and that apply
	// creates, sorted.
	Folders []string
	// Warnings are problems that do not stop the plan, such as a source's
	// delta chain nearing the limit.
	Warnings []string
	// Fingerprint is a hash of every inventory fact the diff depends on. A
	// saved plan is applied only while the inventory still has the same
	// fingerprint.
	Fingerprint string
	// Now is the time the diff was computed for (maxAge is measured to it).
	Now time.Time
}

// Options adjust Diff.
type Options struct {
	// ReplaceAll replaces every existing clone (--replace-all).
	ReplaceAll bool
	// Now is the time against which maxAge is measured; zero means the
	// inventory's ReadAt.
	Now time.Time
	// ChainWarning is the source chain depth past which the plan warns;
	// 0 means DefaultChainWarning, a negative value never warns.
	ChainWarning int
	// Replace lists glob patterns (path.Match) of clone names to replace
	// even if unchanged (--replace); see CheckSelection.
	Replace []string
}

// Count returns how many items have action a.
func (c *Changes) Count(a Action) int {
	n := 0
	for i := range c.Items {
		if c.Items[i].Action == a {
			n++
		}
	}
	return n
}

// HasChanges reports whether apply would change anything: a create, replace
// or destroy, or a folder to create.
func (c *Changes) HasChanges() bool {
	return len(c.Folders) > 0 || c.Count(Create)+c.Count(Replace)+c.Count(Destroy) > 0
}

// Conflicts returns the conflict items. A plan with conflicts must not be
// applied.
func (c *Changes) Conflicts() []Change {
	var out []Change
	for _, it := range c.Items {
		if it.Action == Conflict {
			out = append(out, it)
		}
	}
	return out
}

// Err returns an error listing every conflict, or nil.
func (c *Changes) Err() error {
	cs := c.Conflicts()
	if len(cs) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "plan %q has %d conflict(s); nothing was changed:", c.Plan.Name, len(cs))
	for _, it := range cs {
		fmt.Fprintf(&b, "\n  %s: %s", it.Name, it.Reason)
	}
	return &ConflictError{Text: b.String(), Conflicts: cs}
}

// ConflictError is returned by Changes.Err.
type ConflictError struct {
	Text      string
	Conflicts []Change
}

func (e *ConflictError) Error() string { return e.Text }

// Diff compares the plan's desired clones with the inventory and returns the
// changes that would make the inventory match. It is pure: no I/O, and the
// same inputs always give the same Changes.
//
// Ownership is by the iclone.plan marker only: a VM without this plan's
// marker is never replaced or destroyed; if it holds a clone's name (in the
// clone's folder) or one of the plan's MACs, that is a Conflict.
func Diff(p *Plan, inv *inventory.Inventory, opts Options) *Changes {
	d := newDiffer(p, inv, opts)
	d.indexInventory()
	d.resolveSources()
	d.diffClones()
	d.ownMACCollisions()
	chainBudget(d.ch, opts)
	d.macCollisions()
	d.identityWarnings()
	d.leftovers()
	d.sortItems()
	for _, f := range d.ch.Folders {
		d.fp.add("folder-missing", f)
	}
	d.ch.Fingerprint = d.fp.sum()
	return d.ch
}

// slot is a clone's place in the plan: its group and index.
type slot struct {
	group string
	index int
}

// differ is one Diff in progress: its inputs, the indexes it builds of the
// inventory and the Changes it fills in, step by step.
type differ struct {
	p    *Plan
	inv  *inventory.Inventory
	opts Options
	ch   *Changes
	fp   *fingerprint

	byPath      map[string]*inventory.VM
	owned       map[slot][]*inventory.VM // the plan's VMs by the slot their markers name
	stray       []*inventory.VM          // the plan's VMs whose markers name no slot
	foreignMACs map[macgen.MAC][]string  // MACs of VMs the plan does not own
	badSource   map[string]string        // group name -> why its source is unusable, in a few words
	planned     macgen.Set               // the plan's MACs, by owner label
	macClone    map[string]*Clone        // owner label in planned -> its clone
	byUUID      map[string]string        // instance UUID -> VM path, built when first needed
	folders     map[string]bool          // the folders of the plan's clones, built when first needed
}

func newDiffer(p *Plan, inv *inventory.Inventory, opts Options) *differ {
	now := opts.Now
	if now.IsZero() {
		now = inv.ReadAt
	}
	return &differ{p: p, inv: inv, opts: opts, fp: newFingerprint(),
		ch:     &Changes{Plan: p, Datacenter: inv.Datacenter, Sources: map[string]Source{}, Now: now},
		byPath: make(map[string]*inventory.VM, len(inv.VMs)), owned: map[slot][]*inventory.VM{},
		foreignMACs: map[macgen.MAC][]string{}, badSource: map[string]string{},
		planned: macgen.Set{}, macClone: map[string]*Clone{}}
}

// indexInventory indexes the VMs by path, the plan's own by slot, and the
// MACs of everyone else's.
func (d *differ) indexInventory() {
	for i := range d.inv.VMs {
		vm := &d.inv.VMs[i]
		d.byPath[vm.Path] = vm
		if vm.Owned(d.p.Name) {
			idx, err := strconv.Atoi(vm.Markers[ownership.KeyIndex])
			g := vm.Markers[ownership.KeyGroup]
			if err != nil || g == "" {
				d.stray = append(d.stray, vm)
				continue
			}
			d.owned[slot{g, idx}] = append(d.owned[slot{g, idx}], vm)
			continue
		}
		for _, n := range vm.NICs {
			if m, err := macgen.ParseMAC(n.MAC); err == nil {
				d.foreignMACs[m] = append(d.foreignMACs[m], fmt.Sprintf("VM %s adapter %d", vm.Path, n.Adapter))
			}
		}
	}
}

// resolveSources finds each group's source VM and collects every problem
// of the group that stops its clones: a missing or unusable source, and
// each missing pool, network, adapter, serial port and datastore. Each is a
// conflict of its own, so that one plan run reports them all.
func (d *differ) resolveSources() {
	inv, ch := d.inv, d.ch
	for _, g := range d.p.Groups {
		if g.Count == 0 {
			continue
		}
		src := d.byPath[ResolvePath(inv.Datacenter, "vm", g.Source)]
		if src == nil {
			d.badSource[g.Name] = "is missing"
			ch.Items = append(ch.Items, Change{Action: Conflict, Kind: KindSourceMissing, Group: g.Name, Name: g.Source,
				Reason: fmt.Sprintf("source VM %s of group %q does not exist in %s; fix the group's source path or create the VM", g.Source, g.Name, inv.Datacenter)})
			d.fp.add("source-missing", g.Source)
			for _, pr := range groupProblems(g, nil, inv) {
				ch.Items = append(ch.Items, Change{Action: Conflict, Kind: pr.kind, Group: g.Name, Name: g.Source, Reason: pr.reason})
			}
			continue
		}
		s := Source{Path: src.Path, Ref: src.Ref, HostRef: src.HostRef, PoolRef: src.PoolRef,
			PowerState: src.PowerState, Frozen: src.Frozen, InstanceUUID: src.InstanceUUID}
		if h, ok := inv.Hosts[src.HostRef]; ok {
			s.HostName = h.Name
		}
		for _, depth := range src.DiskChainDepth {
			s.ChainDepth = max(s.ChainDepth, depth)
		}
		ch.Sources[g.Source] = s
		d.fp.add("source", src.Path, src.Ref, src.HostRef, src.PowerState, strconv.FormatBool(src.Frozen), src.InstanceUUID)
		for _, w := range inv.Checks[src.Ref].Warnings {
			if msg := fmt.Sprintf("vCenter warns about source VM %s: %s", src.Path, w); !slices.Contains(ch.Warnings, msg) {
				ch.Warnings = append(ch.Warnings, msg)
			}
		}
		if problems := groupProblems(g, src, inv); len(problems) > 0 {
			d.badSource[g.Name] = "cannot be cloned (see the conflict)"
			if src.PowerState != "poweredOn" && !src.Frozen {
				d.badSource[g.Name] = "is " + src.PowerState
			}
			for _, pr := range problems {
				ch.Items = append(ch.Items, Change{Action: Conflict, Kind: pr.kind, Group: g.Name, Name: g.Source, Reason: pr.reason})
			}
		}
	}
}

// diffClones decides every desired clone's action (those of groups whose
// source is usable), and notes the folders to create and the plan's MACs.
func (d *differ) diffClones() {
	folders := map[string]bool{}
	for _, g := range d.p.Groups {
		for i := range g.Clones {
			c := &g.Clones[i]
			if f := CloneFolder(d.inv.Datacenter, c); !d.inv.Folders[f] {
				folders[f] = true
			}
			for _, n := range c.NICs {
				if m, err := macgen.ParseMAC(n.MAC); err == nil {
					label := fmt.Sprintf("%s adapter %d", c.Name, n.Adapter)
					d.planned.Add(m, label)
					d.macClone[label] = c
				}
			}
			if d.badSource[g.Name] != "" {
				// The source's conflict blocks the clone, but a name held by
				// someone else's VM is a conflict of its own, reported now
				// rather than on the run after the source is fixed.
				if taken, ok := d.nameTaken(g, c); ok {
					d.ch.Items = append(d.ch.Items, taken)
				} else if b := d.blocked(g, c); b.Current != nil {
					d.ch.Items = append(d.ch.Items, b)
				}
				delete(d.owned, slot{g.Name, c.Index})
				continue
			}
			d.ch.Items = append(d.ch.Items, d.diffClone(g, c)...)
			delete(d.owned, slot{g.Name, c.Index})
		}
	}
	for f := range folders {
		d.ch.Folders = append(d.ch.Folders, f)
	}
	slices.Sort(d.ch.Folders)
}

// identityWarnings warns about each group whose clones of a running source
// this apply makes (creates or replaces) come up connected, with the
// source's network identity, because the group does not use
// connectAfterReady: the identity-collision rule of
// docs/guest-customization.md. Clones that each have port groups of their
// own on every adapter of the source (the rule's second pattern) are safe.
func (d *differ) identityWarnings() {
	made := map[string]int{}
	for _, it := range d.ch.Items {
		if it.Clone != nil && (it.Action == Create || it.Action == Replace) {
			made[it.Group]++
		}
	}
	var onNet map[string]int // "source\x00network" -> clones of the plan there
	for _, g := range d.p.Groups {
		src := d.byPath[ResolvePath(d.inv.Datacenter, "vm", g.Source)]
		if made[g.Name] == 0 || g.ConnectAfterReady || src == nil || src.PowerState != "poweredOn" || src.Frozen {
			continue
		}
		if onNet == nil {
			onNet = d.clonesPerNetwork()
		}
		if d.isolated(g, src, onNet) {
			continue
		}
		how := "set ready and connectAfterReady on the group"
		if g.Ready != nil {
			how = "ready waits with the NICs connected: add connectAfterReady to the group"
		}
		d.ch.Warnings = append(d.ch.Warnings, fmt.Sprintf(
			"group %q: %d clone(s) of running source VM %s come up connected with its hostname and addresses: %s, or give each clone port groups of its own (the identity-collision rule, docs/guest-customization.md)",
			g.Name, made[g.Name], src.Path, how))
	}
}

// clonesPerNetwork counts, per source and network, the clones of the plan
// that an edit puts on that network.
func (d *differ) clonesPerNetwork() map[string]int {
	out := map[string]int{}
	for _, g := range d.p.Groups {
		src := ResolvePath(d.inv.Datacenter, "vm", g.Source)
		for _, n := range g.NICs {
			if n.Network != "" {
				out[src+"\x00"+n.Network] += g.Count
			}
		}
	}
	return out
}

// isolated reports whether every adapter of the source is edited, in each
// of the group's clones, onto a port group no other clone of the source
// and not the source itself is on. A source without adapters has no
// network identity to collide with.
func (d *differ) isolated(g *Group, src *inventory.VM, onNet map[string]int) bool {
	key := ResolvePath(d.inv.Datacenter, "vm", g.Source) + "\x00"
	for _, sn := range src.NICs {
		i := slices.IndexFunc(g.NICs, func(n NICSpec) bool { return n.Adapter == sn.Adapter })
		if i < 0 || g.NICs[i].Network == "" || onNet[key+g.NICs[i].Network] != 1 ||
			slices.ContainsFunc(src.NICs, func(o inventory.NIC) bool { return o.Network == g.NICs[i].Network }) {
			return false
		}
	}
	return true
}

// macCollisions makes a conflict of each MAC of a clone already used by a
// VM the plan does not own: the clone's change becomes the conflict, or,
// when it is a conflict already (or has no change: a clone blocked by its
// source), the collision is a conflict item of its own.
func (d *differ) macCollisions() {
	cols := macgen.Collisions(d.planned, d.foreignMACs)
	if len(cols) == 0 {
		return
	}
	byName := map[string]int{}
	for i, it := range d.ch.Items {
		if it.Clone != nil && it.Action != Conflict {
			if _, dup := byName[it.Name]; !dup {
				byName[it.Name] = i
			}
		}
	}
	for _, col := range cols {
		c := d.macClone[col.Planned]
		d.fp.add("mac", col.MAC.String(), col.Present)
		if i, ok := byName[c.Name]; ok {
			it := &d.ch.Items[i]
			it.Action, it.Kind, it.Reason, it.Fields = Conflict, KindMACTaken, col.String(), nil
			delete(byName, c.Name)
			continue
		}
		d.ch.Items = append(d.ch.Items, Change{Action: Conflict, Kind: KindMACTaken, Group: c.Group, Index: c.Index, Name: c.Name, Clone: c, Reason: col.String()})
	}
}

// leftovers destroys the owned VMs that no desired clone claims: groups
// removed, counts lowered, or left behind with broken markers.
func (d *differ) leftovers() {
	var gone []*inventory.VM
	for s, vms := range d.owned {
		reason := ReasonNotInPlan
		if g := d.p.Group(s.group); g == nil {
			reason = fmt.Sprintf("%s: group %q removed", ReasonNotInPlan, s.group)
		} else if s.index > g.Count || s.index < 1 {
			reason = fmt.Sprintf("%s: index %d beyond count %d", ReasonNotInPlan, s.index, g.Count)
		}
		for _, vm := range vms {
			c := Change{Action: Destroy, Reason: reason, Kind: KindNotInPlan, Group: s.group, Index: s.index, Name: vm.Name, Current: vm}
			if ownership.StateOf(vm.Markers) != ownership.Live {
				if !d.inPlanFolders(vm) {
					d.ch.Items = append(d.ch.Items, d.markedCopy(vm, nil))
					continue
				}
				c.Reason, c.Kind, c.Debris = ReasonInterrupted, KindInterrupted, true
			}
			d.ch.Items = append(d.ch.Items, c)
			gone = append(gone, vm)
		}
	}
	for _, vm := range d.stray {
		if !d.inPlanFolders(vm) {
			d.ch.Items = append(d.ch.Items, d.markedCopy(vm, nil))
			continue
		}
		d.ch.Items = append(d.ch.Items, Change{Action: Destroy, Reason: ReasonInterrupted + " (its iclone markers are incomplete)", Kind: KindInterrupted, Name: vm.Name, Current: vm, Debris: true})
		gone = append(gone, vm)
	}
	for _, vm := range gone {
		d.fp.addVM(vm)
	}
}

// sortItems orders the items: conflicts, then the clones by group in plan
// order and index, then destroys; leftovers of removed groups last.
func (d *differ) sortItems() {
	groupIndex := make(map[string]int, len(d.p.Groups))
	for i, g := range d.p.Groups {
		groupIndex[g.Name] = i
	}
	order := func(name string) int {
		if i, ok := groupIndex[name]; ok {
			return i
		}
		return len(d.p.Groups)
	}
	slices.SortStableFunc(d.ch.Items, func(a, b Change) int {
		return cmp.Or(cmp.Compare(rank(a.Action), rank(b.Action)), cmp.Compare(order(a.Group), order(b.Group)),
			cmp.Compare(a.Index, b.Index), cmp.Compare(a.Name, b.Name))
	})
}

// chainBudget works out each source's delta-chain depth after the apply:
// every instant clone of a running source adds a level, and vSphere fails
// clones past MaxChainDepth. A plan that would cross the limit is a
// conflict, with the numbers and the fixes; one past the warning threshold
// is a warning.
func chainBudget(ch *Changes, opts Options) {
	warn := opts.ChainWarning
	if warn == 0 {
		warn = DefaultChainWarning
	}
	for _, it := range ch.Items {
		if it.Clone != nil && (it.Action == Create || it.Action == Replace) {
			s := ch.Sources[it.Clone.Source]
			s.Clones++
			ch.Sources[it.Clone.Source] = s
		}
	}
	done := map[string]bool{}
	for _, it := range ch.Items {
		if it.Action == Conflict && it.Index == 0 {
			done[it.Name] = true // a source already in conflict
		}
	}
	for _, g := range ch.Plan.Groups {
		s, ok := ch.Sources[g.Source]
		if !ok || done[g.Source] {
			continue // missing, or shared with an earlier group
		}
		done[g.Source] = true
		s.After = s.ChainDepth
		if !s.Frozen {
			s.After += s.Clones
		}
		ch.Sources[g.Source] = s
		switch {
		case s.After > MaxChainDepth:
			fit := max(MaxChainDepth-s.ChainDepth, 0)
			ch.Items = append(ch.Items, Change{Action: Conflict, Kind: KindChainLimit, Group: g.Name, Name: s.Path, Reason: fmt.Sprintf(
				"source VM %s has a delta chain of %d levels and this plan makes %d clones of it, which would take it to %d, past vSphere's limit of %d (KB 67186): %d more clone(s) fit. Freeze the source (in its guest: vmware-rpctool \"instantclone.freeze\"), whose clones do not grow the chain, or recreate it to consolidate its disks",
				s.Path, s.ChainDepth, s.Clones, s.After, MaxChainDepth, fit)})
		case warn > 0 && s.After > warn && s.Clones > 0 && !s.Frozen:
			ch.Warnings = append(ch.Warnings, fmt.Sprintf(
				"source VM %s will have a delta chain of %d levels after this apply (vSphere fails instant clones past %d; %d more runs of %d clones fit): freeze the source or recreate it to consolidate its disks",
				s.Path, s.After, MaxChainDepth, (MaxChainDepth-s.After)/s.Clones, s.Clones))
		}
	}
}

// rank orders conflicts first (they stop the plan), then the clones in plan
// order, then destroys of what the plan no longer has.
func rank(a Action) int {
	switch a {
	case Conflict:
		return 0
	case Destroy:
		return 2
	}
	return 1
}

// groupProblem is one reason a group's clones cannot be made: a conflict's kind
// and its sentence.
type groupProblem struct {
	kind   Kind
	reason string
}

// groupProblems returns every reason a group's source cannot be
// instant-cloned as the plan asks, in a fixed order: the source's state
// (power, vCenter's own check, its host: one of them, the first that
// applies, since vCenter's check reports the others again), then each
// missing pool, adapter, network, serial port and datastore. src is nil
// for a missing source: then only what does not depend on it is checked.
func groupProblems(g *Group, src *inventory.VM, inv *inventory.Inventory) []groupProblem {
	var out []groupProblem
	add := func(k Kind, format string, args ...any) {
		out = append(out, groupProblem{k, fmt.Sprintf(format, args...)})
	}
	if src != nil {
		h, hostKnown := inv.Hosts[src.HostRef]
		switch chk := inv.Checks[src.Ref]; {
		case src.PowerState != "poweredOn" && !src.Frozen:
			add(KindSourceState, "source VM %s of group %q is %s; instant clone needs a running (or frozen) source: power it on", src.Path, g.Name, src.PowerState)
		case len(chk.Errors) > 0:
			add(KindSourceCheck, "vCenter's instant clone check of source VM %s failed: %s", src.Path, strings.Join(chk.Errors, "; "))
		case hostKnown && h.ConnectionState != "" && h.ConnectionState != "connected":
			add(KindHost, "host %s of source VM %s is %s; reconnect the host or move the source", h.Name, src.Path, h.ConnectionState)
		case hostKnown && h.InMaintenanceMode:
			add(KindHost, "host %s of source VM %s is in maintenance mode; take it out of maintenance or move the source", h.Name, src.Path)
		}
	}
	if pool := ResolvePath(inv.Datacenter, "host", g.ResourcePool); pool != "" && inv.Pools != nil && !inv.Pools[pool] {
		add(KindPoolMissing, "resource pool %s of group %q does not exist in %s; fix the path or create the pool", g.ResourcePool, g.Name, inv.Datacenter)
	}
	for _, n := range g.NICs {
		if src != nil && n.Adapter > len(src.NICs) {
			add(KindAdapterMissing, "group %q edits network adapter %d but source VM %s has %d; remove the edit or add the adapter to the source", g.Name, n.Adapter, src.Path, len(src.NICs))
		}
		if n.Network != "" && !inv.Networks[n.Network] {
			add(KindNetworkMissing, "network %q of group %q adapter %d does not exist in %s; fix the name or create the port group", n.Network, g.Name, n.Adapter, inv.Datacenter)
		}
	}
	for _, s := range g.Serial {
		if src != nil && s.Port > len(src.Serial) {
			add(KindSerialMissing, "group %q edits serial port %d but source VM %s has %d; remove the edit or add the port to the source", g.Name, s.Port, src.Path, len(src.Serial))
		}
	}
	// A serial file template may name a different datastore per clone:
	// each missing one is reported once, at the first port that names it.
	seen := map[string]bool{}
	for i := range g.Clones {
		for _, sp := range g.Clones[i].Serial {
			if ds, _, err := macgen.ParseDatastorePath(sp.File); err == nil && !inv.Datastores[ds] && !seen[ds] {
				seen[ds] = true
				add(KindDatastoreMissing, "datastore %q of group %q serial port %d does not exist in %s; fix the serial file template", ds, g.Name, sp.Port, inv.Datacenter)
			}
		}
	}
	return out
}

// diffClone decides the action for one desired clone given the VMs the plan
// owns in its slot (group, index).
func (d *differ) diffClone(g *Group, c *Clone) []Change {
	ch := &Change{Group: g.Name, Index: c.Index, Name: c.Name, Clone: c}
	path := clonePath(d.inv, c)

	if taken, ok := d.nameTaken(g, c); ok {
		return []Change{taken}
	}

	// The live clone is the one at the clone's path that is not a pending
	// replacement; any other VM of the slot is debris of an interrupted run
	// and is destroyed.
	slotVMs := d.owned[slot{g.Name, c.Index}]
	var live *inventory.VM
	for _, vm := range slotVMs {
		d.fp.addVM(vm)
		if ownership.StateOf(vm.Markers) == ownership.Live && (live == nil || vm.Path == path) {
			live = vm
		}
	}
	out := []Change{*ch}
	for _, vm := range slotVMs {
		switch {
		case vm == live:
		case ownership.StateOf(vm.Markers) == ownership.Live || !d.inPlanFolders(vm):
			// Not what a run leaves (a replacement or a retired clone in
			// the plan's folders): a copy that took the markers along.
			out = append(out, d.markedCopy(vm, c))
		default:
			out = append(out, Change{Action: Destroy, Reason: ReasonInterrupted, Kind: KindInterrupted, Group: g.Name, Index: c.Index, Name: vm.Name, Current: vm, Debris: true})
		}
	}
	ch = &out[0]
	if live == nil {
		ch.Action = Create
		return out
	}
	ch.Current = live
	d.keepOrReplace(ch, g, c, live, path)
	return out
}

// nameTaken returns the conflict of a clone whose name (in its folder) a VM
// the plan does not own holds, if one does.
func (d *differ) nameTaken(g *Group, c *Clone) (Change, bool) {
	path := clonePath(d.inv, c)
	vm := d.byPath[path]
	if vm == nil || vm.Owned(d.p.Name) {
		return Change{}, false
	}
	d.fp.add("foreign", vm.Path, vm.Ref)
	owner := "no iclone-plan marker"
	if o := vm.Markers[ownership.KeyPlan]; o != "" {
		owner = fmt.Sprintf("it belongs to plan %q", o)
	}
	return Change{Action: Conflict, Kind: KindNameTaken, Group: g.Name, Index: c.Index, Name: c.Name, Clone: c,
		Reason: fmt.Sprintf("name taken: VM %s (%s) is not owned by this plan (%s); rename or remove that VM, or change cloneName", path, vm.Ref, owner)}, true
}

// keepOrReplace decides whether the live clone stays (NoOp) or is replaced,
// why, and what differs field by field.
func (d *differ) keepOrReplace(ch *Change, g *Group, c *Clone, live *inventory.VM, path string) {
	src := d.ch.Sources[g.Source]
	ch.Action = Replace
	drift := nicDrift(c, live)
	switch {
	case live.Markers[ownership.KeySpec] != c.SpecHash():
		ch.Kind, ch.Reason = KindSpec, ReasonSpecChanged
	case drift != "":
		ch.Kind, ch.Reason = KindNICDrift, drift
	case live.Folder != CloneFolder(d.inv.Datacenter, c):
		ch.Kind, ch.Reason = KindMoved, fmt.Sprintf("%s %s", ReasonMoved, live.Folder)
		if live.Name != c.Name {
			ch.Reason += fmt.Sprintf(" (was %s)", live.Name)
		}
	case live.Path != path:
		ch.Kind, ch.Reason = KindRenamed, fmt.Sprintf("%s (was %s)", ReasonNameChanged, live.Name)
	case src.InstanceUUID != "" && live.Markers[ownership.KeySource] != src.InstanceUUID:
		ch.Kind, ch.Reason = KindSource, ReasonSourceChanged
	case live.PowerState != "poweredOn":
		ch.Kind, ch.Reason = KindPoweredOff, ReasonPoweredOff
		ch.Fields = append(ch.Fields, FieldChange{Field: "power", Before: live.PowerState, After: "poweredOn"})
	case g.MaxAge > 0 && expired(live, g.MaxAge, d.ch.Now):
		ch.Kind, ch.Reason = KindMaxAge, fmt.Sprintf("%s (%s)", ReasonMaxAge, fmtDuration(g.MaxAge))
		ch.Fields = append(ch.Fields, ageField(live, g.MaxAge, d.ch.Now))
	case d.opts.ReplaceAll:
		ch.Kind, ch.Reason = KindReplaceAll, ReasonReplaceAll
	case matchAny(d.opts.Replace, c.Name):
		ch.Kind, ch.Reason = KindReplaceNamed, ReasonReplaceNamed
	default:
		ch.Action = NoOp
		return
	}
	ch.Fields = append(d.fieldChanges(c, live, src), ch.Fields...)
}

// expired reports whether the clone was created at least maxAge before now.
// A clone whose creation time cannot be read is treated as expired, so a
// nightly rebuild never keeps a clone forever.
func expired(vm *inventory.VM, maxAge time.Duration, now time.Time) bool {
	t, err := time.Parse(time.RFC3339, vm.Markers[ownership.KeyCreated])
	return err != nil || !now.Before(t.Add(maxAge))
}

// clonePath is the inventory path the clone gets: its folder (or the
// datacenter's VM folder) and its name.
func clonePath(inv *inventory.Inventory, c *Clone) string {
	return CloneFolder(inv.Datacenter, c) + "/" + c.Name
}

// CloneFolder returns the inventory path of the folder a clone goes in: its
// folder, or the datacenter's VM folder.
func CloneFolder(datacenter string, c *Clone) string {
	if c.Folder != "" {
		return ResolvePath(datacenter, "vm", c.Folder)
	}
	return datacenter + "/vm"
}

// ResolvePath makes a plan's inventory path absolute: a relative path is
// resolved against the datacenter's folder of kind ("vm" for VMs and
// folders, "host" for resource pools), as govc does. datacenter is the
// datacenter's inventory path, e.g. "/Lab".
func ResolvePath(datacenter, kind, p string) string {
	if p == "" || strings.HasPrefix(p, "/") {
		return p
	}
	return datacenter + "/" + kind + "/" + p
}

// fingerprint hashes the inventory facts a diff depends on, in a canonical
// order.
type fingerprint struct{ lines []string }

func newFingerprint() *fingerprint { return &fingerprint{} }

func (f *fingerprint) add(fields ...string) { f.lines = append(f.lines, strings.Join(fields, "\x1f")) }

func (f *fingerprint) addVM(vm *inventory.VM) {
	fields := []string{"vm", vm.Ref, vm.Path, vm.PowerState}
	for _, k := range ownership.Keys {
		fields = append(fields, vm.Markers[k])
	}
	for _, n := range vm.NICs {
		fields = append(fields, n.MAC, strconv.FormatBool(n.Connected), n.Network)
	}
	f.add(fields...)
}

func (f *fingerprint) sum() string {
	slices.Sort(f.lines)
	f.lines = slices.Compact(f.lines)
	h := sha256.New()
	for _, l := range f.lines {
		h.Write([]byte(l))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}
