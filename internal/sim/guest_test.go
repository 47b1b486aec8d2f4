package sim

import (
	"context"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/types"
)

// waitGuest waits (up to d) until the VM's Tools run and returns its
// ready key, or reports that Tools never ran.
func (e *env) waitGuest(ref types.ManagedObjectReference, d time.Duration) (ready string, running bool) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, d)
	defer cancel()
	err := property.Wait(ctx, property.DefaultCollector(e.c), ref, []string{"guest.toolsRunningStatus"}, func(pc []types.PropertyChange) bool {
		for _, c := range pc {
			if c.Val == string(types.VirtualMachineToolsRunningStatusGuestToolsRunning) {
				return true
			}
		}
		return false
	})
	if err != nil {
		return "", false
	}
	for _, o := range e.props(ref, "config.extraConfig").Config.ExtraConfig {
		if ov := o.GetOptionValue(); ov.Key == GuestReadyKey {
			ready, _ = ov.Value.(string)
		}
	}
	return ready, true
}

// The guest model: Tools come up after GuestReadyAfter and a clone that
// carries guestinfo.iclone.name answers in guestinfo.iclone.ready; the Nth
// clone's guest never comes up.
func TestGuestModel(t *testing.T) {
	e := start(t, Options{Seed: testSeed(), GuestReadyAfter: 1500 * time.Millisecond, GuestNeverReady: 3})
	src := e.vm("/Lab/vm/golden/db-golden")
	named := e.mustClone(src, types.VirtualMachineInstantCloneSpec{Name: "named",
		Config: []types.BaseOptionValue{&types.OptionValue{Key: GuestNameKey, Value: "named"}}})
	plain := e.mustClone(src, types.VirtualMachineInstantCloneSpec{Name: "plain"})
	never := e.mustClone(src, types.VirtualMachineInstantCloneSpec{Name: "never",
		Config: []types.BaseOptionValue{&types.OptionValue{Key: GuestNameKey, Value: "never"}}})

	if st := e.props(named, "guest").Guest.ToolsRunningStatus; st == string(types.VirtualMachineToolsRunningStatusGuestToolsRunning) {
		t.Errorf("Tools already running when the clone task ended, before GuestReadyAfter")
	}
	if ready, ok := e.waitGuest(named, 10*time.Second); !ok || ready != "named" {
		t.Errorf("named clone: Tools running %v, ready key %q; want true, %q", ok, ready, "named")
	}
	if ready, ok := e.waitGuest(plain, 10*time.Second); !ok || ready != "" {
		t.Errorf("clone without guestinfo.iclone.name: Tools running %v, ready key %q; want true and no key", ok, ready)
	}
	if _, ok := e.waitGuest(never, 2*time.Second); ok {
		t.Errorf("the 3rd clone's guest came up; GuestNeverReady is 3")
	}
}

// A clone's guest is its source's: clones of a source with Tools running
// get Tools running; clones of a source without Tools have none, and
// never answer in the ready key. (An instant clone resumes the source's
// running guest: vSphere Web Services SDK Programming Guide, "Instant
// Clone Virtual Machines".)
func TestGuestToolsFollowSource(t *testing.T) {
	seed := testSeed()
	seed.Sources[1].NoTools = true // db-golden
	e := start(t, Options{Seed: seed})
	for _, tt := range []struct {
		source string
		want   types.VirtualMachineToolsRunningStatus
		ready  string
	}{
		{"/Lab/vm/golden/web-golden", types.VirtualMachineToolsRunningStatusGuestToolsRunning, "c-web"},
		{"/Lab/vm/golden/db-golden", types.VirtualMachineToolsRunningStatusGuestToolsNotRunning, ""},
	} {
		src := e.vm(tt.source)
		if got := e.props(src.Reference(), "guest").Guest.ToolsRunningStatus; got != string(tt.want) {
			t.Fatalf("source %s Tools %s, want %s", tt.source, got, tt.want)
		}
		name := "c-" + strings.TrimSuffix(path.Base(tt.source), "-golden")
		// GuestReadyAfter is 0: the guest model has run when the task ends.
		clone := e.mustClone(src, types.VirtualMachineInstantCloneSpec{Name: name,
			Config: []types.BaseOptionValue{&types.OptionValue{Key: GuestNameKey, Value: name}}})
		vm := e.props(clone, "guest", "config.extraConfig")
		if vm.Guest.ToolsRunningStatus != string(tt.want) {
			t.Errorf("clone of %s: Tools %s, want %s as its source's", tt.source, vm.Guest.ToolsRunningStatus, tt.want)
		}
		if got := extraConfig(vm)[GuestReadyKey]; got != tt.ready {
			t.Errorf("clone of %s: ready key %q, want %q", tt.source, got, tt.ready)
		}
	}
}
