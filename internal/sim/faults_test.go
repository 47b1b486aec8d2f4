package sim

import (
	"errors"
	"strings"
	"testing"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// TestFailClone: the Nth instant clone fails as a task error; without
// FailLeaveVM it is backed out (no VM, no source delta), with it the
// half-made clone stays, powered off.
func TestFailClone(t *testing.T) {
	for _, leave := range []bool{false, true} {
		name := map[bool]string{false: "backed out", true: "leave VM"}[leave]
		t.Run(name, func(t *testing.T) {
			e := start(t, Options{Seed: testSeed(), FailClone: 2, FailLeaveVM: leave})
			src := e.vm("/Lab/vm/golden/web-golden")
			e.mustClone(src, types.VirtualMachineInstantCloneSpec{Name: "ok-1"})

			tk, err := src.InstantClone(e.ctx, types.VirtualMachineInstantCloneSpec{Name: "bad-2"})
			if err != nil {
				t.Fatalf("the failing clone's call failed (%v); want a task that fails", err)
			}
			info := e.wait(tk)
			if _, ok := faultOf(info).(*types.SystemError); !ok || !strings.Contains(info.Error.LocalizedMessage, "injected failure of instant clone #2") {
				t.Fatalf("task %s, fault %T %v; want an injected SystemError", info.State, faultOf(info), info.Error)
			}
			vm, err := e.find().VirtualMachine(e.ctx, "/Lab/vm/bad-2")
			var nf *find.NotFoundError
			wantDeltas := 1
			if leave {
				wantDeltas = 2
				if err != nil {
					t.Fatalf("half-made clone not found: %v", err)
				}
				if p := e.props(vm.Reference()); p.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOff {
					t.Errorf("half-made clone is %s, want poweredOff", p.Runtime.PowerState)
				}
			} else if !errors.As(err, &nf) {
				t.Errorf("a backed-out clone left a VM behind (find: %v)", err)
			}
			if c := chain(disks(e.props(src.Reference()))[0]); len(c)-1 != wantDeltas {
				t.Errorf("source has %d deltas, want %d", len(c)-1, wantDeltas)
			}
			e.mustClone(src, types.VirtualMachineInstantCloneSpec{Name: "ok-3"})
			if e.sim.InstantClones() != 3 {
				t.Errorf("InstantClones() = %d, want 3", e.sim.InstantClones())
			}
		})
	}
}

// TestFailFault: the injected fault can be chosen.
func TestFailFault(t *testing.T) {
	e := start(t, Options{Seed: testSeed(), FailClone: 1, FailFault: &types.HostCommunication{}})
	info := e.clone(e.vm("/Lab/vm/golden/web-golden"), types.VirtualMachineInstantCloneSpec{Name: "x"})
	if _, ok := faultOf(info).(*types.HostCommunication); !ok {
		t.Errorf("fault %T, want HostCommunication", faultOf(info))
	}
}

// TestAddFaultRule: govmomi's fault injector applies to InstantClone_Task
// (a SOAP fault, no task), matching the VM's type and name.
func TestAddFaultRule(t *testing.T) {
	e := start(t, Options{Seed: testSeed()})
	e.sim.Service().AddFaultRule(&simulator.FaultInjectionRule{
		MethodName:  "InstantClone_Task",
		ObjectType:  "VirtualMachine",
		ObjectName:  "web-golden",
		Probability: 1,
		Fault:       &types.TaskInProgress{},
		FaultType:   simulator.FaultTypeCustom,
		Enabled:     true,
	})
	_, err := e.vm("/Lab/vm/golden/web-golden").InstantClone(e.ctx, types.VirtualMachineInstantCloneSpec{Name: "x"})
	if !fault.Is(err, &types.TaskInProgress{}) {
		t.Errorf("InstantClone_Task of web-golden: %v, want a TaskInProgress SOAP fault", err)
	}
	if e.sim.InstantClones() != 0 {
		t.Errorf("the faulted call reached the implementation")
	}
	// Another VM is not matched.
	e.mustClone(e.vm("/Lab/vm/golden/db-golden"), types.VirtualMachineInstantCloneSpec{Name: "y"})
}

// TestWrapperDropped: the dispatch wrapper a session gets for a VM it
// instant-clones goes when the VM goes: a destroyed VM is gone from that
// session's container view and property retrievals, and other methods on a
// wrapped VM still work.
func TestWrapperDropped(t *testing.T) {
	e := start(t, Options{Seed: testSeed()})
	src := e.vm("/Lab/vm/golden/web-golden")
	first := e.mustClone(src, types.VirtualMachineInstantCloneSpec{Name: "gen-1"})
	// Make the clone a source too, so this session holds a wrapper for it.
	fvm := e.vm("/Lab/vm/gen-1")
	e.mustClone(fvm, types.VirtualMachineInstantCloneSpec{Name: "gen-2"})
	if _, ok := e.sim.Model().Map().Get(first).(*simulator.VirtualMachine); !ok {
		t.Fatal("the global registry no longer holds a *simulator.VirtualMachine")
	}

	// Methods other than InstantClone_Task reach the embedded VM.
	tk, err := fvm.PowerOff(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info := e.wait(tk); info.Error != nil {
		t.Fatalf("power off a wrapped VM: %s", info.Error.LocalizedMessage)
	}
	tk, err = fvm.Destroy(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info := e.wait(tk); info.Error != nil {
		t.Fatalf("destroy a wrapped VM: %s", info.Error.LocalizedMessage)
	}

	m := view.NewManager(e.c)
	v, err := m.CreateContainerView(e.ctx, e.c.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
	if err != nil {
		t.Fatal(err)
	}
	var vms []mo.VirtualMachine
	if err := v.Retrieve(e.ctx, []string{"VirtualMachine"}, []string{"name"}, &vms); err != nil {
		t.Fatal(err)
	}
	for _, vm := range vms {
		if vm.Self == first || vm.Name == "gen-1" {
			t.Errorf("destroyed VM %s still in the session's container view", vm.Name)
		}
	}
	var gone mo.VirtualMachine
	if err := property.DefaultCollector(e.c).RetrieveOne(e.ctx, first, []string{"name"}, &gone); !fault.Is(err, &types.ManagedObjectNotFound{}) {
		t.Errorf("retrieve the destroyed VM: %v, want ManagedObjectNotFound", err)
	}
	// The source is still retrievable through its wrapper.
	if p := e.props(src.Reference(), "name", "runtime.powerState"); p.Name != "web-golden" {
		t.Errorf("source through its wrapper: %q", p.Name)
	}
}
