package sim

import (
	"path"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"
)

// files lists the files on datastore ds as DatastorePath strings
// ("[ds] dir/file"), through the HostDatastoreBrowser over SOAP, as govc
// datastore.ls -R does.
func (e *env) files(ds string) []string {
	e.t.Helper()
	d, err := e.find().Datastore(e.ctx, "/Lab/datastore/"+ds)
	if err != nil {
		e.t.Fatal(err)
	}
	b, err := d.Browser(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	task, err := b.SearchDatastoreSubFolders(e.ctx, "["+ds+"]", &types.HostDatastoreBrowserSearchSpec{MatchPattern: []string{"*"}})
	if err != nil {
		e.t.Fatal(err)
	}
	info := e.wait(task)
	if info.Error != nil {
		e.t.Fatalf("SearchDatastoreSubFolders: %s", info.Error.LocalizedMessage)
	}
	var out []string
	for _, r := range info.Result.(types.ArrayOfHostDatastoreBrowserSearchResults).HostDatastoreBrowserSearchResults {
		// vcsim's folder paths are "[ds]/dir", vCenter's "[ds] dir".
		var dir object.DatastorePath
		dir.FromString(r.FolderPath)
		dir.Path = strings.Trim(dir.Path, "/")
		for _, f := range r.File {
			out = append(out, (&object.DatastorePath{Datastore: dir.Datastore, Path: path.Join(dir.Path, f.GetFileInfo().Path)}).String())
		}
	}
	sort.Strings(out)
	return out
}

// destroy powers a VM off (if on) and destroys it.
func (e *env) destroy(ref types.ManagedObjectReference) {
	e.t.Helper()
	vm := object.NewVirtualMachine(e.c, ref)
	if e.props(ref, "runtime").Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn {
		task, err := vm.PowerOff(e.ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		if info := e.wait(task); info.Error != nil {
			e.t.Fatalf("power off %s: %s", ref, info.Error.LocalizedMessage)
		}
	}
	task, err := vm.Destroy(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	if info := e.wait(task); info.Error != nil {
		e.t.Fatalf("destroy %s: %s", ref, info.Error.LocalizedMessage)
	}
}

func filesUnder(files []string, dir string) []string {
	var out []string
	for _, f := range files {
		if strings.HasPrefix(f, dir+"/") {
			out = append(out, strings.TrimPrefix(f, dir+"/"))
		}
	}
	return out
}

// diskFiles lists a VM's disk chain files, top first, of every disk.
func (e *env) diskFiles(ref types.ManagedObjectReference) []string {
	var out []string
	for _, d := range disks(e.props(ref)) {
		out = append(out, chain(d)...)
	}
	return out
}

// Two same-named VMs in different folders never share a directory, and
// destroying one leaves the other's files. vSphere names a VM's directory
// and files after the VM ("The virtual machine name determines the name of
// the files and folder on the disk", vSphere Virtual Machine
// Administration, "Select a Name and Folder"); a second directory of one
// name is NAME_1, then NAME_2, as vCenter names them (vmware/govmomi#1694:
// "vCenter UI, and vCenter REST API ... renaming the datastore VM folder to
// things like vm_1, vm_2").
func TestVMDirectories(t *testing.T) {
	e := start(t, Options{Seed: testSeed()})
	src := e.vm("/Lab/vm/golden/web-golden")
	var twins []types.ManagedObjectReference
	for _, folder := range []string{"/Lab/vm/lab/web", "/Lab/vm/lab"} {
		ref := e.folder(folder).Reference()
		twins = append(twins, e.mustClone(src, types.VirtualMachineInstantCloneSpec{Name: "twin", Location: types.VirtualMachineRelocateSpec{Folder: &ref}}))
	}
	for i, tt := range []struct{ vmx, disk string }{
		{"[LocalDS_0] twin/twin.vmx", "[LocalDS_0] twin/twin.vmdk"},
		{"[LocalDS_0] twin_1/twin.vmx", "[LocalDS_0] twin_1/twin.vmdk"},
	} {
		vm := e.props(twins[i])
		if got := vm.Config.Files.VmPathName; got != tt.vmx {
			t.Errorf("twin %d vmx %s, want %s", i+1, got, tt.vmx)
		}
		if got := chain(disks(vm)[0])[0]; got != tt.disk {
			t.Errorf("twin %d disk %s, want %s", i+1, got, tt.disk)
		}
	}
	e.destroy(twins[0])
	all := e.files("LocalDS_0")
	if got := filesUnder(all, "[LocalDS_0] twin"); len(got) != 0 {
		t.Errorf("the destroyed twin's directory still holds %v", got)
	}
	if got := filesUnder(all, "[LocalDS_0] twin_1"); !slices.Contains(got, "twin.vmdk") || !slices.Contains(got, "twin.vmx") {
		t.Errorf("the running twin's directory holds %v, want its twin.vmx and twin.vmdk", got)
	}
	// A third VM of the name takes the free directory again.
	ref := e.folder("/Lab/vm/lab/web").Reference()
	third := e.mustClone(src, types.VirtualMachineInstantCloneSpec{Name: "twin", Location: types.VirtualMachineRelocateSpec{Folder: &ref}})
	if got := e.props(third).Config.Files.VmPathName; got != "[LocalDS_0] twin/twin.vmx" {
		t.Errorf("third twin vmx %s, want [LocalDS_0] twin/twin.vmx", got)
	}
}

// A source destroyed while its clones run leaves the delta and base disks
// the clones chain to, and deletes the rest of its files; the kept files
// go with the last clone that references them. The vSphere Web Services
// SDK Programming Guide ("How the Instant Clone Operation Works") has the
// clone's delta disk link to the source's disks; vCenter does not delete
// disks that other VMs share when it deletes a VM ("Linked Virtual
// Machines" in the same guide: removing a VM keeps the disks its linked
// clones use).
func TestDestroyKeepsSharedDisks(t *testing.T) {
	e := start(t, Options{Seed: testSeed()})
	src := e.vm("/Lab/vm/golden/web-golden")
	c1 := e.mustClone(src, types.VirtualMachineInstantCloneSpec{Name: "c1"})
	c2 := e.mustClone(src, types.VirtualMachineInstantCloneSpec{Name: "c2"})
	shared := append(e.diskFiles(c1)[1:], e.diskFiles(c2)[1:]...) // below each clone's own delta
	srcTop := e.diskFiles(src.Reference())[0]                     // the source's newest delta, no clone's
	if slices.Contains(shared, srcTop) {
		t.Fatalf("the source's top %s is in a clone's chain %v", srcTop, shared)
	}
	for _, f := range shared {
		if !strings.HasPrefix(f, "[LocalDS_0] web-golden/") {
			t.Fatalf("clone chains to %s, want a file in the source's directory", f)
		}
	}
	e.destroy(src.Reference())
	all := e.files("LocalDS_0")
	left := filesUnder(all, "[LocalDS_0] web-golden")
	for _, f := range shared {
		name := strings.TrimPrefix(f, "[LocalDS_0] web-golden/")
		if !slices.Contains(left, name) || !slices.Contains(left, strings.Replace(name, ".vmdk", "-flat.vmdk", 1)) {
			t.Errorf("destroying the source deleted %s, which a running clone chains to; left: %v", f, left)
		}
	}
	for _, gone := range []string{"web-golden.vmx", "web-golden.nvram", "vmware.log", strings.TrimPrefix(srcTop, "[LocalDS_0] web-golden/")} {
		if slices.Contains(left, gone) {
			t.Errorf("destroying the source left its %s (no clone uses it); left: %v", gone, left)
		}
	}
	// The clones still run, and their disks are intact.
	for _, c := range []types.ManagedObjectReference{c1, c2} {
		if st := e.props(c, "runtime").Runtime.PowerState; st != types.VirtualMachinePowerStatePoweredOn {
			t.Errorf("clone %s is %s after its source was destroyed", c, st)
		}
	}
	e.destroy(c1)
	if left := filesUnder(e.files("LocalDS_0"), "[LocalDS_0] web-golden"); len(left) == 0 {
		t.Errorf("destroying one clone deleted the files the other chains to")
	}
	e.destroy(c2)
	if left := filesUnder(e.files("LocalDS_0"), "[LocalDS_0] web-golden"); len(left) != 0 {
		t.Errorf("after the last clone was destroyed the source's directory still holds %v", left)
	}
}

// Concurrent clones of one name into different folders each get a
// directory of their own (os.Mkdir decides, see makeVMDir).
func TestVMDirectoriesConcurrent(t *testing.T) {
	seed := testSeed()
	seed.Folders = append(seed.Folders, "/Lab/vm/a", "/Lab/vm/b", "/Lab/vm/c")
	e := start(t, Options{Seed: seed, Latency: 20 * time.Millisecond})
	src := e.vm("/Lab/vm/golden/web-golden")
	folders := []string{"/Lab/vm/lab/web", "/Lab/vm/a", "/Lab/vm/b", "/Lab/vm/c"}
	tasks := make([]*object.Task, len(folders))
	for i, f := range folders {
		tk, err := src.InstantClone(e.ctx, types.VirtualMachineInstantCloneSpec{Name: "same", Location: types.VirtualMachineRelocateSpec{Folder: ref(e.folder(f))}})
		if err != nil {
			t.Fatal(err)
		}
		tasks[i] = tk
	}
	dirs := map[string]bool{}
	for i, tk := range tasks {
		info := e.wait(tk)
		if info.Error != nil {
			t.Fatalf("clone into %s: %s", folders[i], info.Error.LocalizedMessage)
		}
		vmx := e.props(info.Result.(types.ManagedObjectReference)).Config.Files.VmPathName
		dir := path.Dir(vmx)
		if dirs[dir] {
			t.Errorf("two clones share the directory %s", dir)
		}
		dirs[dir] = true
	}
}
