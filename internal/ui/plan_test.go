package ui

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iclone-plan/iclone-plan/internal/inventory"
	"github.com/iclone-plan/iclone-plan/internal/ownership"
	"github.com/iclone-plan/iclone-plan/internal/plan"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/ui -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./internal/ui -update rewrites it):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

var now = time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)

const labPlan = `version: 1
name: lab
datacenter: DC0
defaults:
  folder: /DC0/vm/lab
groups:
  - name: web
    source: /DC0/vm/golden/web
    count: 4
    cloneName: "lab-web-{index:02}"
    maxAge: 24h
    nics:
      - adapter: 1
        mac: "00:50:56:10:01:{index:02x}"
  - name: db
    source: /DC0/vm/golden/db
    count: 2
    cloneName: "lab-db-{index}"
    folder: /DC0/vm/lab/db
`

// changes returns a plan with one clone of each kind: created, kept,
// replaced (spec, age), destroyed, and a conflict.
func changes(t *testing.T, conflict bool) *plan.Changes {
	t.Helper()
	return changesWith(t, conflict, nil)
}

// changesWith is changes with the inventory adjusted by mutate first.
func changesWith(t *testing.T, conflict bool, mutate func(*inventory.Inventory)) *plan.Changes {
	t.Helper()
	p, err := plan.Parse("lab.yaml", []byte(labPlan))
	if err != nil {
		t.Fatal(err)
	}
	inv := &inventory.Inventory{
		Datacenter: "/DC0",
		Hosts:      map[string]inventory.Host{"host-1": {Ref: "host-1", Name: "esx1.lab", ConnectionState: "connected"}},
		Networks:   map[string]bool{},
		Datastores: map[string]bool{},
		Folders:    map[string]bool{"/DC0/vm": true, "/DC0/vm/lab": true},
		ReadAt:     now,
	}
	for _, n := range []string{"web", "db"} {
		inv.VMs = append(inv.VMs, inventory.VM{Ref: "vm-" + n, Name: n, Path: "/DC0/vm/golden/" + n, HostRef: "host-1",
			PowerState: "poweredOn", InstanceUUID: "uuid-" + n, NICs: []inventory.NIC{{Adapter: 1, MAC: "00:50:56:aa:00:01"}}, DiskChainDepth: []int{4}})
	}
	clone := func(group string, index int, created time.Time) *inventory.VM {
		c := &p.Group(group).Clones[index-1]
		vm := inventory.VM{Ref: c.Name, Name: c.Name, Folder: plan.CloneFolder("/DC0", c), PowerState: "poweredOn",
			Markers: ownership.Markers{Plan: p.Name, Group: c.Group, Index: c.Index, Spec: c.SpecHash(), Run: "run", Created: created, Source: "uuid-" + group}.ExtraConfig()}
		vm.Path = vm.Folder + "/" + vm.Name
		for _, n := range c.NICs {
			vm.NICs = append(vm.NICs, inventory.NIC{Adapter: n.Adapter, MAC: n.MAC, Connected: index != 2})
		}
		inv.VMs = append(inv.VMs, vm)
		return &inv.VMs[len(inv.VMs)-1]
	}
	clone("web", 1, now.Add(-time.Hour))
	clone("web", 2, now.Add(-time.Hour)).Markers[inventory.MarkerSpec] = "changed"
	clone("web", 3, now.Add(-25*time.Hour))
	old := clone("web", 4, now)
	old.Markers[inventory.MarkerIndex] = "9"
	old.Name, old.Path = "lab-web-09", "/DC0/vm/lab/lab-web-09"
	if conflict {
		inv.VMs = append(inv.VMs, inventory.VM{Ref: "vm-decoy", Name: "lab-web-04", Path: "/DC0/vm/lab/lab-web-04"})
	}
	if mutate != nil {
		mutate(inv)
	}
	return plan.Diff(p, inv, plan.Options{})
}

func TestRenderPlanGolden(t *testing.T) {
	h := PlanHeader{Plan: "lab", File: "lab.yaml", VCenter: "vc.example.com:443"}
	for _, tt := range []struct {
		name     string
		conflict bool
		style    Style
	}{
		{"plan.golden", false, Style{}},
		{"plan-color.golden", false, Style{Color: true}},
		{"plan-conflict.golden", true, Style{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := RenderPlan(&b, h, changes(t, tt.conflict), tt.style); err != nil {
				t.Fatal(err)
			}
			if !tt.style.Color && strings.Contains(b.String(), "\x1b") {
				t.Error("escape codes without colour")
			}
			golden(t, tt.name, b.Bytes())
		})
	}
	var b bytes.Buffer
	if err := WriteJSON(&b, NewPlanDoc(h, changes(t, false))); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan.json.golden", b.Bytes())

	// Deep source chains: a warning for one, a conflict for the other.
	b.Reset()
	deep := changesWith(t, false, func(inv *inventory.Inventory) {
		inv.VMs[0].DiskChainDepth = []int{150} // web
		inv.VMs[1].DiskChainDepth = []int{254} // db
	})
	if err := RenderPlan(&b, h, deep, Style{}); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan-chain.golden", b.Bytes())

	// --detail with --show-unchanged: every clone with the values it gets.
	b.Reset()
	if err := RenderPlan(&b, h, changes(t, false), Style{Detail: true, ShowUnchanged: true}); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan-detail.golden", b.Bytes())

	// A MAC set by hand to another clone's: a replace saying so, in text
	// and JSON.
	drift := changesWith(t, false, func(inv *inventory.Inventory) {
		for i := range inv.VMs {
			if inv.VMs[i].Name == "lab-web-01" {
				inv.VMs[i].NICs[0].MAC = "00:50:56:10:01:03"
			}
		}
	})
	b.Reset()
	if err := RenderPlan(&b, h, drift, Style{}); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan-drift.golden", b.Bytes())
	b.Reset()
	if err := WriteJSON(&b, NewPlanDoc(h, drift)); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan-drift.json.golden", b.Bytes())
}

func TestSummaryLine(t *testing.T) {
	ch := changes(t, false)
	if got, want := SummaryLine(ch), "Plan: 3 to create, 2 to replace, 1 to destroy. 1 folder(s) to create."; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := SummaryLine(changes(t, true)); !strings.Contains(got, "1 conflict(s)") {
		t.Errorf("conflict summary %q", got)
	}
}

func TestRenderStatusGolden(t *testing.T) {
	h := PlanHeader{Plan: "lab", File: "lab.yaml", VCenter: "vc.example.com:443"}
	d := NewStatusDoc(h, changes(t, false))
	var b bytes.Buffer
	if err := RenderStatus(&b, d, Style{}); err != nil {
		t.Fatal(err)
	}
	golden(t, "status.golden", b.Bytes())
	b.Reset()
	if err := WriteJSON(&b, d); err != nil {
		t.Fatal(err)
	}
	golden(t, "status.json.golden", b.Bytes())

	// web's source powered off: its clones are blocked, in plan and status,
	// and the source shows as powered off.
	off := changesWith(t, false, func(inv *inventory.Inventory) { inv.VMs[0].PowerState = "poweredOff" })
	b.Reset()
	if err := RenderStatus(&b, NewStatusDoc(h, off), Style{}); err != nil {
		t.Fatal(err)
	}
	golden(t, "status-blocked.golden", b.Bytes())
	b.Reset()
	if err := RenderPlan(&b, h, off, Style{}); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan-blocked.golden", b.Bytes())
}

func TestFormatAge(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second: "0s", 45 * time.Second: "45s", 12 * time.Minute: "12m",
		5*time.Hour + 12*time.Minute: "5h12m", 76 * time.Hour: "3d4h",
	} {
		if got := FormatAge(d); got != want {
			t.Errorf("FormatAge(%v) = %q, want %q", d, got, want)
		}
	}
}
