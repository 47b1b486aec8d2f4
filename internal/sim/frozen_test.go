package sim

import (
	"strings"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
)

// depth is the number of delta levels of the VM's first disk.
func (e *env) depth(ref types.ManagedObjectReference) int {
	e.t.Helper()
	return len(chain(disks(e.props(ref))[0])) - 1
}

// A running source's chain grows by one level per clone; a frozen one's
// does not.
func TestChainGrowthRunningAndFrozen(t *testing.T) {
	for _, tt := range []struct {
		name   string
		frozen bool
		want   []int // source depth after each clone
	}{
		{"running", false, []int{1, 2, 3}},
		{"frozen", true, []int{0, 0, 0}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			seed := testSeed()
			seed.Sources[1].Frozen = tt.frozen
			e := start(t, Options{Seed: seed})
			src := e.vm("/Lab/vm/golden/db-golden")
			if got := e.props(src.Reference(), "runtime").Runtime.InstantCloneFrozen; (got != nil && *got) != tt.frozen {
				t.Fatalf("runtime.instantCloneFrozen = %v, want %v", got, tt.frozen)
			}
			before := 0
			for i, want := range tt.want {
				clone := e.mustClone(src, types.VirtualMachineInstantCloneSpec{Name: "c" + string(rune('1'+i))})
				if got := e.depth(src.Reference()); got != want {
					t.Errorf("after clone %d the source has %d delta levels, want %d", i+1, got, want)
				}
				// The clone's disk is a delta on top of the source's chain
				// as it was when the clone was made.
				if got := e.depth(clone); got != before+1 {
					t.Errorf("clone %d has %d delta levels, want %d", i+1, got, before+1)
				}
				before = want
			}
		})
	}
}

// Every instant clone gets new generated MACs for the NICs the spec does
// not give a MAC, the first clone of a frozen source included. The vSphere
// Web Services SDK Programming Guide ("Guest Customization of Instant Clone
// Virtual Machines") says that clone "assumes the identity of the source":
// the guest's in-memory network identity (hostname, IP), which the source,
// frozen, no longer uses on the network. The virtual NIC's MAC is the
// clone's own, as for every instant clone; a MAC the spec sets is kept.
func TestFrozenFirstCloneGetsNewMACs(t *testing.T) {
	for _, tt := range []struct {
		name   string
		source string // of testSeed
		frozen bool
	}{
		{"frozen", "/Lab/vm/golden/db-golden", true},
		{"running", "/Lab/vm/golden/web-golden", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			seed := testSeed()
			seed.Sources[0].Frozen = tt.frozen
			seed.Sources[1].Frozen = tt.frozen
			e := start(t, Options{Seed: seed})
			src := e.vm(tt.source)
			srcMACs := map[string]bool{}
			for _, n := range nics(e.props(src.Reference())) {
				srcMACs[n.MacAddress] = true
			}
			seen := map[string]string{}
			for _, name := range []string{"first", "second"} {
				for i, n := range nics(e.props(e.mustClone(src, types.VirtualMachineInstantCloneSpec{Name: name}))) {
					switch {
					case srcMACs[n.MacAddress]:
						t.Errorf("clone %s NIC %d has the source's MAC %s, want a new generated one", name, i+1, n.MacAddress)
					case seen[n.MacAddress] != "":
						t.Errorf("clone %s NIC %d has MAC %s, as clone %s has", name, i+1, n.MacAddress, seen[n.MacAddress])
					case n.AddressType != string(types.VirtualEthernetCardMacTypeGenerated):
						t.Errorf("clone %s NIC %d address type %q, want generated", name, i+1, n.AddressType)
					}
					seen[n.MacAddress] = name
				}
			}
			// A MAC the spec sets is the clone's, first clone or not.
			nic := nics(e.props(src.Reference()))[0]
			edit := *nic
			edit.AddressType, edit.MacAddress = string(types.VirtualEthernetCardMacTypeManual), "00:50:56:3f:00:01"
			spec := types.VirtualMachineInstantCloneSpec{Name: "manual", Location: types.VirtualMachineRelocateSpec{
				DeviceChange: []types.BaseVirtualDeviceConfigSpec{&types.VirtualDeviceConfigSpec{
					Operation: types.VirtualDeviceConfigSpecOperationEdit, Device: &types.VirtualVmxnet3{VirtualVmxnet: types.VirtualVmxnet{VirtualEthernetCard: edit}},
				}}}}
			if got := nics(e.props(e.mustClone(src, spec)))[0].MacAddress; got != "00:50:56:3f:00:01" {
				t.Errorf("clone with a manual MAC has %s, want 00:50:56:3f:00:01", got)
			}
		})
	}
}

// Options.ChainDepth and FrozenSources shape every seeded source.
func TestSeedChainDepthAndFrozen(t *testing.T) {
	e := start(t, Options{Seed: testSeed(), ChainDepth: 7, FrozenSources: true})
	for _, p := range []string{"/Lab/vm/golden/web-golden", "/Lab/vm/golden/db-golden"} {
		ref := e.vm(p).Reference()
		if got := e.depth(ref); got != 7 {
			t.Errorf("%s starts at %d delta levels, want 7", p, got)
		}
		if f := e.props(ref, "runtime").Runtime.InstantCloneFrozen; f == nil || !*f {
			t.Errorf("%s is not frozen", p)
		}
	}
	if _, err := Start(e.ctx, Options{Seed: testSeed(), ChainDepth: MaxDeltaLevels + 1}); err == nil {
		t.Error("a chain depth past the limit was accepted")
	}
}

// check runs VmProvisioningChecker.CheckInstantClone_Task on vm with a
// spec that is fine for a healthy source.
func (e *env) check(vm types.ManagedObjectReference) types.CheckResult {
	e.t.Helper()
	return e.checkSpec(vm, types.VirtualMachineInstantCloneSpec{Name: "check"})
}

// checkSpec runs VmProvisioningChecker.CheckInstantClone_Task on vm with spec.
func (e *env) checkSpec(vm types.ManagedObjectReference, spec types.VirtualMachineInstantCloneSpec) types.CheckResult {
	e.t.Helper()
	res, err := methods.CheckInstantClone_Task(e.ctx, e.c, &types.CheckInstantClone_Task{
		This: *e.c.ServiceContent.VmProvisioningChecker, Vm: vm, Spec: spec})
	if err != nil {
		e.t.Fatalf("CheckInstantClone_Task: %v", err)
	}
	info := e.wait(object.NewTask(e.c, res.Returnval))
	if info.Error != nil {
		e.t.Fatalf("check task: %s", info.Error.LocalizedMessage)
	}
	return info.Result.(types.ArrayOfCheckResult).CheckResult[0]
}

func messages(fs []types.LocalizedMethodFault) string {
	var out []string
	for _, f := range fs {
		out = append(out, f.LocalizedMessage)
	}
	return strings.Join(out, "; ")
}

func TestCheckInstantClone(t *testing.T) {
	e := start(t, Options{Seed: testSeed()})
	web, db, off := e.vm("/Lab/vm/golden/web-golden"), e.vm("/Lab/vm/golden/db-golden"), e.vm("/Lab/vm/golden/off-golden")
	if r := e.check(web.Reference()); len(r.Error)+len(r.Warning) != 0 || r.Host == nil {
		t.Errorf("a healthy source: errors %q, warnings %q, host %v", messages(r.Error), messages(r.Warning), r.Host)
	}
	if r := e.check(off.Reference()); messages(r.Error) != "The attempted operation cannot be performed in the current state (Powered off)." {
		t.Errorf("a powered-off source: errors %q", messages(r.Error))
	}
	fillChain(t, e.sim, db.Reference(), 150)
	if r := e.check(db.Reference()); len(r.Error) != 0 || !strings.Contains(messages(r.Warning), "150 delta levels") {
		t.Errorf("a 150-level chain: errors %q, warnings %q", messages(r.Error), messages(r.Warning))
	}
	fillChain(t, e.sim, db.Reference(), MaxDeltaLevels-150)
	if r := e.check(db.Reference()); !strings.Contains(messages(r.Error), "255 delta levels") {
		t.Errorf("a full chain: errors %q", messages(r.Error))
	}
}
