package sim

import (
	"fmt"
	"testing"
	"time"

	"github.com/vmware/govmomi/vim25/types"
)

// TestSeededFaults: a seeded schedule fails about its rate of clones, the
// same ones for the same seed, and Reseed with rate 0 stops it.
func TestSeededFaults(t *testing.T) {
	var f SeededFaults
	e := start(t, Options{Seed: testSeed(), FailWhen: f.Fail})
	src := e.vm("/Lab/vm/golden/db-golden")
	runs := 0
	run := func(seed int64) (pattern string) {
		f.Reseed(seed, 0.5)
		runs++
		for i := range 8 {
			info := e.clone(src, types.VirtualMachineInstantCloneSpec{Name: fmt.Sprintf("c%d-%d", runs, i)})
			if info.State == types.TaskInfoStateError {
				if _, ok := faultOf(info).(*types.SystemError); !ok {
					t.Fatalf("fault %T, want the injected SystemError", faultOf(info))
				}
				pattern += "x"
			} else {
				pattern += "."
			}
		}
		return pattern
	}
	a, b := run(7), run(7)
	if a != b {
		t.Errorf("seed 7 gave %s then %s; want the same schedule", a, b)
	}
	if f.Injected() == 0 || f.Injected() == 16 {
		t.Errorf("%d of 16 clones failed at rate 0.5", f.Injected())
	}
	f.Reseed(7, 0)
	e.mustClone(src, types.VirtualMachineInstantCloneSpec{Name: "after"})
	t.Logf("seed 7 at rate 0.5: %s", a)
}

// TestPauseResume: while paused, requests fail with network errors and a
// running task keeps running; after Resume the same client, session and
// model carry on, on the same address.
func TestPauseResume(t *testing.T) {
	e := start(t, Options{Seed: testSeed(), Latency: 300 * time.Millisecond})
	src := e.vm("/Lab/vm/golden/web-golden")
	tk, err := src.InstantClone(e.ctx, types.VirtualMachineInstantCloneSpec{Name: "during"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.sim.Pause(); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.Pause(); err != nil {
		t.Fatalf("second Pause: %v", err)
	}
	if _, err := src.PowerState(e.ctx); err == nil {
		t.Fatal("a request to a paused simulator succeeded")
	}
	time.Sleep(400 * time.Millisecond) // the clone ends while paused
	if err := e.sim.Resume(); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.Resume(); err != nil {
		t.Fatalf("second Resume: %v", err)
	}
	info := e.wait(tk)
	if info.State != types.TaskInfoStateSuccess {
		t.Fatalf("the clone started before the pause: %s %v", info.State, info.Error)
	}
	e.mustClone(src, types.VirtualMachineInstantCloneSpec{Name: "after"})
	// Again, to pause what Resume serves.
	if err := e.sim.Pause(); err != nil {
		t.Fatal(err)
	}
	if _, err := src.PowerState(e.ctx); err == nil {
		t.Fatal("a request to a paused simulator succeeded")
	}
	if err := e.sim.Resume(); err != nil {
		t.Fatal(err)
	}
	e.mustClone(src, types.VirtualMachineInstantCloneSpec{Name: "again"})
}
