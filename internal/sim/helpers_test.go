package sim

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// testSeed is a small lab: two running sources on two hosts, one powered
// off, the networks and datastores a plan would edit to.
func testSeed() *Seed {
	return &Seed{
		Datacenter: "Lab",
		Folders:    []string{"/Lab/vm/lab/web"},
		Sources: []SeedSource{
			{Path: "/Lab/vm/golden/web-golden", NICs: []SeedNIC{{Adapter: 1, Network: "Lab-Net"}, {Adapter: 2}}, SerialPorts: 1, Datastores: []string{"datastore1"}},
			{Path: "/Lab/vm/golden/db-golden", NICs: []SeedNIC{{Adapter: 1}}},
			{Path: "/Lab/vm/golden/off-golden", PoweredOff: true},
		},
	}
}

// env is a started simulator and a client logged in over HTTPS, with TLS
// verified against the simulator's certificate.
type env struct {
	t      testing.TB
	ctx    context.Context
	sim    *Simulator
	c      *vim25.Client
	finder *find.Finder
}

func start(t testing.TB, opts Options) *env {
	t.Helper()
	ctx := context.Background()
	s, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(s.Close)
	return &env{t: t, ctx: ctx, sim: s, c: login(t, s, s.URL()), finder: nil}
}

func login(t testing.TB, s *Simulator, u *url.URL) *vim25.Client {
	t.Helper()
	ctx := context.Background()
	sc := soap.NewClient(u, false)
	ca, err := s.CertificateFile()
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.SetRootCAs(ca); err != nil {
		t.Fatal(err)
	}
	c, err := vim25.NewClient(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	if err := session.NewManager(c).Login(ctx, u.User); err != nil {
		t.Fatalf("login: %v", err)
	}
	t.Cleanup(func() {
		_ = session.NewManager(c).Logout(ctx)
		sc.CloseIdleConnections() // before the server closes under them
	})
	return c
}

func (e *env) find() *find.Finder {
	if e.finder == nil {
		e.finder = find.NewFinder(e.c, true)
	}
	return e.finder
}

func (e *env) vm(p string) *object.VirtualMachine {
	e.t.Helper()
	vm, err := e.find().VirtualMachine(e.ctx, p)
	if err != nil {
		e.t.Fatalf("find VM %s: %v", p, err)
	}
	return vm
}

func (e *env) folder(p string) *object.Folder {
	e.t.Helper()
	f, err := e.find().Folder(e.ctx, p)
	if err != nil {
		e.t.Fatalf("find folder %s: %v", p, err)
	}
	return f
}

// props retrieves a VM's properties (all, if none named).
func (e *env) props(ref types.ManagedObjectReference, names ...string) mo.VirtualMachine {
	e.t.Helper()
	var vm mo.VirtualMachine
	if err := property.DefaultCollector(e.c).RetrieveOne(e.ctx, ref, names, &vm); err != nil {
		e.t.Fatalf("retrieve %s: %v", ref, err)
	}
	return vm
}

// clone runs an instant clone to completion and returns the task's info
// (with Error set on a task fault).
func (e *env) clone(src *object.VirtualMachine, spec types.VirtualMachineInstantCloneSpec) *types.TaskInfo {
	e.t.Helper()
	t, err := src.InstantClone(e.ctx, spec)
	if err != nil {
		e.t.Fatalf("InstantClone_Task %s: %v", spec.Name, err)
	}
	return e.wait(t)
}

// wait waits for a task (ended in success or error) and returns its info.
// It waits as the seed does (waitClientTask), on the simulator's own
// task-update hook, reading the info under the task's lock.
func (e *env) wait(t *object.Task) *types.TaskInfo {
	e.t.Helper()
	done := make(chan types.TaskInfo, 1)
	go func() {
		info, _ := e.sim.waitClientTask(t) // info.Error is the task's fault
		done <- info
	}()
	select {
	case info := <-done:
		return &info
	case <-time.After(time.Minute):
		e.t.Fatalf("task %s still running after a minute", t.Reference())
		return nil
	}
}

// mustClone clones and fails the test on a task error.
func (e *env) mustClone(src *object.VirtualMachine, spec types.VirtualMachineInstantCloneSpec) types.ManagedObjectReference {
	e.t.Helper()
	info := e.clone(src, spec)
	if info.Error != nil {
		e.t.Fatalf("instant clone %s: %s", spec.Name, info.Error.LocalizedMessage)
	}
	return info.Result.(types.ManagedObjectReference)
}

// disks returns the VM's disks.
func disks(vm mo.VirtualMachine) []*types.VirtualDisk {
	var out []*types.VirtualDisk
	for _, d := range object.VirtualDeviceList(vm.Config.Hardware.Device).SelectByType((*types.VirtualDisk)(nil)) {
		out = append(out, d.(*types.VirtualDisk))
	}
	return out
}

// chain lists a disk's backing files, top first.
func chain(d *types.VirtualDisk) []string {
	var out []string
	for b := d.Backing.(*types.VirtualDiskFlatVer2BackingInfo); b != nil; b = b.Parent {
		out = append(out, b.FileName)
	}
	return out
}

func nics(vm mo.VirtualMachine) []*types.VirtualEthernetCard {
	var out []*types.VirtualEthernetCard
	for _, d := range object.VirtualDeviceList(vm.Config.Hardware.Device).SelectByType((*types.VirtualEthernetCard)(nil)) {
		out = append(out, d.(types.BaseVirtualEthernetCard).GetVirtualEthernetCard())
	}
	return out
}

func extraConfig(vm mo.VirtualMachine) map[string]string {
	m := make(map[string]string)
	for _, o := range vm.Config.ExtraConfig {
		ov := o.GetOptionValue()
		m[ov.Key] = fmt.Sprint(ov.Value)
	}
	return m
}

func faultOf(info *types.TaskInfo) types.BaseMethodFault {
	if info.Error == nil {
		return nil
	}
	return info.Error.Fault
}
