package executor_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iclone-plan/iclone-plan/internal/cloud"
	"github.com/iclone-plan/iclone-plan/internal/executor"
	"github.com/iclone-plan/iclone-plan/internal/inventory"
	"github.com/iclone-plan/iclone-plan/internal/plan"
)

// slowCloud is a Cloud whose instant clones take a fixed time; it records
// how many run at once per source and the order of the sources started.
type slowCloud struct {
	d time.Duration

	mu       sync.Mutex
	inflight map[string]int
	peak     map[string]int
	order    []string
	n        int
}

func (c *slowCloud) EnsureFolder(context.Context, string) (bool, error) { return false, nil }
func (c *slowCloud) RemoveFolder(context.Context, string) error         { return nil }
func (c *slowCloud) FindVM(context.Context, string, string) (string, map[string]string, error) {
	return "", nil, nil
}
func (c *slowCloud) Destroy(context.Context, string) error                      { return nil }
func (c *slowCloud) Rename(context.Context, string, string) error               { return nil }
func (c *slowCloud) Reconfigure(context.Context, string, *cloud.VMChange) error { return nil }
func (c *slowCloud) WaitGuest(context.Context, string, cloud.Ready) error       { return nil }
func (c *slowCloud) InstantClone(_ context.Context, req *cloud.CloneRequest, started func(string)) (string, error) {
	c.mu.Lock()
	c.n++
	vm := fmt.Sprintf("vm-new-%d", c.n)
	c.inflight[req.Source]++
	c.peak[req.Source] = max(c.peak[req.Source], c.inflight[req.Source])
	c.order = append(c.order, req.Source)
	c.mu.Unlock()
	started("task-" + vm)
	time.Sleep(c.d)
	c.mu.Lock()
	c.inflight[req.Source]--
	c.mu.Unlock()
	return vm, nil
}

// The scheduler spreads the tasks in flight over the sources (whose stun
// phases vSphere serializes) and over the hosts by their remaining work,
// instead of starting clones in plan order: with four slots, the four
// sources of a plan whose first group is the largest each get one.
func TestScheduleSpreadsOverSourcesAndHosts(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: 1\nname: spread\ndatacenter: L\ndefaults:\n  folder: /L/vm/c\nexecution:\n  parallelism: 4\n  perHost: 3\n  perSource: 0\n  rate: 1000/s\ngroups:\n")
	inv := &inventory.Inventory{Datacenter: "/L", Folders: map[string]bool{"/L/vm": true, "/L/vm/c": true},
		Hosts:    map[string]inventory.Host{"host-1": {Ref: "host-1", Name: "h1", ConnectionState: "connected"}, "host-2": {Ref: "host-2", Name: "h2", ConnectionState: "connected"}},
		Networks: map[string]bool{}, Datastores: map[string]bool{}, Pools: map[string]bool{}, ReadAt: time.Now()}
	for i, src := range []struct {
		name, host string
		count      int
	}{{"a1", "host-1", 12}, {"a2", "host-1", 4}, {"a3", "host-1", 4}, {"b1", "host-2", 4}} {
		fmt.Fprintf(&b, "  - name: %s\n    source: /L/vm/golden/%s\n    count: %d\n", src.name, src.name, src.count)
		inv.VMs = append(inv.VMs, inventory.VM{Ref: fmt.Sprintf("vm-%d", i+1), Name: src.name, Path: "/L/vm/golden/" + src.name,
			Folder: "/L/vm/golden", HostRef: src.host, PoolRef: "pool-1", PowerState: "poweredOn", InstanceUUID: fmt.Sprintf("uuid-%d", i)})
	}
	p, err := plan.Parse("spread.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	ch := plan.Diff(p, inv, plan.Options{})
	if err := ch.Err(); err != nil {
		t.Fatal(err)
	}
	cloud := &slowCloud{d: 20 * time.Millisecond, inflight: map[string]int{}, peak: map[string]int{}}
	if _, err := executor.Run(context.Background(), ch, cloud, executor.OptionsFrom(p.Execution, "run-1")); err != nil {
		t.Fatal(err)
	}
	if cloud.n != 24 {
		t.Fatalf("%d clones, want 24", cloud.n)
	}
	first := map[string]bool{}
	for _, s := range cloud.order[:4] {
		first[s] = true
	}
	if len(first) != 4 {
		t.Errorf("the first four clones went to sources %v; want one per source", cloud.order[:4])
	}
	// a1 has half the work: once the others are done it may run up to the
	// limits, but never two at once while another source has nothing.
	for _, s := range []string{"vm-2", "vm-3", "vm-4"} {
		if cloud.peak[s] > 1 {
			t.Errorf("source %s had %d clones in flight at once, want 1", s, cloud.peak[s])
		}
	}
}
