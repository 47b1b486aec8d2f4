package sim

import (
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"sync"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// VM files on the datastores.
//
// Each VM keeps its files in a directory of its own, named after the VM as
// vSphere names it ("The virtual machine name determines the name of the
// files and folder on the disk", vSphere Virtual Machine Administration):
// NAME/NAME.vmx, NAME/NAME.vmdk. A second VM of that name on the datastore
// (in another folder) gets NAME_1/, the next NAME_2/, ... as vCenter
// names them (vmware/govmomi#1694 reports it). vcsim by itself
// puts a clone's disk in the directory named after the VM even when that
// directory is another VM's, whose destroy then deletes the clone's disk.
//
// Instant clones share disks: a clone's delta disk chains to its source's
// delta and base disks, which live in the source's directory. Destroying
// a VM deletes only the files no other VM's disk chain references; the
// rest stay where they are, as vCenter keeps the disks that linked VMs
// share, and are deleted with the last VM that references them. vcsim's
// Destroy_Task deletes the VM's whole directory; dispatch routes it
// through keepShared first.

// chains records which files other VMs' disk chains reference.
type chains struct {
	mu sync.Mutex
	// users counts, per datastore path of a disk (descriptor), the VMs
	// whose chains reference it below their own top.
	users map[string]int
	// of lists, per VM, the files its chains reference below their tops.
	of map[types.ManagedObjectReference][]string
	// kept are files a destroyed VM left because other VMs referenced
	// them; they are deleted once no VM does.
	kept map[string]bool
}

func (c *chains) init() {
	c.users = map[string]int{}
	c.of = map[types.ManagedObjectReference][]string{}
	c.kept = map[string]bool{}
}

// add records the chains of vm's disks. Only instant clones share files,
// so only clones are recorded.
func (c *chains) add(vm types.ManagedObjectReference, devices []types.BaseVirtualDevice) {
	var files []string
	for _, d := range devices {
		disk, ok := d.(*types.VirtualDisk)
		if !ok {
			continue
		}
		if b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
			for p := b.Parent; p != nil; p = p.Parent {
				if !slices.Contains(files, p.FileName) {
					files = append(files, p.FileName)
				}
			}
		}
	}
	if len(files) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.of[vm] = files
	for _, f := range files {
		c.users[f]++
	}
}

// remove forgets vm's chains and returns the kept files no VM references
// any longer, which the caller deletes.
func (c *chains) remove(vm types.ManagedObjectReference) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var orphans []string
	for _, f := range c.of[vm] {
		if c.users[f]--; c.users[f] <= 0 {
			delete(c.users, f)
			if c.kept[f] {
				delete(c.kept, f)
				orphans = append(orphans, f)
			}
		}
	}
	delete(c.of, vm)
	return orphans
}

// keep returns which of the disks in files other VMs reference, and marks
// them kept: deleted with the last VM that references them.
func (c *chains) keep(files []string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var shared []string
	for _, f := range files {
		if c.users[f] > 0 {
			c.kept[f] = true
			shared = append(shared, f)
		}
	}
	return shared
}

// makeVMDir creates the directory of a new VM named name on datastore ds
// and returns its datastore path, "[ds] NAME" or, if taken, "[ds] NAME_N".
// os.Mkdir decides atomically, so concurrent clones of one name (in
// different folders) never share a directory.
func (s *Simulator) makeVMDir(ctx *simulator.Context, ds, name string) (string, error) {
	for i := 0; i < 10000; i++ {
		dir := name
		if i > 0 {
			dir = fmt.Sprintf("%s_%d", name, i)
		}
		dp := object.DatastorePath{Datastore: ds, Path: dir}
		local, err := localPath(ctx, dp.String())
		if err != nil {
			return "", err
		}
		switch err := os.Mkdir(local, 0o700); {
		case err == nil:
			return dp.String(), nil
		case !errors.Is(err, os.ErrExist):
			return "", err
		}
	}
	return "", fmt.Errorf("no free directory name for %q on datastore %s", name, ds)
}

// keepShared runs before vcsim destroys vm (the caller holds vm's lock and
// vm is powered off, so the destroy will go ahead): it deletes the files
// of vm's directory that no other VM's chain references and, if some are
// referenced, points vm's log directory at its log file, so vcsim's
// destroy deletes that file instead of the whole directory.
func (s *Simulator) keepShared(ctx *simulator.Context, vm *simulator.VirtualMachine) {
	var dir object.DatastorePath
	if !dir.FromString(vm.Config.Files.VmPathName) {
		return
	}
	dir.Path = path.Dir(dir.Path)
	if dir.Path == "." || dir.Path == "" {
		return
	}
	local, err := localPath(ctx, dir.String())
	if err != nil {
		return
	}
	entries, err := os.ReadDir(local)
	if err != nil {
		return
	}
	var disks []string
	for _, e := range entries {
		if path.Ext(e.Name()) == ".vmdk" {
			disks = append(disks, dir.Path+"/"+e.Name())
		}
	}
	for i, d := range disks {
		disks[i] = "[" + dir.Datastore + "] " + d
	}
	shared := s.chains.keep(disks)
	if len(shared) == 0 {
		return // vcsim deletes the whole directory
	}
	keep := map[string]bool{"vmware.log": true} // vcsim deletes it
	for _, f := range shared {
		if p, err := localPath(ctx, f); err == nil {
			keep[path.Base(p)] = true
			keep[path.Base(simulator.VirtualDiskBackingFileName(p))] = true
		}
	}
	for _, e := range entries {
		if !keep[e.Name()] {
			_ = os.RemoveAll(path.Join(local, e.Name()))
		}
	}
	vm.Config.Files.LogDirectory = dir.String() + "/vmware.log"
}

// deleteOrphans deletes kept disk files no VM references any longer, and
// their directories once empty.
func (s *Simulator) deleteOrphans(ctx *simulator.Context, files []string) {
	for _, f := range files {
		p, err := localPath(ctx, f)
		if err != nil {
			continue
		}
		_ = os.Remove(p)
		_ = os.Remove(simulator.VirtualDiskBackingFileName(p))
		_ = os.Remove(path.Dir(p)) // fails while other files are there
	}
}
