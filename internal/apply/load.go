package apply

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/iclone-plan/iclone-plan/internal/inventory"
	"github.com/iclone-plan/iclone-plan/internal/plan"
	"github.com/iclone-plan/iclone-plan/internal/ui"
	"github.com/iclone-plan/iclone-plan/internal/vsphere"
)

// LoadPlan loads a plan file (stage "load"); an invalid plan is reported as
// its error list.
func LoadPlan(path string) (*plan.Plan, error) {
	p, err := plan.Load(path)
	if err != nil {
		var list plan.ErrorList
		if errors.As(err, &list) {
			return nil, fmt.Errorf("%s is not a valid plan (%d error(s)):\n%w", path, len(list), err)
		}
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("plan file %s does not exist", path)
		}
		return nil, fmt.Errorf("reading plan %s: %w", path, err)
	}
	return p, nil
}

// Input is what the load stage of apply makes of its argument: a plan file,
// or a plan saved by plan --out.
type Input struct {
	// Plan is the plan to apply.
	Plan *plan.Plan
	// Saved is the saved plan, or nil when the argument is a plan file.
	Saved *ui.PlanDoc
}

// Load reads the plan file or saved plan at path. destroy takes only plan
// files.
func Load(path string, destroy bool) (*Input, error) {
	if !destroy {
		saved, err := SavedPlan(path)
		if err != nil {
			return nil, err
		}
		if saved != nil {
			p, err := plan.Parse(saved.File, []byte(saved.PlanSource))
			if err != nil {
				return nil, fmt.Errorf("the plan saved in %s is no longer valid:\n%w", path, err)
			}
			return &Input{Plan: p, Saved: saved}, nil
		}
	}
	p, err := LoadPlan(path)
	if err != nil {
		return nil, err
	}
	return &Input{Plan: p}, nil
}

// SavedPlan reads a plan saved by plan --out, or returns nil if path is not
// one.
func SavedPlan(path string) (*ui.PlanDoc, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("plan file %s does not exist", path)
		}
		return nil, err
	}
	if !bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
		return nil, nil
	}
	var doc ui.PlanDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s looks like a saved plan but is not valid JSON: %v", path, err)
	}
	if doc.Format != ui.PlanFormat || doc.PlanSource == "" {
		return nil, fmt.Errorf("%s is not a saved plan (format %q); save one with: iclone-plan plan --out FILE PLAN", path, doc.Format)
	}
	if doc.Version != ui.PlanVersion {
		return nil, fmt.Errorf("%s is a saved plan of version %d; this iclone-plan reads version %d: plan again", path, doc.Version, ui.PlanVersion)
	}
	sum := sha256.Sum256([]byte(doc.PlanSource))
	if hex.EncodeToString(sum[:]) != doc.PlanSHA256 {
		return nil, fmt.Errorf("%s: the saved plan text does not match its hash; the file was edited or damaged: plan again", path)
	}
	return &doc, nil
}

// Target is a connected vCenter (or simulator).
type Target struct {
	// Client is the session.
	Client *vsphere.Client
	// Cache opens the inventory cache of this vCenter and datacenter dc,
	// emptied first with refresh; nil, or a nil result, means no cache.
	Cache func(dc string, refresh bool) *vsphere.DeviceCache
	// Close logs out and lets go of the target.
	Close func()
	// Name is the vCenter as plans and saved plans name it; "" means the
	// client's host. An in-process simulator, on a new port each run, is
	// named for what it is, so that a plan saved with --sim applies with
	// --sim.
	Name string
	// JournalDir, if set, is where a run without an explicit journal keeps
	// it (a simulator's runs use a directory removed with the simulator).
	JournalDir string
}

// VCenter is the vCenter's name: Name, or the client's host.
func (t *Target) VCenter() string {
	if t.Name != "" {
		return t.Name
	}
	return t.Client.Host()
}

// Connector connects to the vCenter of plan p (stage "connect"): how is the
// command's business (flags, the govc environment, --sim).
type Connector func(ctx context.Context, p *plan.Plan) (*Target, error)

// Observation is a plan, its connected target and the inventory read for
// it: what plan, status (and apply, before it changes anything) work from.
type Observation struct {
	Plan      *plan.Plan
	Target    *Target
	Inventory *inventory.Inventory
}

// Observe loads the plan at path, connects to its vCenter and reads the
// inventory (stages "load", "connect" and "read"). Read-only commands may
// take the devices of VMs no plan owns from the inventory cache; refresh
// reads them all and rewrites it. The caller closes the target.
func Observe(ctx context.Context, path string, connect Connector, refresh bool) (*Observation, error) {
	p, err := LoadPlan(path)
	if err != nil {
		return nil, err
	}
	t, err := connect(ctx, p)
	if err != nil {
		return nil, err
	}
	inv, err := Read(ctx, t, t.Client.Datacenter(), p, refresh)
	if err != nil {
		t.Close()
		return nil, err
	}
	return &Observation{Plan: p, Target: t, Inventory: inv}, nil
}

// Read reads the inventory of datacenter dc for plan p (stage "read"),
// through the target's inventory cache if it has one, and saves the cache.
func Read(ctx context.Context, t *Target, dc string, p *plan.Plan, refresh bool) (*inventory.Inventory, error) {
	var cache *vsphere.DeviceCache
	if t.Cache != nil {
		cache = t.Cache(t.Client.Datacenter(), refresh)
	}
	inv, err := ReadInventory(ctx, t.Client, dc, p, cache)
	if err != nil {
		return nil, err
	}
	if cache != nil {
		// The cache only saves time: a cache that cannot be written (no
		// home directory, a read-only one) means a full read next time.
		_ = cache.Save()
	}
	return inv, nil
}

// ReadInventory reads the datacenter's inventory and has vCenter check each
// of the plan's sources (CheckInstantClone_Task) for the planner.
func ReadInventory(ctx context.Context, c *vsphere.Client, dc string, p *plan.Plan, cache *vsphere.DeviceCache) (*inventory.Inventory, error) {
	inv, err := c.ReadInventoryWith(ctx, dc, vsphere.ReadOptions{Cache: cache, Fresh: SourcePaths(p), ExtraConfigKeys: p.ExtraConfigKeys()})
	if err != nil {
		return nil, err
	}
	byPath := make(map[string]string, len(inv.VMs))
	for _, vm := range inv.VMs {
		byPath[vm.Path] = vm.Ref
	}
	var refs []string
	for _, g := range p.Groups {
		if ref, ok := byPath[plan.ResolvePath(inv.Datacenter, "vm", g.Source)]; ok && g.Count > 0 && !slices.Contains(refs, ref) {
			refs = append(refs, ref)
		}
	}
	if err := c.CheckSources(ctx, inv, refs); err != nil {
		return nil, err
	}
	return inv, nil
}

// SourcePaths gives, for a datacenter path, the inventory paths of p's
// sources: the VMs an inventory read always reads afresh.
func SourcePaths(p *plan.Plan) func(dc string) []string {
	return func(dc string) []string {
		var paths []string
		for _, g := range p.Groups {
			paths = append(paths, plan.ResolvePath(dc, "vm", g.Source))
		}
		return paths
	}
}

// CacheFile is the inventory cache file, in dir, of the vCenter c is
// connected to and datacenter dc.
func CacheFile(dir string, c *vsphere.Client, dc string) string {
	sum := sha256.Sum256([]byte(c.InstanceUUID() + "\x00" + c.Host() + "\x00" + dc))
	return filepath.Join(dir, "inventory-"+hex.EncodeToString(sum[:8])+".json")
}
