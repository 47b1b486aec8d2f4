package vsphere

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/iclone-plan/iclone-plan/internal/inventory"
)

// DeviceCache keeps, between runs, what ReadInventory learnt from the
// device lists (and markers) of VMs no plan owns (their MACs, for the
// collision check), with the configuration version it was read at. A VM's
// config.changeVersion changes with every change of its configuration (a
// MAC, a NIC added or removed), so a VM whose version is unchanged has the
// devices the cache holds, and ReadInventory need not read them again: the
// device lists are nearly all of an inventory read's size (44 of 60 MB for
// 10,000 VMs in the simulator).
//
// The cache holds no secrets, only VM references, versions, MACs, networks
// and serial-port files. It is a file of its own per vCenter and
// datacenter (see OpenDeviceCache); a damaged, foreign or missing file is
// an empty cache. Safe for one goroutine at a time.
type DeviceCache struct {
	path  string
	file  cacheFile
	dirty bool
	hits  int
	reads int
}

// cacheVersion is the format of the cache file; a file of another format
// is ignored.
const cacheVersion = 1

type cacheFile struct {
	Version int `json:"version"`
	// VCenter is the vCenter's instance UUID and Datacenter the managed
	// object reference of the datacenter: the entries belong to them.
	VCenter    string                `json:"vcenter"`
	Datacenter string                `json:"datacenter"`
	VMs        map[string]cacheEntry `json:"vms"` // by VM reference
}

type cacheEntry struct {
	ChangeVersion string                 `json:"changeVersion"`
	InstanceUUID  string                 `json:"instanceUuid,omitempty"`
	Markers       map[string]string      `json:"markers,omitempty"` // iclone.* keys of a VM without the plan marker
	NICs          []inventory.NIC        `json:"nics,omitempty"`
	Serial        []inventory.SerialPort `json:"serial,omitempty"`
	Disks         []int                  `json:"disks,omitempty"`
}

// OpenDeviceCache opens the cache file at path; a missing, unreadable or
// damaged file gives an empty cache (it is rewritten by Save).
func OpenDeviceCache(path string) *DeviceCache {
	c := &DeviceCache{path: path}
	b, err := os.ReadFile(path)
	if err == nil && json.Unmarshal(b, &c.file) == nil && c.file.Version == cacheVersion {
		return c
	}
	c.file = cacheFile{}
	return c
}

// Hits is how many VMs the last read took from the cache.
func (c *DeviceCache) Hits() int { return c.hits }

// Reads is how many VMs the last read read from vCenter that the cache
// could have held (VMs no plan owns whose version was new or changed).
func (c *DeviceCache) Reads() int { return c.reads }

// begin starts a read of the given vCenter and datacenter: entries of
// another are dropped.
func (c *DeviceCache) begin(vcenter, datacenter string) {
	c.hits, c.reads = 0, 0
	if c.file.VCenter != vcenter || c.file.Datacenter != datacenter || c.file.VMs == nil {
		c.file = cacheFile{Version: cacheVersion, VCenter: vcenter, Datacenter: datacenter, VMs: map[string]cacheEntry{}}
		c.dirty = true
	}
}

// lookup fills vm's devices from the cache if it holds them at vm's
// configuration version.
func (c *DeviceCache) lookup(vm *inventory.VM, changeVersion string) bool {
	e, ok := c.file.VMs[vm.Ref]
	if !ok || changeVersion == "" || e.ChangeVersion != changeVersion || e.InstanceUUID != vm.InstanceUUID {
		return false
	}
	vm.NICs, vm.Serial, vm.DiskChainDepth = slices.Clone(e.NICs), slices.Clone(e.Serial), slices.Clone(e.Disks)
	vm.Markers = maps.Clone(e.Markers)
	c.hits++
	return true
}

// store records vm's devices, read at changeVersion.
func (c *DeviceCache) store(vm *inventory.VM, changeVersion string) {
	c.reads++
	if changeVersion == "" {
		return
	}
	c.file.VMs[vm.Ref] = cacheEntry{ChangeVersion: changeVersion, InstanceUUID: vm.InstanceUUID, Markers: maps.Clone(vm.Markers),
		NICs: slices.Clone(vm.NICs), Serial: slices.Clone(vm.Serial), Disks: slices.Clone(vm.DiskChainDepth)}
	c.dirty = true
}

// keep drops the entries of VMs not in present (VMs gone, and VMs that are
// now read afresh every time).
func (c *DeviceCache) keep(present map[string]bool) {
	for ref := range c.file.VMs {
		if !present[ref] {
			delete(c.file.VMs, ref)
			c.dirty = true
		}
	}
}

// Save writes the cache back if it changed: to a temporary file renamed
// over the old one, readable by its owner alone.
func (c *DeviceCache) Save() error {
	if !c.dirty {
		return nil
	}
	b, err := json.Marshal(c.file)
	if err != nil {
		return err
	}
	dir := filepath.Dir(c.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("saving the inventory cache: %w", err)
	}
	f, err := os.CreateTemp(dir, ".inventory-*")
	if err != nil {
		return fmt.Errorf("saving the inventory cache: %w", err)
	}
	defer func() { _ = os.Remove(f.Name()) }()
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return fmt.Errorf("saving the inventory cache: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("saving the inventory cache: %w", err)
	}
	if err := os.Rename(f.Name(), c.path); err != nil {
		return fmt.Errorf("saving the inventory cache: %w", err)
	}
	c.dirty = false
	return nil
}

// Reset empties the cache (Save then rewrites the file).
func (c *DeviceCache) Reset() {
	c.file, c.dirty = cacheFile{}, true
}

// Remove deletes the cache file (a missing file is no error).
func (c *DeviceCache) Remove() error {
	c.file, c.dirty = cacheFile{}, false
	if err := os.Remove(c.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
