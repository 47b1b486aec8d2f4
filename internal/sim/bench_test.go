package sim

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmware/govmomi/vim25/types"
)

// BenchmarkInstantClone measures instant clones per second through the
// simulator alone (no timing model): parallel clients each submit an
// InstantClone_Task over HTTPS and wait for it (govmomi's WaitForResult),
// round-robin over 64 sources, into 8 folders (vcsim creates the VMs of one
// folder one at a time, as a plan's groups would not).
//
//	go test ./internal/sim -run '^$' -bench InstantClone -benchmem
func BenchmarkInstantClone(b *testing.B) {
	const sources = 64
	const folders = 8
	seed := &Seed{Datacenter: "Bench"}
	for i := range folders {
		seed.Folders = append(seed.Folders, fmt.Sprintf("/Bench/vm/clones/f%d", i))
	}
	for i := range sources {
		seed.Sources = append(seed.Sources, SeedSource{Path: fmt.Sprintf("/Bench/vm/golden/src-%02d", i), NICs: []SeedNIC{{Adapter: 2}}, SerialPorts: 1})
	}
	e := start(b, Options{Seed: seed, Hosts: 4})
	srcs, err := e.find().VirtualMachineList(e.ctx, "/Bench/vm/golden/*")
	if err != nil || len(srcs) != sources {
		b.Fatalf("sources: %d, %v", len(srcs), err)
	}
	var dests []*types.ManagedObjectReference
	for i := range folders {
		dests = append(dests, ref(e.folder(fmt.Sprintf("/Bench/vm/clones/f%d", i))))
	}
	if b.N > sources*MaxDeltaLevels {
		b.Fatalf("b.N = %d exceeds the %d clones the sources' delta chains allow", b.N, sources*MaxDeltaLevels)
	}
	var n atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	begin := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			info := e.clone(srcs[int(i)%sources], types.VirtualMachineInstantCloneSpec{
				Name:     fmt.Sprintf("bench-%06d", i),
				Location: types.VirtualMachineRelocateSpec{Folder: dests[int(i)%folders]},
				Config:   []types.BaseOptionValue{&types.OptionValue{Key: "guestinfo.hostname", Value: fmt.Sprintf("bench-%06d", i)}},
			})
			if info.Error != nil {
				b.Error(info.Error.LocalizedMessage)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(begin).Seconds(), "clones/s")
}
