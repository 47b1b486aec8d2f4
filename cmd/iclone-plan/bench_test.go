package main

import (
	"context"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/iclone-plan/iclone-plan/internal/plan"
	"github.com/iclone-plan/iclone-plan/internal/sim"
	"github.com/iclone-plan/iclone-plan/internal/vsphere"
)

const benchPlanFile = "testdata/bench/plan10k.yaml"

// planBench loads the benchmark plan and connects to a simulator serving
// its sources plus 10,000 extra VMs: the one named by GOVC_URL (started in
// another process, so that only the client is measured), else one started
// in this process.
func planBench(b *testing.B) (*plan.Plan, *vsphere.Client) {
	b.Helper()
	p, err := plan.Load(benchPlanFile)
	if err != nil {
		b.Fatal(err)
	}
	cfg := vsphere.ConfigFromEnv(os.Getenv)
	if cfg.URL == "" {
		s, err := sim.Start(context.Background(), sim.Options{Seed: seedFromPlan(p), VMs: 10000, Hosts: 4})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(s.Close)
		cfg = vsphere.Config{URL: s.URL().String(), Insecure: true}
	}
	c, err := vsphere.Connect(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Logout(context.Background()) })
	return p, c
}

// cpuTime is the user+system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPlan10k is what `iclone-plan plan` does for a plan of 10,000
// clones against an inventory of 10,000 VMs: one inventory read and the
// pure diff. It reports the SOAP round trips per plan (the target is at
// most 5 whatever the size), the heap in use after the plan and the CPU
// time per plan. With the simulator in this process, its serving cost is
// included in every figure; see BENCHMARKS.md for the client-only run.
//
//	go test ./cmd/iclone-plan -run '^$' -bench 'Plan10k$' -benchmem -benchtime 5x
func BenchmarkPlan10k(b *testing.B) {
	p, c := planBench(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	var trips int64
	var vms int
	var peak uint64
	cpu := cpuTime()
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
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	b.StopTimer()
	b.ReportMetric(float64(trips)/float64(b.N), "round-trips/op")
	b.ReportMetric(float64(vms), "vms")
	b.ReportMetric(float64(peak)/(1<<20), "heap-MB")
	b.ReportMetric((cpuTime()-cpu).Seconds()/float64(b.N), "cpu-s/op")
}

// BenchmarkPlan10kNaive is the comparison: the same inventory read one
// property read per VM, as a loop over `govc vm.info` would.
//
//	go test ./cmd/iclone-plan -run '^$' -bench 'Plan10kNaive' -benchmem -benchtime 1x
func BenchmarkPlan10kNaive(b *testing.B) {
	_, c := planBench(b)
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
