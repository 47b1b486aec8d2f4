package sim

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"runtime"
	"slices"
	"strings"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/units"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
	"golang.org/x/sync/errgroup"
)

// Seed is the inventory a plan needs: a datacenter with one cluster of
// Options.Hosts hosts, the folders, datastores and port groups the plan
// names, and running source VMs with the NICs and serial ports it edits.
type Seed struct {
	// Datacenter is the datacenter's name; "" means "DC0".
	Datacenter string
	// Folders are inventory paths of VM folders to create, with their
	// parents, e.g. "/Lab/vm/lab/web".
	Folders []string
	// Datastores are extra datastores to create. The datastore "LocalDS_0",
	// where source VMs live, always exists.
	Datastores []string
	// Networks are extra standard port groups to create. "VM Network", on
	// which source NICs are, always exists.
	Networks []string
	// Sources are the source VMs.
	Sources []SeedSource
	// ResourcePools are inventory paths of resource pools to create, with
	// their parents: /DATACENTER/host/CLUSTER/Resources/POOL[/POOL...]. The
	// seeded cluster takes the CLUSTER name of the first (default
	// "cluster1"); all must name the same cluster.
	ResourcePools []string
}

// SeedSource is a source VM to create.
type SeedSource struct {
	// Path is the VM's inventory path, /DATACENTER/vm/FOLDER.../NAME; its
	// folders are created.
	Path string
	// NICs name the network adapters the plan edits. The VM gets adapters
	// 1..N for the highest adapter named (at least one): odd ones vmxnet3,
	// even ones e1000, on "VM Network", connected, with generated MACs. A
	// NIC's Network is created as a port group.
	NICs []SeedNIC
	// SerialPorts is how many file-backed serial ports the VM has.
	SerialPorts int
	// ParallelPorts is how many file-backed parallel ports the VM has
	// (keyed 10000+ and labelled "Parallel port N", as vSphere does).
	ParallelPorts int
	// Datastores are datastores the plan's serial-port files name; they
	// are created.
	Datastores []string
	// PoweredOff leaves the VM powered off (for testing InvalidPowerState).
	PoweredOff bool
	// NoTools leaves VMware Tools out of the VM's guest: its clones have
	// no Tools either (and never report readiness). Other running sources
	// have Tools running, as a golden VM's guest does.
	NoTools bool
	// Frozen freezes the VM (runtime.instantCloneFrozen), as
	// vmware-rpctool "instantclone.freeze" in the guest would.
	Frozen bool
	// ChainDepth gives each of the VM's disks a chain of that many delta
	// disks, as if it had been instant-cloned that often while running.
	ChainDepth int
}

// SeedNIC is a network adapter of a source.
type SeedNIC struct {
	// Adapter is the adapter's number, 1-based ("Network adapter 1").
	Adapter int
	// Network is a port group to create, if not "".
	Network string
}

// DefaultDatastore is where seeded and extra VMs live.
const DefaultDatastore = "LocalDS_0"

// seedInv is the seeded datacenter.
type seedInv struct {
	dc      *object.Datacenter
	name    string
	folders *object.DatacenterFolders
	hosts   []*object.HostSystem
	pool    *object.ResourcePool
}

func (s *Simulator) seed(ctx context.Context, c *vim25.Client, seed *Seed) error {
	dcName := seed.Datacenter
	if dcName == "" {
		dcName = "DC0"
	}
	if strings.ContainsAny(dcName, "/") {
		return fmt.Errorf("sim: seed: datacenter name %q contains '/'", dcName)
	}
	hosts := s.opts.Hosts
	if hosts == 0 {
		hosts = 1
	}
	root := object.NewRootFolder(c)
	dc, err := root.CreateDatacenter(ctx, dcName)
	if err != nil {
		return fmt.Errorf("sim: seed: create datacenter %q: %w", dcName, err)
	}
	folders, err := dc.Folders(ctx)
	if err != nil {
		return err
	}
	clusterName := "cluster1"
	type poolPath struct{ cluster, path string }
	var pools []poolPath
	for _, p := range seed.ResourcePools {
		rest, ok := strings.CutPrefix(p, "/"+dcName+"/host/")
		cl, sub, ok2 := strings.Cut(rest, "/Resources")
		if !ok || !ok2 || cl == "" || strings.Contains(cl, "/") {
			return fmt.Errorf("sim: seed: resource pool %q is not /%s/host/CLUSTER/Resources/...", p, dcName)
		}
		pools = append(pools, poolPath{cl, strings.Trim(sub, "/")})
	}
	if len(pools) > 0 {
		clusterName = pools[0].cluster
	}
	cluster, err := folders.HostFolder.CreateCluster(ctx, clusterName, types.ClusterConfigSpecEx{})
	if err != nil {
		return fmt.Errorf("sim: seed: create cluster: %w", err)
	}
	inv := &seedInv{dc: dc, name: dcName, folders: folders}
	for i := range hosts {
		task, err := cluster.AddHost(ctx, types.HostConnectSpec{HostName: fmt.Sprintf("esxi-%02d", i+1)}, true, nil, nil)
		if err != nil {
			return err
		}
		info, err := s.waitClientTask(task)
		if err != nil {
			return fmt.Errorf("sim: seed: add host: %w", err)
		}
		inv.hosts = append(inv.hosts, object.NewHostSystem(c, info.Result.(types.ManagedObjectReference)))
	}
	if inv.pool, err = cluster.ResourcePool(ctx); err != nil {
		return err
	}
	created := map[string]*object.ResourcePool{"": inv.pool}
	for i, pp := range pools {
		if pp.cluster != clusterName {
			return fmt.Errorf("sim: seed: resource pool %q is in cluster %q; the seed has one cluster, %q", seed.ResourcePools[i], pp.cluster, clusterName)
		}
		parts := strings.Split(pp.path, "/")
		for j := range parts {
			key := strings.Join(parts[:j+1], "/")
			if parts[j] == "" || created[key] != nil {
				continue
			}
			rp, err := created[strings.Join(parts[:j], "/")].Create(ctx, parts[j], types.DefaultResourceConfigSpec())
			if err != nil {
				return fmt.Errorf("sim: seed: create resource pool %q: %w", seed.ResourcePools[i], err)
			}
			created[key] = rp
		}
	}

	datastores := []string{DefaultDatastore}
	networks := slices.Clone(seed.Networks)
	for _, src := range seed.Sources {
		datastores = append(datastores, src.Datastores...)
		for _, n := range src.NICs {
			if n.Network != "" {
				networks = append(networks, n.Network)
			}
		}
	}
	datastores = append(datastores, seed.Datastores...)
	for _, name := range uniq(datastores) {
		if err := s.createDatastore(ctx, inv.hosts, name); err != nil {
			return err
		}
	}
	for _, name := range uniq(networks) {
		if name == "VM Network" {
			continue
		}
		if err := createPortGroup(ctx, inv.hosts[0], name); err != nil {
			return err
		}
	}

	finder := find.NewFinder(c, false)
	finder.SetDatacenter(dc)
	for _, p := range seed.Folders {
		if _, err := s.mkdirAll(ctx, finder, inv, p); err != nil {
			return err
		}
	}
	for i, src := range seed.Sources {
		if err := s.createSource(ctx, c, finder, inv, inv.hosts[i%len(inv.hosts)], src); err != nil {
			return err
		}
	}
	return nil
}

func uniq(names []string) []string {
	var out []string
	for _, n := range names {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// createDatastore creates a local datastore, backed by a directory of the
// model, mounted on every host.
func (s *Simulator) createDatastore(ctx context.Context, hosts []*object.HostSystem, name string) error {
	if strings.ContainsAny(name, "/[]") {
		return fmt.Errorf("sim: seed: datastore name %q contains '/', '[' or ']'", name)
	}
	if s.dsRoot == "" {
		// vcsim keeps a directory and a few files per VM on the datastore;
		// on tmpfs they cost nothing, on a disk about 0.5 ms each.
		root, err := makeDatastoreRoot("/dev/shm")
		if err != nil {
			if root, err = makeDatastoreRoot(os.TempDir()); err != nil {
				return fmt.Errorf("sim: seed: datastore %q: %w", name, err)
			}
		}
		s.dsRoot = root
	}
	dir, err := os.MkdirTemp(s.dsRoot, "ds-")
	if err != nil {
		return fmt.Errorf("sim: seed: datastore %q: %w", name, err)
	}
	for _, h := range hosts {
		dss, err := h.ConfigManager().DatastoreSystem(ctx)
		if err != nil {
			return err
		}
		if _, err := dss.CreateLocalDatastore(ctx, name, dir); err != nil {
			return fmt.Errorf("sim: seed: datastore %q: %w", name, err)
		}
	}
	return nil
}

func createPortGroup(ctx context.Context, host *object.HostSystem, name string) error {
	ns, err := host.ConfigManager().NetworkSystem(ctx)
	if err != nil {
		return err
	}
	if err := ns.AddPortGroup(ctx, types.HostPortGroupSpec{Name: name, VswitchName: "vSwitch0"}); err != nil {
		return fmt.Errorf("sim: seed: port group %q: %w", name, err)
	}
	return nil
}

// mkdirAll creates the VM folder p (/DC/vm/a/b) and its parents.
func (s *Simulator) mkdirAll(ctx context.Context, finder *find.Finder, inv *seedInv, p string) (*object.Folder, error) {
	prefix := "/" + inv.name + "/vm"
	p = path.Clean("/" + strings.Trim(p, "/"))
	if p != prefix && !strings.HasPrefix(p, prefix+"/") {
		return nil, fmt.Errorf("sim: seed: folder %q is not under the datacenter's VM folder %s", p, prefix)
	}
	folder := inv.folders.VmFolder
	cur := prefix
	for _, elem := range strings.Split(strings.TrimPrefix(p, prefix), "/") {
		if elem == "" {
			continue
		}
		cur += "/" + elem
		f, err := finder.Folder(ctx, cur)
		if err == nil {
			folder = f
			continue
		}
		var nf *find.NotFoundError
		if !errors.As(err, &nf) {
			return nil, err
		}
		if folder, err = folder.CreateFolder(ctx, elem); err != nil {
			return nil, fmt.Errorf("sim: seed: create folder %s: %w", cur, err)
		}
	}
	return folder, nil
}

func (s *Simulator) createSource(ctx context.Context, c *vim25.Client, finder *find.Finder, inv *seedInv, host *object.HostSystem, src SeedSource) error {
	dir, name := path.Split(path.Clean("/" + strings.Trim(src.Path, "/")))
	if name == "" {
		return fmt.Errorf("sim: seed: source path %q names no VM", src.Path)
	}
	folder, err := s.mkdirAll(ctx, finder, inv, dir)
	if err != nil {
		return fmt.Errorf("sim: seed: source %s: %w", src.Path, err)
	}
	nics := 1
	for _, n := range src.NICs {
		if n.Adapter < 1 {
			return fmt.Errorf("sim: seed: source %s: adapter %d: adapters are numbered from 1", src.Path, n.Adapter)
		}
		nics = max(nics, n.Adapter)
	}
	serialDS := DefaultDatastore
	if len(src.Datastores) > 0 {
		serialDS = src.Datastores[0]
	}
	devices := s.sourceDevices(name, nics, src.SerialPorts, serialDS)
	for i := 1; i <= src.ParallelPorts; i++ {
		port := &types.VirtualParallelPort{}
		port.Key = int32(10000 + i - 1)
		port.Backing = &types.VirtualParallelPortFileBackingInfo{VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{
			FileName: fmt.Sprintf("[%s] %s/parallel%d.log", serialDS, name, i),
		}}
		port.Connectable = &types.VirtualDeviceConnectInfo{StartConnected: true, Connected: true}
		port.DeviceInfo = &types.Description{Label: fmt.Sprintf("Parallel port %d", i)}
		devices = append(devices, port)
	}
	config := types.VirtualMachineConfigSpec{
		Name:     name,
		GuestId:  string(types.VirtualMachineGuestOsIdentifierOtherLinux64Guest),
		NumCPUs:  2,
		MemoryMB: 2048,
		Files:    &types.VirtualMachineFileInfo{VmPathName: "[" + DefaultDatastore + "]"},
	}
	config.DeviceChange, _ = devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)
	for _, d := range config.DeviceChange {
		if _, ok := d.GetVirtualDeviceConfigSpec().Device.(*types.VirtualDisk); ok {
			d.GetVirtualDeviceConfigSpec().FileOperation = types.VirtualDeviceConfigSpecFileOperationCreate
		}
	}
	if err := s.createVM(ctx, c, folder, inv.pool, host, config, !src.PoweredOff); err != nil {
		return err
	}
	if !src.PoweredOff && !src.NoTools {
		if err := s.startTools(ctx, finder, src.Path); err != nil {
			return err
		}
	}
	return s.shapeSource(ctx, finder, src)
}

// sourceDevices returns the devices of a source VM: a pvscsi controller and
// a 10 GB disk, nics network adapters and serial file-backed serial ports.
func (s *Simulator) sourceDevices(name string, nics, serial int, serialDS string) object.VirtualDeviceList {
	var devices object.VirtualDeviceList
	scsi, _ := devices.CreateSCSIController("pvscsi")
	devices = append(devices, scsi)
	disk := devices.CreateDisk(scsi.(types.BaseVirtualController), types.ManagedObjectReference{},
		"["+DefaultDatastore+"] "+path.Join(name, name+".vmdk"))
	disk.CapacityInKB = int64(10*units.GB) / units.KB
	disk.DeviceInfo = &types.Description{Label: "Hard disk 1"}
	devices = append(devices, disk)
	for i := 1; i <= nics; i++ {
		kind := "vmxnet3"
		if i%2 == 0 {
			kind = "e1000"
		}
		backing := &types.VirtualEthernetCardNetworkBackingInfo{
			VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{DeviceName: "VM Network"},
		}
		nic, _ := object.EthernetCardTypes().CreateEthernetCard(kind, backing)
		card := nic.(types.BaseVirtualEthernetCard).GetVirtualEthernetCard()
		card.AddressType = string(types.VirtualEthernetCardMacTypeGenerated)
		card.MacAddress = s.NewMAC()
		card.Key = int32(4000 + i - 1)
		card.Connectable = &types.VirtualDeviceConnectInfo{StartConnected: true, Connected: true, AllowGuestControl: true}
		card.DeviceInfo = &types.Description{Label: fmt.Sprintf("Network adapter %d", i)} // as the vSphere client numbers them
		devices = append(devices, nic)
	}
	for i := 1; i <= serial; i++ {
		port := &types.VirtualSerialPort{YieldOnPoll: true}
		port.Key = int32(9000 + i - 1)
		port.Backing = &types.VirtualSerialPortFileBackingInfo{VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{
			FileName: fmt.Sprintf("[%s] %s/serial%d.log", serialDS, name, i),
		}}
		port.Connectable = &types.VirtualDeviceConnectInfo{StartConnected: true, Connected: true}
		port.DeviceInfo = &types.Description{Label: fmt.Sprintf("Serial port %d", i)}
		devices = append(devices, port)
	}
	return devices
}

func (s *Simulator) createVM(ctx context.Context, c *vim25.Client, folder *object.Folder, pool *object.ResourcePool, host *object.HostSystem, config types.VirtualMachineConfigSpec, on bool) error {
	task, err := folder.CreateVM(ctx, config, pool, host)
	if err != nil {
		return fmt.Errorf("sim: create VM %q: %w", config.Name, err)
	}
	info, err := s.waitClientTask(task)
	if err != nil {
		return fmt.Errorf("sim: create VM %q: %w", config.Name, err)
	}
	if !on {
		return nil
	}
	vm := object.NewVirtualMachine(c, info.Result.(types.ManagedObjectReference))
	task, err = vm.PowerOn(ctx)
	if err == nil {
		_, err = s.waitClientTask(task)
	}
	if err != nil {
		return fmt.Errorf("sim: power on VM %q: %w", config.Name, err)
	}
	return nil
}

// createExtraVMs creates n plain powered-on VMs in the first datacenter's VM
// folder, spread over its hosts. It calls vcsim's methods directly, not
// through the in-process SOAP client: that client deep-copies every request
// and response through XML, and WaitForResult sets up a property filter per
// task, which together made 5,000 VMs take a minute.
func (s *Simulator) createExtraVMs(ctx context.Context, c *vim25.Client, n int) error {
	finder := find.NewFinder(c, false)
	dcs, err := finder.DatacenterList(ctx, "*")
	if err != nil || len(dcs) == 0 {
		return fmt.Errorf("sim: extra VMs: no datacenter: %v", err)
	}
	finder.SetDatacenter(dcs[0])
	folders, err := dcs[0].Folders(ctx)
	if err != nil {
		return err
	}
	hosts, err := finder.HostSystemList(ctx, "*")
	if err != nil {
		return fmt.Errorf("sim: extra VMs: %w", err)
	}
	pools := make([]types.ManagedObjectReference, len(hosts))
	for i, h := range hosts {
		p, err := h.ResourcePool(ctx)
		if err != nil {
			return err
		}
		pools[i] = p.Reference()
	}
	base := s.model.Service.Context
	folder := base.Map.Get(folders.VmFolder.Reference()).(*simulator.Folder)

	// Workers as many as cores; the first error stops handing out names.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(2, runtime.GOMAXPROCS(0)))
	for i := range n {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			return s.createExtraVM(base, folder, hosts[i%len(hosts)].Reference(), pools[i%len(hosts)], fmt.Sprintf("extra-%05d", i+1))
		})
	}
	return g.Wait()
}

func (s *Simulator) createExtraVM(base *simulator.Context, folder *simulator.Folder, host, pool types.ManagedObjectReference, name string) error {
	var devices object.VirtualDeviceList
	scsi, _ := devices.CreateSCSIController("pvscsi")
	devices = append(devices, scsi)
	backing := &types.VirtualEthernetCardNetworkBackingInfo{
		VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{DeviceName: "VM Network"},
	}
	nic, _ := object.EthernetCardTypes().CreateEthernetCard("vmxnet3", backing)
	card := nic.(types.BaseVirtualEthernetCard).GetVirtualEthernetCard()
	card.AddressType = string(types.VirtualEthernetCardMacTypeGenerated)
	card.MacAddress = s.NewMAC()
	card.DeviceInfo = &types.Description{Label: "Network adapter 1"}
	devices = append(devices, nic)
	config := types.VirtualMachineConfigSpec{
		Name:    name,
		GuestId: string(types.VirtualMachineGuestOsIdentifierOtherLinux64Guest),
		Files:   &types.VirtualMachineFileInfo{VmPathName: "[" + DefaultDatastore + "]"}, // vcsim's and the seed's
	}
	config.DeviceChange, _ = devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)

	ctx := *base // a locking identity of its own
	if raceBuild {
		// vcsim records a new task in its entity's recentTask without the
		// entity's lock: concurrent CreateVM_Task calls on one folder race
		// (see lockCreateVM).
		createVMMu.Lock()
	}
	body := folder.CreateVMTask(&ctx, &types.CreateVM_Task{This: folder.Self, Config: config, Pool: pool, Host: &host}).(*methods.CreateVM_TaskBody)
	if raceBuild {
		createVMMu.Unlock()
	}
	if body.Fault_ != nil {
		return fmt.Errorf("sim: create VM %q: %s", name, body.Fault_.String)
	}
	// The task runs with ctx's locking identity: wait with another, or the
	// task's lock would not keep the waiter out while the task updates it.
	wait := *base
	info, err := s.runTask(&wait, body.Res.Returnval)
	if err != nil {
		return fmt.Errorf("sim: create VM %q: %w", name, err)
	}
	vm := ctx.Map.Get(info.Result.(types.ManagedObjectReference)).(*simulator.VirtualMachine)
	on := *base
	pbody := vm.PowerOnVMTask(&on, &types.PowerOnVM_Task{This: vm.Self}).(*methods.PowerOnVM_TaskBody)
	if pbody.Fault_ != nil {
		return fmt.Errorf("sim: power on VM %q: %s", name, pbody.Fault_.String)
	}
	if _, err := s.runTask(&wait, pbody.Res.Returnval); err != nil {
		return fmt.Errorf("sim: power on VM %q: %w", name, err)
	}
	return nil
}

// waitClientTask waits for a task a client of the simulator started (the
// seed, through the in-process client; tests) and returns its info, or its
// fault. Not with govmomi's WaitForResult: its WaitForUpdatesEx reads the
// task's live info without the task's lock when the task's state changes
// (vcsim updates it field by field), a race with the task's next update
// that race builds report.
func (s *Simulator) waitClientTask(task *object.Task) (types.TaskInfo, error) {
	wait := *s.model.Service.Context
	return s.runTask(&wait, task.Reference())
}

// runTask waits for a vcsim task and returns its info, or its fault.
func (s *Simulator) runTask(ctx *simulator.Context, ref types.ManagedObjectReference) (types.TaskInfo, error) {
	t := ctx.Map.Get(ref).(*simulator.Task)
	s.waitTask(ctx, t)
	var info types.TaskInfo
	ctx.WithLock(t, func() { info = t.Info })
	if info.Error != nil {
		return info, errors.New(info.Error.LocalizedMessage)
	}
	return info, nil
}
