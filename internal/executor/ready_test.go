package executor_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/iclone-plan/iclone-plan/internal/executor"
	"github.com/iclone-plan/iclone-plan/internal/inventory"
	"github.com/iclone-plan/iclone-plan/internal/plan"
	"github.com/iclone-plan/iclone-plan/internal/sim"
)

// readyPlan is labPlan with every clone waiting for its guest, and NICs
// connected only once it is ready when connect is set.
func readyPlan(t testing.TB, connect bool, timeout string) *plan.Plan {
	t.Helper()
	block := "  ready:\n    timeout: " + timeout + "\n"
	if connect {
		block += "  connectAfterReady: true\n"
	}
	src := strings.Replace(strings.ReplaceAll(labPlan, "{v}", "1"), "defaults:\n", "defaults:\n"+block, 1)
	p, err := plan.Parse("lab.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadyAllClones(t *testing.T) {
	l := newLab(t, sim.Options{GuestReadyAfter: 150 * time.Millisecond})
	p := readyPlan(t, false, "30s")
	var mu sync.Mutex
	ready := map[string]bool{}
	_, rep, err := l.apply(t, p, context.Background(), func(o *executor.Options) {
		o.Hooks.Event = func(e executor.Event) {
			if e.Type == executor.EventReady {
				mu.Lock()
				ready[e.Name] = true
				mu.Unlock()
			}
		}
	})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if len(ready) != p.NumClones() {
		t.Errorf("%d clones reported ready, want %d", len(ready), p.NumClones())
	}
	for _, vm := range l.inventory(t).VMs {
		if vm.Owned("lab") && vm.Markers[inventory.MarkerState] != "" {
			t.Errorf("%s left in state %s", vm.Path, vm.Markers[inventory.MarkerState])
		}
	}
	_ = rep
}

// A clone whose guest never comes up is a failure with the reason, and the
// run rolls back to the inventory it started from.
func TestReadyNeverRollsBack(t *testing.T) {
	l := newLab(t, sim.Options{GuestNeverReady: 3})
	before := snapshot(l.inventory(t))
	_, rep, err := l.apply(t, readyPlan(t, true, "2s"), context.Background(), nil)
	var re *executor.RunError
	if !errors.As(err, &re) || re.Outcome != executor.OutcomeRolledBack {
		t.Fatalf("err = %v, want a rolled-back run", err)
	}
	if f := rep.Failed(); len(f) != 1 || !strings.Contains(f[0].Error, "guest not ready within 2s") || !strings.Contains(f[0].Error, "VMware Tools") {
		t.Errorf("failed actions: %+v", f)
	}
	if d := diffSnapshots(before, snapshot(l.inventory(t))); d != "" {
		t.Errorf("inventory after rollback differs:\n%s", d)
	}
}

// connectAfterReady: a clone's NICs stay disconnected until its guest is
// ready and are connected after; at no moment observed do two connected
// NICs share a MAC. A replacement run (new clones of the same MACs) too.
func TestConnectAfterReady(t *testing.T) {
	l := newLab(t, sim.Options{GuestReadyAfter: 700 * time.Millisecond})
	for _, version := range []string{"1", "2"} {
		src := strings.Replace(strings.ReplaceAll(labPlan, "{v}", version), "defaults:\n", "defaults:\n  ready: true\n  connectAfterReady: true\n", 1)
		p, err := plan.Parse("lab.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		finish := sample(l, 50*time.Millisecond, func(inv *inventory.Inventory) {
			connectedMACsUnique(t, inv)
			for _, vm := range inv.VMs {
				if !vm.Owned("lab") || vm.Markers[inventory.MarkerRun] == "" {
					continue
				}
				for _, n := range vm.NICs {
					if n.Connected && vm.Markers[inventory.MarkerState] == "pending" {
						t.Errorf("%s: NIC %s connected while the clone is a pending replacement", vm.Path, n.MAC)
					}
					if !n.Connected {
						continue
					}
					// Read after the sample: a replaced clone may be gone
					// by now, and a clone gone cannot be judged.
					switch ready, err := guestReady(l, vm.Ref); {
					case isNotFound(err):
					case err != nil:
						t.Errorf("%s: reading guestinfo.iclone.ready: %v", vm.Path, err)
					case ready == "":
						t.Errorf("%s: NIC %s connected before its guest reported ready", vm.Path, n.MAC)
					}
				}
			}
		})
		ch, _, err := l.apply(t, p, context.Background(), nil)
		samples := finish()
		if err != nil {
			t.Fatalf("version %s: %v", version, err)
		}
		if samples < 3 {
			t.Errorf("only %d inventory samples during the run", samples)
		}
		inv := l.inventory(t)
		for _, vm := range inv.VMs {
			if !vm.Owned("lab") {
				continue
			}
			for _, n := range vm.NICs {
				if !n.Connected || !n.StartConnected {
					t.Errorf("version %s: %s NIC %s not connected after the run", version, vm.Path, n.MAC)
				}
			}
		}
		t.Logf("version %s: %d creates, %d replaces, %d inventory samples", version, ch.Count(plan.Create), ch.Count(plan.Replace), samples)
	}
}

// guestReady reads the VM's guestinfo.iclone.ready straight from vCenter.
// ("" if the guest has not set it).
func guestReady(l *lab, ref string) (string, error) {
	var content []types.ObjectContent
	err := property.DefaultCollector(l.client.Vim).RetrieveOne(context.Background(),
		types.ManagedObjectReference{Type: "VirtualMachine", Value: ref}, []string{`config.extraConfig["guestinfo.iclone.ready"]`}, &content)
	if err != nil {
		return "", err
	}
	for _, oc := range content {
		for _, p := range oc.PropSet {
			if ov, ok := p.Val.(types.OptionValue); ok {
				s, _ := ov.Value.(string)
				return s, nil
			}
		}
	}
	return "", nil
}

// isNotFound reports whether err is vCenter's ManagedObjectNotFound.
func isNotFound(err error) bool {
	if err == nil || !soap.IsSoapFault(err) {
		return false
	}
	switch soap.ToSoapFault(err).VimFault().(type) {
	case types.ManagedObjectNotFound, *types.ManagedObjectNotFound:
		return true
	}
	return false
}

// MACs that move between clones (a changed template: clone 1 gets clone 2's
// MAC, and so on): the clone losing a MAC is disconnected before any clone
// connects it, so no inventory sample during the run ever shows two
// connected NICs with one MAC, and the run converges.
func TestMACsMovingBetweenClones(t *testing.T) {
	l := newLab(t, sim.Options{Latency: 30 * time.Millisecond})
	v1 := parse(t, "1")
	if _, _, err := l.apply(t, v1, context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	// index+1: lab-web-01 takes lab-web-02's MAC, ..., lab-web-04 a new one.
	shifted := strings.Replace(strings.ReplaceAll(labPlan, "{v}", "1"), `"00:50:56:10:01:{index:02x}"`, `"00:50:56:10:01:{index+1:02x}"`, 1)
	v2, err := plan.Parse("lab.yaml", []byte(shifted))
	if err != nil {
		t.Fatal(err)
	}
	finish := sample(l, 20*time.Millisecond, func(inv *inventory.Inventory) { connectedMACsUnique(t, inv) })
	ch, _, err := l.apply(t, v2, context.Background(), nil)
	samples := finish()
	if err != nil {
		t.Fatal(err)
	}
	if ch.Count(plan.Replace) != 4 {
		t.Errorf("%d replacements, want the 4 web clones", ch.Count(plan.Replace))
	}
	inv := l.inventory(t)
	connectedMACsUnique(t, inv)
	if again := plan.Diff(v2, inv, plan.Options{}); again.HasChanges() {
		t.Errorf("not converged: %+v", again.Items)
	}
	t.Logf("%d inventory samples during the run", samples)
}

// sample reads the inventory every interval and passes it to check until
// the returned finish is called; finish returns the number of samples.
func sample(l *lab, every time.Duration, check func(*inventory.Inventory)) (finish func() int) {
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				done <- n
				return
			case <-time.After(every):
			}
			if inv, err := l.client.ReadInventory(context.Background(), "Lab"); err == nil {
				n++
				check(inv)
			}
		}
	}()
	return func() int {
		close(stop)
		return <-done
	}
}
