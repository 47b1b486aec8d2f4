package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"iter"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/iclone-plan/iclone-plan/internal/macgen"
)

// Limits of a plan. They keep a plan inside what one vCenter can hold and
// make hostile input (YAML bombs, huge files) fail fast.
const (
	// MaxCount is the largest count of one group.
	MaxCount = 10000
	// MaxClones is the largest number of clones in one plan, above what one
	// vCenter can register (45,000 VMs in vSphere 8).
	MaxClones = 50000
	// MaxGroups is the largest number of groups in one plan.
	MaxGroups = 1000
	// MaxNICs is the number of virtual NICs a VM can have.
	MaxNICs = 10
	// MaxSerialPorts is the number of serial ports a VM can have.
	MaxSerialPorts = 32
	// MaxExtraConfig is the largest number of guestinfo plus extraConfig
	// entries of one group.
	MaxExtraConfig = 256
	// MaxRendered is the largest number of values (names, MACs, serial files,
	// extraConfig entries) a plan may render in total.
	MaxRendered = 1_000_000
	// MaxFileSize is the largest plan file Load reads.
	MaxFileSize = 8 << 20
	// MaxNameLen is the longest clone name (vSphere allows 80 characters).
	MaxNameLen = 80
)

// Plan is a loaded, valid version-1 plan with defaults applied and every
// clone rendered.
type Plan struct {
	// Version is the plan file format version; always 1.
	Version int
	// Name is the plan's identity, stamped on every clone as iclone.plan.
	Name string
	// Datacenter is the datacenter to work in; empty when the vCenter has
	// only one.
	Datacenter string
	// File is the file name the plan was parsed from.
	File string
	// AllowLocalMACs allows locally administered unicast MACs in mac
	// templates, besides VMware's manual range. Auto MACs are always in the
	// manual range.
	AllowLocalMACs bool
	// Execution holds the run settings, all defaulted.
	Execution Execution
	// Groups are the plan's groups in file order, with defaults applied.
	Groups []*Group
}

// Execution is how apply runs the plan. Load fills every field: the defaults
// are those of DefaultExecution.
type Execution struct {
	Parallelism int           // clone tasks in flight overall, 1..256
	PerHost     int           // tasks in flight per ESXi host, 0 (no limit) ..256
	PerSource   int           // tasks in flight per source VM, 0 (no limit) ..256
	Rate        Rate          // task submissions per second
	Retries     int           // retries of a transient fault, 0..10
	TaskTimeout time.Duration // per task, 10s..24h
	OnFailure   string        // "rollback" or "continue"
	MaxFailures int           // failures tolerated before the run stops, 0..MaxClones
}

// Rate is a task submission rate such as "2/s" or "30/m".
type Rate struct {
	PerSecond float64 // events per second, > 0
	Text      string  // as written in the plan, e.g. "30/m"
}

// String returns the rate as written.
func (r Rate) String() string { return r.Text }

// Interval returns the time between two events.
func (r Rate) Interval() time.Duration {
	return time.Duration(float64(time.Second) / r.PerSecond)
}

// Failure policies of Execution.OnFailure.
const (
	OnFailureRollback = "rollback"
	OnFailureContinue = "continue"
)

// DefaultExecution is the execution block of a plan that sets none.
var DefaultExecution = Execution{
	Parallelism: 8,
	PerHost:     4,
	PerSource:   1,
	Rate:        Rate{PerSecond: 10, Text: "10/s"},
	Retries:     2,
	TaskTimeout: 10 * time.Minute,
	OnFailure:   OnFailureRollback,
	MaxFailures: 0,
}

// DefaultCloneName is the cloneName of a group that sets none, neither in the
// group nor in defaults.
const DefaultCloneName = "{plan}-{group}-{index:02}"

// Group is one source VM fanned out into Count clones.
type Group struct {
	Name         string        // unique in the plan; stamped as iclone.group
	Source       string        // inventory path of the running source VM
	Count        int           // number of clones, 0..MaxCount
	CloneName    *Template     // name template
	Folder       string        // inventory folder of the clones; "" for the datacenter's VM folder
	ResourcePool string        // resource pool of the clones; "" for the source's
	MaxAge       time.Duration // clones older than this are replaced; 0: never
	NICs         []NICSpec     // NIC edits, by adapter
	Serial       []SerialSpec  // serial port edits, by port
	// Ready, if set, makes apply wait until each clone is ready.
	Ready *ReadySpec
	// ConnectAfterReady makes clones start with their NICs disconnected and
	// connects them once the clone is ready (Ready is required).
	ConnectAfterReady bool
	Pos               Position // position of the group in the file
	Clones            []Clone  // the rendered clones, index 1..Count
}

// NICSpec is the template of one NIC edit.
type NICSpec struct {
	Adapter int       // "Network adapter N", 1..MaxNICs
	Auto    bool      // mac: auto
	MAC     *Template // the mac template unless Auto
	Network string    // port group to connect to; "" keeps the source's
}

// SerialSpec is the template of one serial-port file.
type SerialSpec struct {
	Port int       // "Serial port N", 1..MaxSerialPorts
	File *Template // "[datastore] path" template
}

// Clone is the fully rendered desired state of one clone: the planner's unit.
type Clone struct {
	Group        string
	Index        int // 1-based
	Name         string
	Folder       string
	Source       string
	ResourcePool string
	NICs         []NIC        // sorted by adapter
	Serial       []SerialPort // sorted by port
	// ExtraConfig holds guestinfo.<key> for every guestinfo entry plus the
	// extraConfig entries; nil when there are none. It never holds the
	// reserved iclone.* markers.
	ExtraConfig map[string]string
	// Ready is when apply considers the clone ready; nil: as soon as it
	// exists.
	Ready *CloneReady
	// ConnectAfterReady: the clone's NICs start disconnected and are
	// connected once it is ready.
	ConnectAfterReady bool
}

// ReadySpec says when a clone of a group is ready: VMware Tools running
// and, if Key is set, the guest having set guestinfo.<Key> to Value.
type ReadySpec struct {
	Tools   bool
	Key     string    // without the guestinfo. prefix; "" waits for Tools only
	Value   *Template // default "{name}"
	Timeout time.Duration
}

// Defaults of a ready block.
const (
	DefaultReadyKey     = "iclone.ready"
	DefaultReadyTimeout = 10 * time.Minute
	// NameKey is the extraConfig key that tells a clone with a ready key
	// its own name: the guest script answers with it in the ready key.
	NameKey = "guestinfo.iclone.name"
)

// CloneReady is the rendered readiness condition of one clone.
type CloneReady struct {
	Tools   bool
	Key     string // full extraConfig key, e.g. "guestinfo.iclone.ready"; "" for Tools only
	Value   string
	Timeout time.Duration
}

// NIC is the desired state of one virtual NIC of a clone.
type NIC struct {
	Adapter int
	MAC     string // lowercase, colon-separated
	Network string // "" keeps the source's
}

// SerialPort is the desired backing file of one serial port of a clone.
type SerialPort struct {
	Port int
	File string // "[datastore] path"
}

// Clones iterates over every clone of the plan, group by group in file order,
// index by index.
func (p *Plan) Clones() iter.Seq[*Clone] {
	return func(yield func(*Clone) bool) {
		for _, g := range p.Groups {
			for i := range g.Clones {
				if !yield(&g.Clones[i]) {
					return
				}
			}
		}
	}
}

// NumClones returns the number of clones of the plan.
func (p *Plan) NumClones() int {
	n := 0
	for _, g := range p.Groups {
		n += len(g.Clones)
	}
	return n
}

// Group returns the group called name, or nil.
func (p *Plan) Group(name string) *Group {
	for _, g := range p.Groups {
		if g.Name == name {
			return g
		}
	}
	return nil
}

// SpecHash returns a stable hash of everything that defines the clone apart
// from its identity (plan, group, index, name): source, folder, resource
// pool, NICs, serial ports and extraConfig. It is 16 lowercase hex digits,
// stored in the clone's iclone.spec marker: a clone whose marker differs from
// the plan's SpecHash is out of date. The encoding is versioned and
// length-prefixed, so it never changes with map order or Go versions.
func (c *Clone) SpecHash() string {
	h := sha256.New()
	var b []byte
	str := func(s string) {
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(b, ':')
		b = append(b, s...)
	}
	num := func(n int) { str(strconv.Itoa(n)) }
	str("iclone-plan spec v1")
	str(c.Source)
	str(c.Folder)
	str(c.ResourcePool)
	nics := slices.Clone(c.NICs)
	slices.SortFunc(nics, func(a, b NIC) int { return a.Adapter - b.Adapter })
	num(len(nics))
	for _, n := range nics {
		num(n.Adapter)
		str(n.MAC)
		str(n.Network)
	}
	ser := slices.Clone(c.Serial)
	slices.SortFunc(ser, func(a, b SerialPort) int { return a.Port - b.Port })
	num(len(ser))
	for _, s := range ser {
		num(s.Port)
		str(s.File)
	}
	keys := slices.Sorted(maps.Keys(c.ExtraConfig))
	num(len(keys))
	for _, k := range keys {
		str(k)
		str(c.ExtraConfig[k])
	}
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// MACs returns every MAC of the plan, explicit and auto, with its owner
// ("lab-web-01 adapter 2"), for macgen.Collisions against the MACs of an
// inventory.
func (p *Plan) MACs() macgen.Set {
	s := macgen.Set{}
	for c := range p.Clones() {
		for _, n := range c.NICs {
			if m, err := macgen.ParseMAC(n.MAC); err == nil {
				s.Add(m, c.Name+" adapter "+strconv.Itoa(n.Adapter))
			}
		}
	}
	return s
}

// ExtraConfigKeys returns every guestinfo and extraConfig key the plan's
// clones get, sorted: the keys an inventory read fetches of each clone to
// show what a replace changes.
func (p *Plan) ExtraConfigKeys() []string {
	seen := map[string]bool{}
	for c := range p.Clones() {
		for k := range c.ExtraConfig {
			seen[k] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}
