package main

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/iclone-plan/iclone-plan/internal/plan"
	"github.com/iclone-plan/iclone-plan/internal/sim"
	"github.com/iclone-plan/iclone-plan/internal/vsphere"
)

// benchPlan is a plan of groups x perGroup clones, one source per group.
func benchPlan(b *testing.B, groups, perGroup int) *plan.Plan {
	b.Helper()
	var s strings.Builder
	s.WriteString("version: 1\nname: bench\ndatacenter: DC0\ndefaults:\n  folder: /DC0/vm/bench\ngroups:\n")
	for g := range groups {
		fmt.Fprintf(&s, "  - name: g%d\n    source: /DC0/vm/golden/src%d\n    count: %d\n    cloneName: \"bench-g%d-{index:05}\"\n    nics:\n      - adapter: 1\n        mac: auto\n    guestinfo:\n      hostname: \"{name}\"\n", g, g, perGroup, g)
	}
	p, err := plan.Parse("bench.yaml", []byte(s.String()))
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// planBench starts a simulator with the plan's sources and extra VMs, and
// a client of it.
func planBench(b *testing.B, p *plan.Plan, extraVMs int) *vsphere.Client {
	b.Helper()
	s, err := sim.Start(context.Background(), sim.Options{Seed: seedFromPlan(p), VMs: extraVMs, Hosts: 4})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	c, err := vsphere.Connect(context.Background(), vsphere.Config{URL: s.URL().String(), Insecure: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Logout(context.Background()) })
	return c
}

// BenchmarkPlan10k is what `iclone-plan plan` does for a plan of 10,000
// clones against an inventory of 10,000 VMs: one inventory read and the
// pure diff. It reports the SOAP round trips per plan (the target is at
// most 5 whatever the size) and the heap in use after the plan.
//
//	go test ./cmd/iclone-plan -run '^$' -bench 'Plan10k' -benchmem -benchtime 5x
func BenchmarkPlan10k(b *testing.B) {
	p := benchPlan(b, 10, 1000)
	c := planBench(b, p, 10000)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	var trips int64
	var vms int
	for b.Loop() {
		before := c.RoundTrips()
		inv, err := c.ReadInventory(ctx, "DC0")
		if err != nil {
			b.Fatal(err)
		}
		ch := plan.Diff(p, inv, plan.Options{})
		if ch.Count(plan.Create) != 10000 {
			b.Fatalf("%d creates", ch.Count(plan.Create))
		}
		trips += c.RoundTrips() - before
		vms = len(inv.VMs)
	}
	b.StopTimer()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(trips)/float64(b.N), "round-trips/op")
	b.ReportMetric(float64(vms), "vms")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MB")
}

// BenchmarkPlan10kNaive is the comparison: the same inventory read one
// property read per VM, as a loop over `govc vm.info` would.
//
//	go test ./cmd/iclone-plan -run '^$' -bench 'Plan10kNaive' -benchmem -benchtime 1x
func BenchmarkPlan10kNaive(b *testing.B) {
	p := benchPlan(b, 10, 1000)
	c := planBench(b, p, 10000)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	var trips int64
	for b.Loop() {
		before := c.RoundTrips()
		m := view.NewManager(c.Vim)
		v, err := m.CreateContainerView(ctx, c.Vim.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
		if err != nil {
			b.Fatal(err)
		}
		refs, err := v.Find(ctx, []string{"VirtualMachine"}, nil)
		if err != nil {
			b.Fatal(err)
		}
		for _, ref := range refs {
			_, err := methods.RetrievePropertiesEx(ctx, c.Vim, &types.RetrievePropertiesEx{
				This: c.Vim.ServiceContent.PropertyCollector,
				SpecSet: []types.PropertyFilterSpec{{
					ObjectSet: []types.ObjectSpec{{Obj: ref}},
					PropSet:   []types.PropertySpec{{Type: "VirtualMachine", PathSet: []string{"name", "parent", "runtime.powerState", "config.hardware.device", `config.extraConfig["iclone.plan"]`}}},
				}},
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		_ = v.Destroy(ctx)
		trips += c.RoundTrips() - before
	}
	b.ReportMetric(float64(trips)/float64(b.N), "round-trips/op")
}
