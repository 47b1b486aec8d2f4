package vsphere

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/vmware/govmomi/object"
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
