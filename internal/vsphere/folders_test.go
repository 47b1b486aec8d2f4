package vsphere

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/iclone-plan/iclone-plan/internal/sim"
)

// Folders are made concurrently: ten siblings whose missing parent they
// all need are each made once, the parent once, without a DuplicateName.
func TestEnsureFolderConcurrent(t *testing.T) {
	_, ops := cacheEnv(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	created := make([]bool, 10)
	errs := make([]error, 10)
	for i := range created {
		wg.Go(func() { created[i], errs[i] = ops.EnsureFolder(ctx, fmt.Sprintf("/Lab/vm/lab/g%d", i)) })
	}
	wg.Wait()
	for i := range created {
		if errs[i] != nil || !created[i] {
			t.Errorf("folder g%d: created %v, %v", i, created[i], errs[i])
		}
	}
	ref, err := object.NewSearchIndex(ops.c.Vim).FindByInventoryPath(ctx, "/Lab/vm/lab")
	if err != nil || ref == nil {
		t.Fatalf("parent folder: %v %v", ref, err)
	}
	children, err := ref.(*object.Folder).Children(ctx)
	if err != nil || len(children) != 10 {
		t.Fatalf("the parent has %d children (%v), want the 10 folders", len(children), err)
	}
	// Made again: nothing to do.
	if c, err := ops.EnsureFolder(ctx, "/Lab/vm/lab/g3"); c || err != nil {
		t.Errorf("an existing folder: created %v, %v", c, err)
	}
}

// The first lookups of a network and a resource pool may come from many
// clones at once: each gives the same answer (and, under the race
// detector, govmomi's Finder is not used concurrently).
func TestOpsLookupsConcurrent(t *testing.T) {
	l := newWebLab(t, sim.Options{})
	ctx := context.Background()
	const n = 32
	backings := make([]types.BaseVirtualDeviceBackingInfo, n)
	pools := make([]*object.ResourcePool, n)
	errs := make([]error, 2*n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { backings[i], errs[i] = l.ops.networkBacking(ctx, "VM Network") })
		wg.Go(func() { pools[i], errs[n+i] = l.ops.pool(ctx, "/Lab/host/cluster1/Resources") })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("lookup %d: %v", i, err)
		}
	}
	for i := range n {
		if backings[i] == nil || !reflect.DeepEqual(backings[i], backings[0]) {
			t.Errorf("lookup %d of the network: %#v, want %#v", i, backings[i], backings[0])
		}
		if pools[i] == nil || pools[i].Reference() != pools[0].Reference() {
			t.Errorf("lookup %d of the pool: %v, want %v", i, pools[i], pools[0])
		}
	}
}
