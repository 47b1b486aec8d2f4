package sim

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmware/govmomi/event"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

var generatedMAC = regexp.MustCompile(`^00:50:56:[89ab][0-9a-f]:[0-9a-f]{2}:[0-9a-f]{2}$`)

// TestInstantClone covers the semantics of a successful instant clone with
// every allowed edit: placement, powered on, devices copied, NIC and serial
// edits, regenerated MACs, extraConfig merge, UUIDs, delta disks, event,
// result.
func TestInstantClone(t *testing.T) {
	e := start(t, Options{Seed: testSeed(), Hosts: 2})
	src := e.vm("/Lab/vm/golden/web-golden")
	lab := e.folder("/Lab/vm/lab/web")
	before := e.props(src.Reference())
	srcNICs := nics(before)
	if len(srcNICs) != 2 {
		t.Fatalf("seeded source has %d NICs, want 2", len(srcNICs))
	}
	for _, n := range srcNICs {
		if !generatedMAC.MatchString(n.MacAddress) || n.AddressType != "generated" {
			t.Errorf("seeded NIC %d: MAC %s (%s), want a generated 00:50:56:8x-bx MAC", n.Key, n.MacAddress, n.AddressType)
		}
	}
	srcTop := chain(disks(before)[0])
	if len(srcTop) != 1 {
		t.Fatalf("seeded source disk chain %v, want one base disk", srcTop)
	}
	serial := object.VirtualDeviceList(before.Config.Hardware.Device).SelectByType((*types.VirtualSerialPort)(nil))
	if len(serial) != 1 {
		t.Fatalf("seeded source has %d serial ports, want 1", len(serial))
	}

	// Edit NIC 1 (manual MAC, new network, disconnected) and serial port 1.
	nic1 := *srcNICs[0]
	nic1.AddressType = "manual"
	nic1.MacAddress = "00:50:56:10:01:01"
	nic1.Backing = &types.VirtualEthernetCardNetworkBackingInfo{VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{DeviceName: "Lab-Net"}}
	nic1.Connectable = &types.VirtualDeviceConnectInfo{Connected: false, StartConnected: true}
	port := *serial[0].(*types.VirtualSerialPort)
	port.Backing = &types.VirtualSerialPortFileBackingInfo{VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: "[datastore1] serial/lab-web-01.log"}}
	folderRef := lab.Reference()
	const bios = "12345678-abcd-1234-cdef-123456789abc"
	spec := types.VirtualMachineInstantCloneSpec{
		Name: "lab-web-01",
		Location: types.VirtualMachineRelocateSpec{
			Folder: &folderRef,
			DeviceChange: []types.BaseVirtualDeviceConfigSpec{
				&types.VirtualDeviceConfigSpec{Operation: "edit", Device: &types.VirtualVmxnet3{VirtualVmxnet: types.VirtualVmxnet{VirtualEthernetCard: nic1}}},
				&types.VirtualDeviceConfigSpec{Operation: "edit", Device: &port},
			},
		},
		Config: []types.BaseOptionValue{
			&types.OptionValue{Key: "guestinfo.hostname", Value: "lab-web-01"},
			&types.OptionValue{Key: "iclone.plan", Value: "lab"},
		},
		BiosUuid: bios,
	}
	tk, err := src.InstantClone(e.ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	info := e.wait(tk)
	if info.Error != nil {
		t.Fatalf("task error: %s", info.Error.LocalizedMessage)
	}
	// The task: vCenter's name and description id, the source as entity,
	// the clone as result, queue/start/complete times in order.
	if info.DescriptionId != "VirtualMachine.instantClone" || info.Name != "InstantClone_Task" || *info.Entity != src.Reference() || info.EntityName != "web-golden" {
		t.Errorf("task info: name %q, descriptionId %q, entity %v %q", info.Name, info.DescriptionId, info.Entity, info.EntityName)
	}
	if info.Task != tk.Reference() || info.Key != tk.Reference().Value {
		t.Errorf("task info: task %v key %q, want %v", info.Task, info.Key, tk.Reference())
	}
	if info.StartTime == nil || info.CompleteTime == nil || info.StartTime.Before(info.QueueTime) || info.CompleteTime.Before(*info.StartTime) {
		t.Errorf("task times: queued %v, started %v, completed %v", info.QueueTime, info.StartTime, info.CompleteTime)
	}
	ref, ok := info.Result.(types.ManagedObjectReference)
	if !ok || ref.Type != "VirtualMachine" {
		t.Fatalf("task result %#v, want a VirtualMachine reference", info.Result)
	}

	clone := e.props(ref)
	after := e.props(src.Reference())
	if clone.Name != "lab-web-01" || clone.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
		t.Errorf("clone %q is %s, want lab-web-01 poweredOn", clone.Name, clone.Runtime.PowerState)
	}
	if *clone.Runtime.Host != *before.Runtime.Host {
		t.Errorf("clone on host %v, want the source's %v", clone.Runtime.Host, before.Runtime.Host)
	}
	if *clone.Parent != folderRef {
		t.Errorf("clone in folder %v, want %v", clone.Parent, folderRef)
	}
	if *clone.ResourcePool != *before.ResourcePool {
		t.Errorf("clone in pool %v, want the source's %v", clone.ResourcePool, before.ResourcePool)
	}
	if clone.Config.Uuid != bios {
		t.Errorf("clone BIOS UUID %s, want %s", clone.Config.Uuid, bios)
	}
	if clone.Config.InstanceUuid == "" || clone.Config.InstanceUuid == before.Config.InstanceUuid {
		t.Errorf("clone instance UUID %q, want a new one (source %q)", clone.Config.InstanceUuid, before.Config.InstanceUuid)
	}
	if clone.Config.Hardware.NumCPU != before.Config.Hardware.NumCPU || clone.Config.Hardware.MemoryMB != before.Config.Hardware.MemoryMB {
		t.Errorf("clone hardware %d CPU %d MB, want the source's", clone.Config.Hardware.NumCPU, clone.Config.Hardware.MemoryMB)
	}

	// extraConfig: the source's, plus spec.config.
	ec := extraConfig(clone)
	if ec["guestinfo.hostname"] != "lab-web-01" || ec["iclone.plan"] != "lab" || ec["govcsim"] != "TRUE" {
		t.Errorf("clone extraConfig %v: want spec.config merged into the source's", ec)
	}

	// NICs: same keys; NIC 1 as edited; NIC 2 with a new generated MAC.
	cn := nics(clone)
	if len(cn) != 2 || cn[0].Key != srcNICs[0].Key || cn[1].Key != srcNICs[1].Key {
		t.Fatalf("clone NICs %v, want the source's two", cn)
	}
	if cn[0].MacAddress != "00:50:56:10:01:01" || cn[0].AddressType != "manual" {
		t.Errorf("edited NIC: %s (%s), want manual 00:50:56:10:01:01", cn[0].MacAddress, cn[0].AddressType)
	}
	if b := cn[0].Backing.(*types.VirtualEthernetCardNetworkBackingInfo); b.DeviceName != "Lab-Net" {
		t.Errorf("edited NIC on %q, want Lab-Net", b.DeviceName)
	}
	if cn[0].Connectable.Connected || !cn[0].Connectable.StartConnected {
		t.Errorf("edited NIC connectable %+v, want disconnected, start connected", *cn[0].Connectable)
	}
	if cn[1].MacAddress == srcNICs[1].MacAddress || !generatedMAC.MatchString(cn[1].MacAddress) || cn[1].AddressType != "generated" {
		t.Errorf("unedited generated NIC: %s (%s), want a new generated MAC (source %s)", cn[1].MacAddress, cn[1].AddressType, srcNICs[1].MacAddress)
	}
	if !cn[1].Connectable.Connected {
		t.Errorf("unedited NIC disconnected, want connected like the source's")
	}
	cs := object.VirtualDeviceList(clone.Config.Hardware.Device).SelectByType((*types.VirtualSerialPort)(nil))
	if len(cs) != 1 || cs[0].GetVirtualDevice().Backing.(*types.VirtualSerialPortFileBackingInfo).FileName != "[datastore1] serial/lab-web-01.log" {
		t.Errorf("clone serial ports %v, want the edited file", cs)
	}

	// Disks: the source has a new delta on top of its old top; the clone's
	// disk is a delta whose parent is the source's old top.
	sc, cc := chain(disks(after)[0]), chain(disks(clone)[0])
	want := "[LocalDS_0] web-golden/web-golden-000001.vmdk"
	if len(sc) != 2 || sc[0] != want || sc[1] != srcTop[0] {
		t.Errorf("source chain %v, want [%s %s]", sc, want, srcTop[0])
	}
	if len(cc) != 2 || cc[1] != srcTop[0] || !strings.Contains(cc[0], "lab-web-01") {
		t.Errorf("clone chain %v, want a delta in lab-web-01's directory over %s", cc, srcTop[0])
	}
	if disks(clone)[0].CapacityInKB != disks(before)[0].CapacityInKB {
		t.Errorf("clone disk %d KB, want the source's %d KB", disks(clone)[0].CapacityInKB, disks(before)[0].CapacityInKB)
	}
	// A second clone stacks another delta on the source.
	ref2 := e.mustClone(src, types.VirtualMachineInstantCloneSpec{Name: "lab-web-02"})
	sc2, cc2 := chain(disks(e.props(src.Reference()))[0]), chain(disks(e.props(ref2))[0])
	if len(sc2) != 3 || !strings.HasSuffix(sc2[0], "-000002.vmdk") || len(cc2) != 3 || cc2[1] != want {
		t.Errorf("after a second clone: source chain %v, clone chain %v", sc2, cc2)
	}

	// The event log tells of the clone.
	events, err := event.NewManager(e.c).QueryEvents(e.ctx, types.EventFilterSpec{
		Entity:      &types.EventFilterSpecByEntity{Entity: ref, Recursion: types.EventFilterSpecRecursionOptionSelf},
		EventTypeId: []string{"VmClonedEvent"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].(*types.VmClonedEvent).SourceVm.Vm != src.Reference() {
		t.Errorf("events of the clone: %v, want one VmClonedEvent from the source", events)
	}
}

// TestInstantCloneDefaults: without a folder or pool in the spec the clone
// goes to the datacenter's VM folder and the source's pool; a manual MAC the
// source has is kept when not edited, generated ones are regenerated; a new
// BIOS UUID is generated.
func TestInstantCloneDefaults(t *testing.T) {
	e := start(t, Options{Seed: testSeed()})
	src := e.vm("/Lab/vm/golden/db-golden")
	nic := *nics(e.props(src.Reference()))[0]
	nic.AddressType = "manual"
	nic.MacAddress = "00:50:56:3f:00:01"
	first := e.mustClone(src, types.VirtualMachineInstantCloneSpec{
		Name: "db-1",
		Location: types.VirtualMachineRelocateSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{
			&types.VirtualDeviceConfigSpec{Operation: "edit", Device: &types.VirtualVmxnet3{VirtualVmxnet: types.VirtualVmxnet{VirtualEthernetCard: nic}}},
		}},
	})
	vmFolder := e.folder("/Lab/vm")
	c1 := e.props(first)
	if *c1.Parent != vmFolder.Reference() {
		t.Errorf("clone in %v, want the datacenter's VM folder %v", c1.Parent, vmFolder.Reference())
	}
	srcProps := e.props(src.Reference())
	if *c1.ResourcePool != *srcProps.ResourcePool {
		t.Errorf("clone pool %v, want the source's %v", c1.ResourcePool, srcProps.ResourcePool)
	}
	if c1.Config.Uuid == "" || c1.Config.Uuid == srcProps.Config.Uuid {
		t.Errorf("clone BIOS UUID %q, want a new one", c1.Config.Uuid)
	}
	// A pool from the spec: a child pool of the source's cluster.
	root, err := e.find().ResourcePool(e.ctx, "/Lab/host/cluster1/Resources")
	if err != nil {
		t.Fatal(err)
	}
	child, err := root.Create(e.ctx, "clones", types.DefaultResourceConfigSpec())
	if err != nil {
		t.Fatal(err)
	}
	inPool := e.mustClone(src, types.VirtualMachineInstantCloneSpec{Name: "db-pool", Location: types.VirtualMachineRelocateSpec{Pool: ref(child)}})
	if p := e.props(inPool, "resourcePool"); *p.ResourcePool != child.Reference() {
		t.Errorf("clone in pool %v, want the spec's %v", p.ResourcePool, child.Reference())
	}

	// Clone the clone: its manual MAC, not edited, is kept.
	second := e.mustClone(object.NewVirtualMachine(e.c, first), types.VirtualMachineInstantCloneSpec{Name: "db-2"})
	if got := nics(e.props(second))[0]; got.MacAddress != "00:50:56:3f:00:01" || got.AddressType != "manual" {
		t.Errorf("unedited manual MAC became %s (%s), want kept", got.MacAddress, got.AddressType)
	}
}

// TestInstantCloneFaults: each invalid request fails the task with the
// fault vSphere gives, and changes nothing.
func TestInstantCloneFaults(t *testing.T) {
	e := start(t, Options{Seed: testSeed(), Hosts: 2})
	src := e.vm("/Lab/vm/golden/web-golden")
	props := e.props(src.Reference())
	devices := object.VirtualDeviceList(props.Config.Hardware.Device)
	nic := devices.SelectByType((*types.VirtualEthernetCard)(nil))[0]
	disk := devices.SelectByType((*types.VirtualDisk)(nil))[0]
	port := *devices.SelectByType((*types.VirtualSerialPort)(nil))[0].(*types.VirtualSerialPort)
	uriPort := port
	uriPort.Backing = &types.VirtualSerialPortURIBackingInfo{VirtualDeviceURIBackingInfo: types.VirtualDeviceURIBackingInfo{ServiceURI: "tcp://:9000", Direction: "server"}}
	badNet := *nic.(*types.VirtualVmxnet3)
	badNet.Backing = &types.VirtualEthernetCardNetworkBackingInfo{VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{DeviceName: "No-Such-Net"}}
	badMAC := *nic.(*types.VirtualVmxnet3)
	badMAC.AddressType, badMAC.MacAddress = "manual", "01:50:56:00:00:01"
	unknown := *nic.(*types.VirtualVmxnet3)
	unknown.Key = 4999
	newNIC := *nic.(*types.VirtualVmxnet3)
	newNIC.Key = -1
	otherHost := func() *types.ManagedObjectReference {
		hosts, err := e.find().HostSystemList(e.ctx, "/Lab/host/cluster1/*")
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hosts {
			if h.Reference() != *props.Runtime.Host {
				r := h.Reference()
				return &r
			}
		}
		t.Fatal("no second host")
		return nil
	}()
	edit := func(d types.BaseVirtualDevice) []types.BaseVirtualDeviceConfigSpec {
		return []types.BaseVirtualDeviceConfigSpec{&types.VirtualDeviceConfigSpec{Operation: "edit", Device: d}}
	}

	// Each fault carries vCenter's own message: the texts as vCenter's
	// clients print them (InvalidPowerState: vmware/vic#1049,
	// fog/fog-vsphere#287; DuplicateName: ansible/ansible#69185;
	// InvalidArgument: vmware/pyvmomi-community-samples#698).
	const param = "A specified parameter was not correct: "
	tests := []struct {
		name string
		src  string
		spec types.VirtualMachineInstantCloneSpec
		want types.BaseMethodFault
		msg  string
	}{
		{"powered-off source", "/Lab/vm/golden/off-golden", types.VirtualMachineInstantCloneSpec{Name: "x1"}, &types.InvalidPowerState{},
			"The attempted operation cannot be performed in the current state (Powered off)."},
		{"name taken in folder", "", types.VirtualMachineInstantCloneSpec{Name: "db-golden", Location: types.VirtualMachineRelocateSpec{Folder: ref(e.folder("/Lab/vm/golden"))}}, &types.DuplicateName{},
			"The name 'db-golden' already exists."},
		{"empty name", "", types.VirtualMachineInstantCloneSpec{}, &types.InvalidArgument{}, param + "spec.name"},
		{"add a NIC", "", types.VirtualMachineInstantCloneSpec{Name: "x2", Location: types.VirtualMachineRelocateSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{&types.VirtualDeviceConfigSpec{Operation: "add", Device: &newNIC}}}}, &types.InvalidArgument{},
			param + "spec.location.deviceChange[0].operation"},
		{"remove a NIC", "", types.VirtualMachineInstantCloneSpec{Name: "x3", Location: types.VirtualMachineRelocateSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{&types.VirtualDeviceConfigSpec{Operation: "remove", Device: nic}}}}, &types.InvalidArgument{},
			param + "spec.location.deviceChange[0].operation"},
		{"edit a disk", "", types.VirtualMachineInstantCloneSpec{Name: "x4", Location: types.VirtualMachineRelocateSpec{DeviceChange: edit(disk)}}, &types.InvalidArgument{},
			param + "spec.location.deviceChange[0].device"},
		{"edit an unknown device", "", types.VirtualMachineInstantCloneSpec{Name: "x5", Location: types.VirtualMachineRelocateSpec{DeviceChange: edit(&unknown)}}, &types.InvalidArgument{},
			param + "spec.location.deviceChange[0].device.key"},
		{"serial port to a URI", "", types.VirtualMachineInstantCloneSpec{Name: "x6", Location: types.VirtualMachineRelocateSpec{DeviceChange: edit(&uriPort)}}, &types.InvalidArgument{},
			param + "spec.location.deviceChange[0].device.backing"},
		{"missing network", "", types.VirtualMachineInstantCloneSpec{Name: "x7", Location: types.VirtualMachineRelocateSpec{DeviceChange: edit(&badNet)}}, &types.InvalidArgument{},
			param + "spec.location.deviceChange[0].device.backing"},
		{"multicast MAC", "", types.VirtualMachineInstantCloneSpec{Name: "x8", Location: types.VirtualMachineRelocateSpec{DeviceChange: edit(&badMAC)}}, &types.InvalidArgument{},
			param + "spec.location.deviceChange[0].device.macAddress"},
		{"another host", "", types.VirtualMachineInstantCloneSpec{Name: "x9", Location: types.VirtualMachineRelocateSpec{Host: otherHost}}, &types.InvalidArgument{},
			param + "spec.location.host"},
		{"bad BIOS UUID", "", types.VirtualMachineInstantCloneSpec{Name: "x10", BiosUuid: "not-a-uuid"}, &types.InvalidArgument{},
			param + "spec.biosUuid"},
	}
	vmsBefore := countVMs(t, e)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.src
			if p == "" {
				p = "/Lab/vm/golden/web-golden"
			}
			info := e.clone(e.vm(p), tt.spec)
			if info.State != types.TaskInfoStateError || info.Error == nil {
				t.Fatalf("task %s, want error %T", info.State, tt.want)
			}
			if fmt.Sprintf("%T", info.Error.Fault) != fmt.Sprintf("%T", tt.want) {
				t.Errorf("fault %T (%s), want %T", info.Error.Fault, info.Error.LocalizedMessage, tt.want)
			}
			if info.Error.LocalizedMessage != tt.msg {
				t.Errorf("message %q, want vCenter's %q", info.Error.LocalizedMessage, tt.msg)
			}
			// CheckInstantClone_Task never passes what the clone refuses:
			// it reports the same fault.
			r := e.checkSpec(e.vm(p).Reference(), tt.spec)
			found := false
			for _, f := range r.Error {
				found = found || (fmt.Sprintf("%T", f.Fault) == fmt.Sprintf("%T", tt.want) && f.LocalizedMessage == tt.msg)
			}
			if !found {
				t.Errorf("CheckInstantClone_Task errors %q, want %q among them", messages(r.Error), tt.msg)
			}
		})
	}
	if got := countVMs(t, e); got != vmsBefore {
		t.Errorf("%d VMs after failed clones, want %d", got, vmsBefore)
	}
	if c := chain(disks(e.props(src.Reference()))[0]); len(c) != 1 {
		t.Errorf("source chain %v after failed clones, want unchanged", c)
	}

	// A reference to a missing object fails the call itself, as vCenter does.
	missing := types.ManagedObjectReference{Type: "Folder", Value: "group-v999999"}
	if _, err := src.InstantClone(e.ctx, types.VirtualMachineInstantCloneSpec{Name: "x", Location: types.VirtualMachineRelocateSpec{Folder: &missing}}); err == nil {
		t.Error("InstantClone_Task with a missing folder succeeded, want a ManagedObjectNotFound SOAP fault")
	}
}

func ref(o interface {
	Reference() types.ManagedObjectReference
}) *types.ManagedObjectReference {
	r := o.Reference()
	return &r
}

func countVMs(t *testing.T, e *env) int {
	t.Helper()
	vms, err := e.find().VirtualMachineList(e.ctx, "/Lab/vm/...")
	if err != nil {
		t.Fatal(err)
	}
	return len(vms)
}

// TestInstantCloneDuplicateInFlight: two concurrent clones to one name:
// exactly one wins, the other fails with DuplicateName.
func TestInstantCloneDuplicateInFlight(t *testing.T) {
	e := start(t, Options{Seed: testSeed(), Latency: 50e6})
	srcs := []*object.VirtualMachine{e.vm("/Lab/vm/golden/web-golden"), e.vm("/Lab/vm/golden/db-golden")}
	infos := make([]*types.TaskInfo, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() { infos[i] = e.clone(srcs[i], types.VirtualMachineInstantCloneSpec{Name: "twin"}) })
	}
	wg.Wait()
	ok, dup := 0, 0
	for _, info := range infos {
		switch faultOf(info).(type) {
		case nil:
			ok++
		case *types.DuplicateName:
			dup++
		default:
			t.Errorf("unexpected fault %s", info.Error.LocalizedMessage)
		}
	}
	if ok != 1 || dup != 1 {
		t.Errorf("%d succeeded, %d DuplicateName; want 1 and 1", ok, dup)
	}
}

// TestDeltaChainLimit: a source whose disk chain holds MaxDeltaLevels-1
// deltas can be cloned once more (the clone's chain is visible, 255 deltas
// deep); then the chain is full and instant clone fails as in KB 67186.
func TestDeltaChainLimit(t *testing.T) {
	e := start(t, Options{Seed: testSeed()})
	src := e.vm("/Lab/vm/golden/db-golden")
	fillChain(t, e.sim, src.Reference(), MaxDeltaLevels-1)
	if n := len(chain(disks(e.props(src.Reference()))[0])); n != MaxDeltaLevels {
		t.Fatalf("prepared chain has %d files, want %d", n, MaxDeltaLevels)
	}
	last := e.mustClone(src, types.VirtualMachineInstantCloneSpec{Name: "last"})
	if n := len(chain(disks(e.props(last))[0])) - 1; n != MaxDeltaLevels {
		t.Errorf("clone's chain has %d deltas, want %d", n, MaxDeltaLevels)
	}
	info := e.clone(src, types.VirtualMachineInstantCloneSpec{Name: "one-too-many"})
	// KB 67186: SystemError "Launch failure", caused by a
	// GenericVmConfigFault "Unable to prepare migration.".
	f, ok := faultOf(info).(*types.SystemError)
	if !ok || f.Reason != "Launch failure" || info.Error.LocalizedMessage != "A general system error occurred: Launch failure" {
		t.Fatalf("fault %T %v, want SystemError (Launch failure)", faultOf(info), info.Error)
	}
	if c := f.FaultCause; c == nil || c.LocalizedMessage != "Unable to prepare migration." {
		t.Errorf("fault cause %+v, want GenericVmConfigFault \"Unable to prepare migration.\"", c)
	} else if g, ok := c.Fault.(*types.GenericVmConfigFault); !ok || len(g.FaultMessage) != 1 || g.FaultMessage[0].Key != "msg.migrate.prepare.failed" {
		t.Errorf("fault cause %T %+v, want a GenericVmConfigFault with message msg.migrate.prepare.failed", c.Fault, c.Fault)
	}
	if n := len(chain(disks(e.props(src.Reference()))[0])) - 1; n != MaxDeltaLevels {
		t.Errorf("source chain has %d deltas after the failure, want %d", n, MaxDeltaLevels)
	}
}

// fillChain gives the source's disks n delta disks, as n earlier instant
// clones would have (without making n VMs).
func fillChain(t *testing.T, s *Simulator, vmRef types.ManagedObjectReference, n int) {
	t.Helper()
	ctx := s.Model().Service.Context
	if err := s.growChain(ctx, ctx.Map.Get(vmRef).(*simulator.VirtualMachine), n); err != nil {
		t.Fatal(err)
	}
}

// The source's file layout (layoutEx) catches up with the deltas instant
// clones give it: refreshed in the background, coalesced, within about
// refreshDelay, as vCenter's lags and catches up.
func TestSourceLayoutCatchesUp(t *testing.T) {
	e := start(t, Options{Seed: testSeed()})
	src := e.vm("/Lab/vm/golden/db-golden")
	for i := range 3 {
		e.mustClone(src, types.VirtualMachineInstantCloneSpec{Name: fmt.Sprintf("c%d", i)})
	}
	top := chain(disks(e.props(src.Reference()))[0])[0]
	deadline := time.Now().Add(refreshDelay + 5*time.Second)
	for {
		var files []string
		for _, f := range e.props(src.Reference(), "layoutEx").LayoutEx.File {
			files = append(files, f.Name)
		}
		if slices.Contains(files, top) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the source's layoutEx still lacks its top delta %s after %s: %v", top, refreshDelay+5*time.Second, files)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// File-backed parallel ports are edited like serial ones: the
// VirtualMachineInstantCloneSpec reference (location) allows "edits of
// VirtualEthernetCard and filebacked Serial/Parallel ports".
func TestInstantCloneParallelPort(t *testing.T) {
	seed := testSeed()
	seed.Sources[0].ParallelPorts = 1
	e := start(t, Options{Seed: seed})
	src := e.vm("/Lab/vm/golden/web-golden")
	ports := object.VirtualDeviceList(e.props(src.Reference()).Config.Hardware.Device).SelectByType((*types.VirtualParallelPort)(nil))
	if len(ports) != 1 || ports[0].GetVirtualDevice().Key != 10000 {
		t.Fatalf("seeded source parallel ports %v, want one keyed 10000", ports)
	}
	file := func(name string) types.BaseVirtualDeviceBackingInfo {
		return &types.VirtualParallelPortFileBackingInfo{VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: name}}
	}
	for _, tt := range []struct {
		name    string
		backing types.BaseVirtualDeviceBackingInfo
		want    string // the clone's port file, or "" for InvalidArgument
	}{
		{"file", file("[datastore1] parallel/p1.log"), "[datastore1] parallel/p1.log"},
		{"device", &types.VirtualParallelPortDeviceBackingInfo{VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{DeviceName: "/dev/lp0"}}, ""},
		{"not-a-path", file("p1.log"), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			port := *ports[0].(*types.VirtualParallelPort)
			port.Backing = tt.backing
			port.Connectable = &types.VirtualDeviceConnectInfo{Connected: false, StartConnected: false}
			info := e.clone(src, types.VirtualMachineInstantCloneSpec{Name: "par-" + tt.name, Location: types.VirtualMachineRelocateSpec{
				DeviceChange: []types.BaseVirtualDeviceConfigSpec{&types.VirtualDeviceConfigSpec{Operation: "edit", Device: &port}},
			}})
			if tt.want == "" {
				if _, ok := faultOf(info).(*types.InvalidArgument); !ok {
					t.Fatalf("fault %T (%v), want InvalidArgument", faultOf(info), info.Error)
				}
				return
			}
			if info.Error != nil {
				t.Fatalf("clone: %s", info.Error.LocalizedMessage)
			}
			got := object.VirtualDeviceList(e.props(info.Result.(types.ManagedObjectReference)).Config.Hardware.Device).SelectByType((*types.VirtualParallelPort)(nil))
			if len(got) != 1 {
				t.Fatalf("clone parallel ports %v, want one", got)
			}
			b, ok := got[0].GetVirtualDevice().Backing.(*types.VirtualParallelPortFileBackingInfo)
			if !ok || b.FileName != tt.want {
				t.Errorf("clone parallel port backing %#v, want file %s", got[0].GetVirtualDevice().Backing, tt.want)
			}
			if c := got[0].GetVirtualDevice().Connectable; c == nil || c.Connected {
				t.Errorf("clone parallel port connection %+v, want disconnected as edited", c)
			}
		})
	}
}

// An instant clone logs the clone events (VmBeingClonedEvent on the
// source, VmClonedEvent on the clone, naming its source; the API
// reference's VmCloneEvent family), not the events of a power-on: the
// clone resumes its source's running state, it never boots.
func TestInstantCloneEvents(t *testing.T) {
	e := start(t, Options{Seed: testSeed()})
	src := e.vm("/Lab/vm/golden/web-golden")
	clone := e.mustClone(src, types.VirtualMachineInstantCloneSpec{Name: "evented"})
	kinds := func(ref types.ManagedObjectReference) []string {
		events, err := event.NewManager(e.c).QueryEvents(e.ctx, types.EventFilterSpec{
			Entity: &types.EventFilterSpecByEntity{Entity: ref, Recursion: types.EventFilterSpecRecursionOptionSelf},
		})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, ev := range events {
			switch ev := ev.(type) {
			case *types.VmBeingClonedEvent:
				if ev.DestName != "evented" {
					continue // a clone of another name
				}
			case *types.VmClonedEvent:
				if ev.SourceVm.Vm != src.Reference() {
					t.Errorf("VmClonedEvent names source %s, want %s", ev.SourceVm.Vm, src.Reference())
				}
			}
			out = append(out, fmt.Sprintf("%T", ev)[len("*types."):])
		}
		return out
	}
	if got := kinds(src.Reference()); !slices.Contains(got, "VmBeingClonedEvent") {
		t.Errorf("source events %v, want a VmBeingClonedEvent for the clone", got)
	}
	got := kinds(clone)
	if !slices.Contains(got, "VmClonedEvent") {
		t.Errorf("clone events %v, want VmClonedEvent", got)
	}
	for _, never := range []string{"VmStartingEvent", "VmPoweredOnEvent"} {
		if slices.Contains(got, never) {
			t.Errorf("clone events %v include %s, of a power-on that never happened", got, never)
		}
	}
	// The clone is powered on all the same, with a boot time.
	if vm := e.props(clone, "runtime"); vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn || vm.Runtime.BootTime == nil {
		t.Errorf("clone power state %s, boot time %v; want poweredOn with a boot time", vm.Runtime.PowerState, vm.Runtime.BootTime)
	}
}
