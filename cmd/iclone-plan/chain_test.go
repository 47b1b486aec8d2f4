package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/iclone-plan/iclone-plan/internal/sim"
	"github.com/iclone-plan/iclone-plan/internal/ui"
)

// sourceDepth reads a source's delta chain depth straight from its disk
// backing in the simulator (not through iclone-plan's inventory code).
func (e *e2e) sourceDepth(path string) int {
	e.t.Helper()
	ctx := context.Background()
	ref, err := object.NewSearchIndex(e.client.Vim).FindByInventoryPath(ctx, path)
	if err != nil || ref == nil {
		e.t.Fatalf("find %s: %v", path, err)
	}
	var vm mo.VirtualMachine
	if err := property.DefaultCollector(e.client.Vim).RetrieveOne(ctx, ref.Reference(), []string{"config.hardware.device"}, &vm); err != nil {
		e.t.Fatal(err)
	}
	for _, d := range vm.Config.Hardware.Device {
		if disk, ok := d.(*types.VirtualDisk); ok {
			n := 0
			for b := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo).Parent; b != nil; b = b.Parent {
				n++
			}
			return n
		}
	}
	e.t.Fatalf("%s has no disk", path)
	return 0
}

func (e *e2e) status() *ui.StatusDoc {
	e.t.Helper()
	r := e.cli("status", "--json", e2ePlan)
	var d ui.StatusDoc
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &d) != nil {
		e.t.Fatalf("status --json: %v", r)
	}
	return &d
}

// A plan that would push a source past 255 delta levels fails before any
// change, with the numbers; one past the threshold warns; status's chain
// figures match the simulator's disk backings.
func TestE2EChainBudget(t *testing.T) {
	e := newE2E(t, e2ePlan, sim.Options{ChainDepth: 252})
	before := snapshotOf(e.inventory())
	r := e.cli("apply", "--auto-approve", e2ePlan)
	for _, want := range []string{
		"source VM /Lab/vm/golden/web has a delta chain of 252 levels and this plan makes 4 clones of it, which would take it to 256, past vSphere's limit of 255 (KB 67186): 3 more clone(s) fit",
		`vmware-rpctool \"instantclone.freeze\"`,
		"source VM /Lab/vm/golden/db will have a delta chain of 254 levels",
	} {
		if !strings.Contains(r.stdout, strings.ReplaceAll(want, `\"`, `"`)) {
			t.Errorf("apply output lacks %q", want)
		}
	}
	if r.code != 1 {
		t.Fatalf("apply past the chain limit: %v", r)
	}
	e.assertSame(before, "a plan past the chain limit")

	d := e.status()
	for _, s := range d.Sources {
		if got := e.sourceDepth(s.Path); s.ChainDepth != got {
			t.Errorf("status says %s has %d delta levels, its disk backing has %d", s.Path, s.ChainDepth, got)
		}
	}
}

func TestE2EChainStatusAfterApply(t *testing.T) {
	for _, tt := range []struct {
		name   string
		frozen bool
	}{{"running", false}, {"frozen", true}} {
		t.Run(tt.name, func(t *testing.T) {
			e := newE2E(t, e2ePlan, sim.Options{ChainDepth: 120, FrozenSources: tt.frozen})
			r := e.cli("apply", "--auto-approve", e2ePlan)
			if r.code != 0 {
				t.Fatal(r)
			}
			if warned := strings.Contains(r.stdout, "will have a delta chain of 124 levels"); warned == tt.frozen {
				t.Errorf("chain warning shown: %v (frozen source: %v):\n%s", warned, tt.frozen, r.stdout)
			}
			want := map[string][2]int{ // depth, runs left
				"/Lab/vm/golden/web": {124, (255 - 124) / 4},
				"/Lab/vm/golden/db":  {122, (255 - 122) / 2},
			}
			if tt.frozen {
				want = map[string][2]int{"/Lab/vm/golden/web": {120, -1}, "/Lab/vm/golden/db": {120, -1}}
			}
			d := e.status()
			for _, s := range d.Sources {
				got := e.sourceDepth(s.Path)
				if s.ChainDepth != got || got != want[s.Path][0] || s.RunsLeft != want[s.Path][1] || s.Frozen != tt.frozen {
					t.Errorf("%s: status depth %d, runs left %d, frozen %v; disk backing depth %d; want %v", s.Path, s.ChainDepth, s.RunsLeft, s.Frozen, got, want[s.Path])
				}
			}
			text := e.cli("status", e2ePlan).stdout
			if tt.frozen != strings.Contains(text, "unlimited") {
				t.Errorf("status table:\n%s", text)
			}
		})
	}
}
