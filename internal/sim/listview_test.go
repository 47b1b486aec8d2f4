package sim

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
)

// A client that changes a list view while it waits for updates of a filter
// over that view (as the ready waiter does) never deadlocks the two calls,
// and the filter reports the VMs added to the view. vcsim's own
// ModifyListView took the filter's lock while it held the view's, and
// WaitForUpdatesEx the other way round: without listViewNotifyLater this
// test hangs within a few hundred rounds, and every call on the view after.
func TestListViewChangesWhileWaiting(t *testing.T) {
	e := start(t, Options{Seed: &Seed{Datacenter: "Lab", Sources: []SeedSource{{Path: "/Lab/vm/golden/web"}}}, VMs: 20})
	var vms []types.ManagedObjectReference
	for _, o := range e.sim.Model().Map().All("VirtualMachine") {
		vms = append(vms, o.Reference())
	}
	lv, err := view.NewManager(e.c).CreateListView(e.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := property.DefaultCollector(e.c).Create(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.CreateFilter(e.ctx, types.CreateFilter{Spec: types.PropertyFilterSpec{
		ObjectSet: []types.ObjectSpec{{Obj: lv.Reference(), Skip: types.NewBool(true),
			SelectSet: []types.BaseSelectionSpec{&types.TraversalSpec{Type: "ListView", Path: "view"}}}},
		PropSet: []types.PropertySpec{{Type: "VirtualMachine", PathSet: []string{"runtime.powerState"}}},
	}}); err != nil {
		t.Fatal(err)
	}

	// Every call is bounded: a deadlocked one fails the test instead of
	// hanging it.
	ctx, cancel := context.WithTimeout(e.ctx, time.Minute)
	defer cancel()
	stop := time.Now().Add(3 * time.Second)
	seen := map[types.ManagedObjectReference]bool{}
	var wg sync.WaitGroup
	wg.Go(func() {
		version := ""
		for time.Now().Before(stop) && ctx.Err() == nil {
			res, err := methods.WaitForUpdatesEx(ctx, e.c, &types.WaitForUpdatesEx{This: pc.Reference(), Version: version,
				Options: &types.WaitOptions{MaxWaitSeconds: types.NewInt32(1)}})
			if err != nil {
				t.Errorf("WaitForUpdatesEx: %v", err)
				return
			}
			if set := res.Returnval; set != nil {
				version = set.Version
				for _, fs := range set.FilterSet {
					for _, u := range fs.ObjectSet {
						seen[u.Obj] = true
					}
				}
			}
		}
	})
	rounds := 0
	for time.Now().Before(stop) && ctx.Err() == nil {
		vm := vms[rounds%len(vms)]
		if _, err := lv.Add(ctx, []types.ManagedObjectReference{vm}); err != nil {
			t.Fatalf("round %d: add: %v", rounds, err)
		}
		if rounds%2 == 1 {
			if _, err := lv.Remove(ctx, []types.ManagedObjectReference{vm}); err != nil {
				t.Fatalf("round %d: remove: %v", rounds, err)
			}
		}
		rounds++
	}
	wg.Wait()
	if err := lv.Destroy(ctx); err != nil {
		t.Fatalf("destroying the view after %d rounds: %v", rounds, err)
	}
	if len(seen) == 0 {
		t.Errorf("the filter reported none of the VMs added to the view in %d rounds", rounds)
	}
	t.Logf("%d rounds of view changes; the filter reported %d of %d VMs", rounds, len(seen), len(vms))
}
