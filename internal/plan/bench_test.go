package plan

import (
	"fmt"
	"strings"
	"testing"

	"github.com/iclone-plan/iclone-plan/internal/inventory"
	"github.com/iclone-plan/iclone-plan/internal/ownership"
)

// plan10k is a plan of 10,000 clones in four groups, each with a templated
// and an auto MAC, a serial file and three guestinfo entries.
func plan10k() []byte {
	var b strings.Builder
	b.WriteString("version: 1\nname: big\ndatacenter: DC\ndefaults:\n  folder: /DC/vm/big\n  guestinfo:\n    domain: big.example\n    hostname: \"{name}\"\ngroups:\n")
	for g, n := range []int{4000, 3000, 2000, 1000} {
		fmt.Fprintf(&b, `  - name: g%d
    source: /DC/vm/golden/g%d
    count: %d
    cloneName: "big-g%d-{index:05}"
    nics:
      - adapter: 1
        mac: "00:50:56:%02x:{index/256:02x}:{index%%256:02x}"
      - adapter: 2
        mac: auto
    serial:
      - port: 1
        file: "[ds1] serial/{name}.log"
    guestinfo:
      ip: "10.%d.{index/256}.{index%%256}"
`, g, g, n, g, 0x10+g, g)
	}
	return []byte(b.String())
}

func TestPlan10kIsValid(t *testing.T) {
	if testing.Short() {
		t.Skip("large plan")
	}
	p, err := Parse("big.yaml", plan10k())
	if err == nil {
		checkInvariants(t, p)
		if p.NumClones() != 10000 {
			t.Fatalf("%d clones", p.NumClones())
		}
		return
	}
	t.Fatal(err)
}

// BenchmarkParse10k measures loading and validating a plan of 10,000 clones:
//
//	go test ./internal/plan -run '^$' -bench Parse10k -benchmem
func BenchmarkParse10k(b *testing.B) {
	data := plan10k()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("big.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

// planOf returns a plan of groups × count clones shaped like plan10k.
func planOf(groups, count int) []byte {
	var b strings.Builder
	b.WriteString("version: 1\nname: big\ndefaults:\n  guestinfo:\n    hostname: \"{name}\"\ngroups:\n")
	for g := 0; g < groups; g++ {
		fmt.Fprintf(&b, "  - name: g%d\n    source: golden/g%d\n    count: %d\n    cloneName: \"big-g%d-{index:05}\"\n"+
			"    nics:\n      - adapter: 1\n        mac: \"00:50:56:%02x:{index/256:02x}:{index%%256:02x}\"\n      - adapter: 2\n"+
			"    serial:\n      - port: 1\n        file: \"[ds1] serial/{name}.log\"\n", g, g, count, g, 0x10+g)
	}
	return []byte(b.String())
}

// BenchmarkParseMax measures the largest plan the loader accepts in clones:
// 50,000 clones (5 groups of 10,000), each with a templated and an auto MAC,
// a serial file and guestinfo.
//
//	go test ./internal/plan -run '^$' -bench ParseMax -benchmem
func BenchmarkParseMax(b *testing.B) {
	data := planOf(5, MaxCount)
	b.ReportAllocs()
	for b.Loop() {
		p, err := Parse("max.yaml", data)
		if err != nil {
			b.Fatal(err)
		}
		if p.NumClones() != MaxClones {
			b.Fatalf("%d clones", p.NumClones())
		}
	}
}

// inventory10k is the inventory an apply of plan10k leaves, with every
// clone's live values (NICs, serial file, guestinfo) as the plan renders
// them; stale makes every spec marker out of date, so every clone is a
// replace whose fields are worked out.
func inventory10k(b *testing.B, p *Plan, stale bool) *inventory.Inventory {
	inv := &inventory.Inventory{Datacenter: "/DC", Hosts: map[string]inventory.Host{"host-1": {Ref: "host-1", Name: "esx1", ConnectionState: "connected"}},
		Networks: map[string]bool{"VM Network": true}, Datastores: map[string]bool{"ds1": true},
		Folders: map[string]bool{"/DC/vm": true, "/DC/vm/big": true}, ReadAt: diffNow}
	for i, g := range p.Groups {
		inv.VMs = append(inv.VMs, inventory.VM{Ref: fmt.Sprintf("vm-src-%d", i), Name: g.Name, Path: "/DC/vm/golden/" + g.Name,
			Folder: "/DC/vm/golden", HostRef: "host-1", PowerState: "poweredOn", Frozen: true, InstanceUUID: fmt.Sprintf("uuid-%d", i),
			NICs:   []inventory.NIC{{Adapter: 1, MAC: "00:50:56:aa:00:01", Connected: true}, {Adapter: 2, MAC: "00:50:56:aa:00:02", Connected: true}},
			Serial: []inventory.SerialPort{{Port: 1}}})
	}
	for c := range p.Clones() {
		spec := c.SpecHash()
		if stale {
			spec = "0000000000000000"
		}
		vm := inventory.VM{Ref: "vm-" + c.Name, Name: c.Name, Folder: CloneFolder("/DC", c), HostRef: "host-1", PowerState: "poweredOn",
			Markers: ownership.Markers{Plan: p.Name, Group: c.Group, Index: c.Index, Spec: spec, Run: "run-1", Created: diffNow,
				Source: "uuid-" + strings.TrimPrefix(c.Group, "g")}.ExtraConfig(), ExtraConfig: map[string]string{}}
		vm.Path = vm.Folder + "/" + vm.Name
		for _, n := range c.NICs {
			vm.NICs = append(vm.NICs, inventory.NIC{Adapter: n.Adapter, MAC: n.MAC, Connected: true})
		}
		for _, s := range c.Serial {
			vm.Serial = append(vm.Serial, inventory.SerialPort{Port: s.Port, File: s.File})
		}
		for k, v := range c.ExtraConfig {
			vm.ExtraConfig[k] = v + "-old"
		}
		inv.VMs = append(inv.VMs, vm)
	}
	return inv
}

// BenchmarkDiff10k measures the planner on plan10k against an inventory
// holding every clone: all in place (each clone's NICs compared with the
// plan), or all with a changed spec (each clone's fields worked out):
//
//	go test ./internal/plan -run '^$' -bench Diff10k -benchmem
func BenchmarkDiff10k(b *testing.B) {
	p, err := Parse("big.yaml", plan10k())
	if err != nil {
		b.Fatal(err)
	}
	for _, stale := range []bool{false, true} {
		name := "in-place"
		if stale {
			name = "all-replaced"
		}
		b.Run(name, func(b *testing.B) {
			inv := inventory10k(b, p, stale)
			want := NoOp
			if stale {
				want = Replace
			}
			b.ReportAllocs()
			for b.Loop() {
				ch := Diff(p, inv, Options{})
				if n := ch.Count(want); n != 10000 {
					b.Fatalf("%d of 10000 clones are %s:\n%v", n, want, ch.Conflicts())
				}
			}
		})
	}
}
