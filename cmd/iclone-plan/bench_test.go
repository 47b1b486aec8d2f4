//go:build unix

package main

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/iclone-plan/iclone-plan/internal/apply"
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
// clones against an inventory of 10,000 VMs: one inventory read (the
// sources always read afresh) and the pure diff. It reports the SOAP round
// trips per plan (the target is at most 5 whatever the size), the heap in
// use after the plan and the CPU time per plan. cache=cold starts every
// plan with an empty inventory cache (the first plan against a vCenter,
// or --refresh: every VM's devices are read); cache=warm with the cache the
// previous plan left (a plan run again, as cron does: only VMs whose
// configuration changed are read again, here none). With the simulator in
// this process, its serving cost is included in every figure; see
// BENCHMARKS.md for the client-only run.
//
//	go test ./cmd/iclone-plan -run '^$' -bench 'Plan10k$' -benchmem -benchtime 5x
func BenchmarkPlan10k(b *testing.B) {
	p, c := planBench(b)
	for _, warm := range []bool{false, true} {
		name := "cache=cold"
		if warm {
			name = "cache=warm"
		}
		b.Run(name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "inventory.json")
			if warm {
				planOnce(b, p, c, vsphere.OpenDeviceCache(path))
			}

			b.ReportAllocs()
			b.ResetTimer()
			var trips int64
			var vms int
			var peak uint64
			cpu := cpuTime()
			for b.Loop() {
				cache := vsphere.OpenDeviceCache(path)
				if !warm {
					cache.Reset()
				}
				before := c.RoundTrips()
				vms = planOnce(b, p, c, cache)
				trips += c.RoundTrips() - before
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)

			}
			b.StopTimer()
			b.ReportMetric(float64(trips)/float64(b.N), "round-trips/op")
			b.ReportMetric(float64(vms), "vms")
			b.ReportMetric(float64(peak)/(1<<20), "heap-MB")
			b.ReportMetric((cpuTime()-cpu).Seconds()/float64(b.N), "cpu-s/op")
		})
	}
}

// planOnce reads the inventory with cache (saving it) and plans p; it
// returns the number of VMs read.
func planOnce(b *testing.B, p *plan.Plan, c *vsphere.Client, cache *vsphere.DeviceCache) int {
	b.Helper()
	inv, err := c.ReadInventoryWith(context.Background(), "DC0", vsphere.ReadOptions{Cache: cache, Fresh: apply.SourcePaths(p)})
	if err != nil {
		b.Fatal(err)
	}
	if err := cache.Save(); err != nil {
		b.Fatal(err)
	}
	ch := plan.Diff(p, inv, plan.Options{})
	if ch.Count(plan.Create) != 10000 {
		b.Fatalf("%d creates", ch.Count(plan.Create))
	}
	return len(inv.VMs)
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
