package vsphere

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/vim25/soap"

	"github.com/iclone-plan/iclone-plan/internal/sim"
	"github.com/iclone-plan/iclone-plan/internal/sim/simproc"
)

// methodCounter counts SOAP requests by method.
type methodCounter struct {
	next soap.RoundTripper
	mu   sync.Mutex
	n    map[string]int
}

func (m *methodCounter) RoundTrip(ctx context.Context, req, res soap.HasFault) error {
	name := strings.TrimSuffix(reflect.TypeOf(req).Elem().Name(), "Body")
	m.mu.Lock()
	m.n[name]++
	m.mu.Unlock()
	return m.next.RoundTrip(ctx, req, res)
}

func (m *methodCounter) count(name string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n[name]
}

// Waiting for 500 clones takes one property collector, one view and one
// filter; every clone is ready when its guest reports; the one whose guest
// never comes up times out with what it is missing.
func TestReadyWaiter500(t *testing.T) {
	const n = 500
	s := simproc.Start(t, sim.Options{
		Seed:            &sim.Seed{Datacenter: "Lab", Sources: []sim.SeedSource{{Path: "/Lab/vm/golden/web"}}},
		GuestReadyAfter: 200 * time.Millisecond,
		GuestNeverReady: n,    // the last clone
		FrozenSources:   true, // 500 clones of a running source would pass 255 delta levels
	})
	ctx := context.Background()
	c := connect(t, Config{URL: s.URL, CACerts: s.CA})
	src, err := find.NewFinder(c.Vim).VirtualMachine(ctx, "/Lab/vm/golden/web")
	if err != nil {
		t.Fatal(err)
	}
	ops, err := c.Ops(ctx, "/Lab")
	if err != nil {
		t.Fatal(err)
	}
	// Make the clones (their guests come up 200 ms after power-on)...
	refs := make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			name := fmt.Sprintf("c%03d", i+1)
			ref, err := ops.InstantClone(cctx, &CloneSpec{Source: src.Reference().Value, Name: name, Folder: "/Lab/vm",
				ExtraConfig: map[string]string{sim.GuestNameKey: name}}, nil)
			if err != nil {
				t.Error(err)
			}
			refs[i] = ref
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// ...then wait for all of them at once, counting the calls.
	counter := &methodCounter{next: c.Vim.RoundTripper, n: map[string]int{}}
	c.Vim.RoundTripper = counter
	w, err := c.NewReadyWaiter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(ctx)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			errs[i] = w.Wait(wctx, refs[i], ReadyCond{Tools: true, Key: sim.GuestReadyKey, Value: fmt.Sprintf("c%03d", i+1)})
		}()
	}
	wg.Wait()
	// The 500th InstantClone_Task call (whichever clone that was) never
	// comes up; every other clone is ready.
	ready, never := 0, 0
	for i, err := range errs {
		switch {
		case err == nil:
			ready++
		case strings.Contains(err.Error(), `VMware Tools are "guestToolsNotRunning"`) && strings.Contains(err.Error(), "guestinfo.iclone.ready is \"\""):
			never++
		default:
			t.Errorf("clone %d: %v", i+1, err)
		}
	}
	if ready != n-1 || never != 1 {
		t.Errorf("%d clones ready and %d never ready, want %d and 1", ready, never, n-1)
	}
	for _, m := range []string{"CreatePropertyCollector", "CreateFilter", "CreateListView"} {
		if got := counter.count(m); got != 1 {
			t.Errorf("%s called %d times to wait for %d clones, want 1", m, got, n)
		}
	}
	t.Logf("%d clones ready with %d filter(s), %d ModifyListView calls", ready, counter.count("CreateFilter"), counter.count("ModifyListView"))
}
