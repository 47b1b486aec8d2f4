package vsphere

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/task"

	"github.com/iclone-plan/iclone-plan/internal/sim"
)

// Concurrent instant clones share one task poller: waiting for 32 tasks
// costs a few polls in all, not a property collector per task, and a task
// that fails returns its fault as govmomi's WaitForResult does.
func TestInstantClonesShareOnePoller(t *testing.T) {
	const n = 32
	ctx := context.Background()
	s, err := sim.Start(ctx, sim.Options{Latency: 100 * time.Millisecond, FailClone: n, Seed: &sim.Seed{Datacenter: "Lab",
		Sources: []sim.SeedSource{{Path: "/Lab/vm/golden/web", NICs: []sim.SeedNIC{{Adapter: 1}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	c := connect(t, Config{URL: s.URL().String(), Insecure: true})
	ops, err := c.Ops(ctx, "/Lab")
	if err != nil {
		t.Fatal(err)
	}
	src, err := find.NewFinder(c.Vim).VirtualMachine(ctx, "/Lab/vm/golden/web")
	if err != nil {
		t.Fatal(err)
	}
	// Warm the caches (source devices, folder): they are read once.
	if _, err := ops.InstantClone(ctx, &CloneSpec{Source: src.Reference().Value, Name: "warm", Folder: "/Lab/vm"}, nil); err != nil {
		t.Fatal(err)
	}
	before := c.RoundTrips()
	var wg sync.WaitGroup
	errs := make([]error, n-1)
	for i := range n - 1 {
		wg.Go(func() {
			_, errs[i] = ops.InstantClone(ctx, &CloneSpec{Source: src.Reference().Value, Name: fmt.Sprintf("c%02d", i), Folder: "/Lab/vm"}, nil)
		})
	}
	wg.Wait()
	trips := c.RoundTrips() - before
	failed := 0
	for _, err := range errs {
		if err == nil {
			continue
		}
		failed++
		var te task.Error
		if !errors.As(err, &te) {
			t.Errorf("the injected failure is %T %v, want a task.Error", err, err)
		}
	}
	if failed != 1 {
		t.Errorf("%d clones failed, want the one injected", failed)
	}
	// One InstantClone_Task per clone plus the polls (about 30 here); a
	// property collector per task would take six or more per clone. The
	// bound leaves room for a slow machine.
	if trips > 4*(n-1) {
		t.Errorf("%d round trips for %d clones, want at most %d", trips, n-1, 4*(n-1))
	}
	t.Logf("%d round trips for %d concurrent clones", trips, n-1)
}
