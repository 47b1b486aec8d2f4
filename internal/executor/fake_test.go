package executor_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iclone-plan/iclone-plan/internal/cloud"
	"github.com/iclone-plan/iclone-plan/internal/executor"
	"github.com/iclone-plan/iclone-plan/internal/inventory"
	"github.com/iclone-plan/iclone-plan/internal/ownership"
	"github.com/iclone-plan/iclone-plan/internal/plan"
)

// fakeCloud is an in-memory vCenter behind the executor's Cloud, fast
// enough to run the executor's scheduling, retry, swap and rollback logic
// many times over, with fault injection (fail) and the invariants of
// docs/design.md (section 7) checked after every change it makes: no two
// connected NICs share a MAC, and no VM without the plan's marker is
// modified or destroyed.
type fakeCloud struct {
	plan    string
	latency time.Duration // of each instant clone
	// fail, if set, is asked before each call (op is the method name, n
	// the 1-based count of that method's calls, name the VM's name) and
	// returns the call's fault, if any. leave makes a failed InstantClone
	// leave its half-made VM behind, powered off.
	fail func(op string, n int, name string) (f *cloud.Fault, leave bool)
	// onClone, if set, is called as each clone task starts.
	onClone func(n int)

	mu         sync.Mutex
	vms        map[string]*fakeVM
	folders    map[string]bool
	next       int
	calls      map[string]int
	inflight   map[string]int // by "host:REF", "source:REF" and "all"
	peak       map[string]int
	violations []string
}

type fakeVM struct {
	ref, name, folder, host, uuid string
	power                         string
	nics                          []inventory.NIC
	serial                        []inventory.SerialPort
	markers                       map[string]string
}

// newFakeCloud holds labPlan's sources (web on host-1, db on host-2) and a
// VM no plan owns.
func newFakeCloud() *fakeCloud {
	c := &fakeCloud{plan: "lab", vms: map[string]*fakeVM{}, calls: map[string]int{},
		folders:  map[string]bool{"/Lab/vm": true, "/Lab/vm/golden": true},
		inflight: map[string]int{}, peak: map[string]int{}}
	c.vms["vm-web"] = &fakeVM{ref: "vm-web", name: "web", folder: "/Lab/vm/golden", host: "host-1", uuid: "uuid-web", power: "poweredOn",
		nics: []inventory.NIC{{Adapter: 1, Key: 4000, MAC: "00:50:56:80:00:01", Network: "VM Network", Connected: true, StartConnected: true},
			{Adapter: 2, Key: 4001, MAC: "00:50:56:80:00:02", Network: "VM Network", Connected: true, StartConnected: true}},
		serial: []inventory.SerialPort{{Port: 1, Key: 9000}}}
	c.vms["vm-db"] = &fakeVM{ref: "vm-db", name: "db", folder: "/Lab/vm/golden", host: "host-2", uuid: "uuid-db", power: "poweredOn",
		nics: []inventory.NIC{{Adapter: 1, Key: 4000, MAC: "00:50:56:80:00:03", Network: "VM Network", Connected: true, StartConnected: true}}}
	c.vms["vm-other"] = &fakeVM{ref: "vm-other", name: "other", folder: "/Lab/vm", host: "host-1", uuid: "uuid-other", power: "poweredOn",
		nics: []inventory.NIC{{Adapter: 1, Key: 4000, MAC: "00:50:56:80:00:04", Network: "VM Network", Connected: true, StartConnected: true}}}
	return c
}

// inventory is what vsphere's read would make of the fake.
func (c *fakeCloud) inventory() *inventory.Inventory {
	c.mu.Lock()
	defer c.mu.Unlock()
	inv := &inventory.Inventory{Datacenter: "/Lab", Folders: maps.Clone(c.folders),
		Hosts: map[string]inventory.Host{"host-1": {Ref: "host-1", Name: "esxi-01", ConnectionState: "connected"},
			"host-2": {Ref: "host-2", Name: "esxi-02", ConnectionState: "connected"}},
		Networks: map[string]bool{"VM Network": true, "Lab-Net": true}, Datastores: map[string]bool{"datastore1": true},
		Pools: map[string]bool{}, ReadAt: time.Now()}
	for _, ref := range slices.Sorted(maps.Keys(c.vms)) {
		v := c.vms[ref]
		inv.VMs = append(inv.VMs, inventory.VM{Ref: v.ref, Name: v.name, Path: v.folder + "/" + v.name, Folder: v.folder,
			HostRef: v.host, PoolRef: "pool-1", PowerState: v.power, InstanceUUID: v.uuid, Markers: maps.Clone(v.markers),
			NICs: slices.Clone(v.nics), Serial: slices.Clone(v.serial), DiskChainDepth: []int{0}})
	}
	return inv
}

// state describes every VM and folder, to compare before and after.
func (c *fakeCloud) state() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]string{}
	for _, v := range c.vms {
		var marks []string
		for _, k := range slices.Sorted(maps.Keys(v.markers)) {
			marks = append(marks, k+"="+v.markers[k])
		}
		out["vm "+v.folder+"/"+v.name] = fmt.Sprintf("%s %s %v %v", v.ref, v.power, v.nics, marks)
	}
	for f := range c.folders {
		out["folder "+f] = ""
	}
	return out
}

// call counts a call and asks fail about it; under c.mu.
func (c *fakeCloud) call(op, name string) (*cloud.Fault, bool) {
	c.calls[op]++
	if c.fail == nil {
		return nil, false
	}
	return c.fail(op, c.calls[op], name)
}

// check records a broken invariant; under c.mu.
func (c *fakeCloud) check(what string) {
	seen := map[string]string{}
	for _, ref := range slices.Sorted(maps.Keys(c.vms)) {
		for _, n := range c.vms[ref].nics {
			if !n.Connected {
				continue
			}
			if other, dup := seen[n.MAC]; dup {
				c.violations = append(c.violations, fmt.Sprintf("after %s: MAC %s connected on %s and %s", what, n.MAC, other, ref))
			}
			seen[n.MAC] = ref
		}
	}
}

// owned records a change to a VM the plan does not own; under c.mu.
func (c *fakeCloud) owned(v *fakeVM, what string) {
	if v.markers[ownership.KeyPlan] != c.plan {
		c.violations = append(c.violations, fmt.Sprintf("%s of %s (%s), which the plan does not own", what, v.name, v.ref))
	}
}

func (c *fakeCloud) track(delta int, keys ...string) {
	for _, k := range keys {
		c.inflight[k] += delta
		c.peak[k] = max(c.peak[k], c.inflight[k])
	}
}

func (c *fakeCloud) EnsureFolder(_ context.Context, p string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, _ := c.call("EnsureFolder", p); f != nil {
		return false, f
	}
	if c.folders[p] {
		return false, nil
	}
	for q := p; q != "/Lab/vm" && !c.folders[q]; q = path.Dir(q) {
		c.folders[q] = true
	}
	return true, nil
}

func (c *fakeCloud) RemoveFolder(_ context.Context, p string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, _ := c.call("RemoveFolder", p); f != nil {
		return f
	}
	for _, v := range c.vms {
		if v.folder == p {
			return nil
		}
	}
	for q := range c.folders {
		if path.Dir(q) == p {
			return nil
		}
	}
	delete(c.folders, p)
	return nil
}

func (c *fakeCloud) taken(folder, name string) bool {
	for _, v := range c.vms {
		if v.folder == folder && v.name == name {
			return true
		}
	}
	return false
}

func (c *fakeCloud) InstantClone(ctx context.Context, req *cloud.CloneRequest, started func(string)) (string, error) {
	c.mu.Lock()
	f, leave := c.call("InstantClone", req.Name)
	n := c.calls["InstantClone"]
	src := c.vms[req.Source]
	if src == nil {
		c.mu.Unlock()
		return "", &cloud.Fault{Class: cloud.NotFound, Name: "ManagedObjectNotFound", Err: errors.New("no source " + req.Source)}
	}
	if !c.folders[req.Folder] {
		c.mu.Unlock()
		return "", &cloud.Fault{Class: cloud.Permanent, Name: "InvalidArgument", Err: errors.New("no folder " + req.Folder)}
	}
	keys := []string{"all", "host:" + src.host, "source:" + src.ref}
	c.track(1, keys...)
	c.next++
	task := fmt.Sprintf("task-%d", c.next)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.track(-1, keys...)
		c.mu.Unlock()
	}()
	started(task)
	if c.onClone != nil {
		c.onClone(n)
	}
	if c.latency > 0 {
		select {
		case <-time.After(c.latency):
		case <-ctx.Done():
			// The task goes on in vCenter; the caller stops waiting.
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.taken(req.Folder, req.Name) {
		return "", &cloud.Fault{Class: cloud.Permanent, Name: "DuplicateName", TaskEnded: true,
			Err: fmt.Errorf("The name '%s' already exists.", req.Name)}
	}
	if f != nil && !leave {
		return "", f
	}
	c.next++
	v := &fakeVM{ref: fmt.Sprintf("vm-%d", c.next), name: req.Name, folder: req.Folder, host: src.host,
		uuid: fmt.Sprintf("uuid-%d", c.next), power: "poweredOn", markers: map[string]string{}}
	for _, k := range slices.Sorted(maps.Keys(req.ExtraConfig)) {
		if strings.HasPrefix(k, "iclone.") {
			v.markers[k] = req.ExtraConfig[k]
		}
	}
	for i, n := range src.nics {
		n.MAC = fmt.Sprintf("00:50:56:8f:%02x:%02x", c.next/256%256, c.next%256*4%256+i)
		for _, e := range req.NICs {
			if e.Adapter == n.Adapter {
				n.MAC = e.MAC
				if e.Network != "" {
					n.Network = e.Network
				}
			}
		}
		n.Connected, n.StartConnected = !req.Disconnected, !req.Disconnected
		v.nics = append(v.nics, n)
	}
	for _, sp := range src.serial {
		for _, e := range req.Serial {
			if e.Port == sp.Port {
				sp.File = e.File
			}
		}
		v.serial = append(v.serial, sp)
	}
	if f != nil { // a half-made clone: powered off, left behind
		v.power = "poweredOff"
		for i := range v.nics {
			v.nics[i].Connected = false
		}
	}
	c.vms[v.ref] = v
	c.check("clone " + req.Name)
	if f != nil {
		return "", f
	}
	return v.ref, nil
}

func (c *fakeCloud) FindVM(_ context.Context, folder, name string) (string, map[string]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, _ := c.call("FindVM", name); f != nil {
		return "", nil, f
	}
	for _, v := range c.vms {
		if v.folder == folder && v.name == name {
			return v.ref, maps.Clone(v.markers), nil
		}
	}
	return "", nil, nil
}

func (c *fakeCloud) Destroy(_ context.Context, ref string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.vms[ref]
	if v == nil {
		return nil
	}
	if f, _ := c.call("Destroy", v.name); f != nil {
		return f
	}
	c.owned(v, "destroy")
	delete(c.vms, ref)
	return nil
}

func (c *fakeCloud) Rename(_ context.Context, ref, name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.vms[ref]
	if v == nil {
		return &cloud.Fault{Class: cloud.NotFound, Name: "ManagedObjectNotFound", Err: errors.New("no VM " + ref)}
	}
	if f, _ := c.call("Rename", v.name); f != nil {
		return f
	}
	c.owned(v, "rename")
	if c.taken(v.folder, name) {
		return &cloud.Fault{Class: cloud.Permanent, Name: "DuplicateName", TaskEnded: true, Err: fmt.Errorf("The name '%s' already exists.", name)}
	}
	v.name = name
	return nil
}

func (c *fakeCloud) Reconfigure(_ context.Context, ref string, ch *cloud.VMChange) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.vms[ref]
	if v == nil {
		return &cloud.Fault{Class: cloud.NotFound, Name: "ManagedObjectNotFound", Err: errors.New("no VM " + ref)}
	}
	if f, _ := c.call("Reconfigure", v.name); f != nil {
		return f
	}
	c.owned(v, "reconfigure")
	for i := range v.nics {
		if ch.Connect != nil {
			v.nics[i].Connected, v.nics[i].StartConnected = *ch.Connect, *ch.Connect
		}
		for _, r := range ch.Restore {
			if r.Key == v.nics[i].Key {
				v.nics[i].Connected, v.nics[i].StartConnected = r.Connected, r.StartConnected
			}
		}
	}
	for k, val := range ch.ExtraConfig {
		if val == "" {
			delete(v.markers, k)
		} else {
			v.markers[k] = val
		}
	}
	c.check("reconfigure " + v.name)
	return nil
}

func (c *fakeCloud) WaitGuest(ctx context.Context, ref string, _ cloud.Ready) error {
	c.mu.Lock()
	f, _ := c.call("WaitGuest", ref)
	c.mu.Unlock()
	if f != nil {
		return f
	}
	return ctx.Err()
}

var _ executor.Cloud = (*fakeCloud)(nil)

// fakeApply diffs p against the fake and runs the changes.
func fakeApply(t *testing.T, c *fakeCloud, p *plan.Plan, ctx context.Context, tweak func(*executor.Options)) (*executor.Report, error) {
	t.Helper()
	ch := plan.Diff(p, c.inventory(), plan.Options{})
	if err := ch.Err(); err != nil {
		t.Fatal(err)
	}
	opts := executor.OptionsFrom(p.Execution, fmt.Sprintf("run-%d", time.Now().UnixNano()))
	opts.Backoff = time.Millisecond
	opts.Rate = 0
	if tweak != nil {
		tweak(&opts)
	}
	return executor.Run(ctx, ch, c, opts)
}

// converged asserts that a plan of p against the fake has no changes and
// that exactly p's clones carry its marker, none half-way through a run.
func (c *fakeCloud) converged(t *testing.T, p *plan.Plan) {
	t.Helper()
	ch := plan.Diff(p, c.inventory(), plan.Options{})
	if ch.Err() != nil || ch.HasChanges() {
		t.Errorf("not converged: err %v, changes %v", ch.Err(), ch.HasChanges())
	}
	owned := 0
	for _, v := range c.inventory().VMs {
		if v.Owned(p.Name) {
			owned++
			if st := v.Markers[ownership.KeyState]; st != "" {
				t.Errorf("%s left %s", v.Name, st)
			}
		}
	}
	if owned != p.NumClones() {
		t.Errorf("%d VMs carry the plan's marker, the plan has %d clones", owned, p.NumClones())
	}
}

func transient(name string) *cloud.Fault {
	return &cloud.Fault{Class: cloud.Transient, Name: name, TaskEnded: true, Err: errors.New(name + " (injected)")}
}

func permanent(name string) *cloud.Fault {
	return &cloud.Fault{Class: cloud.Permanent, Name: name, TaskEnded: true, Err: errors.New(name + " (injected)")}
}

// failNth fails the nth call of op.
func failNth(op string, nth int, f *cloud.Fault, leave bool) func(string, int, string) (*cloud.Fault, bool) {
	return func(o string, n int, _ string) (*cloud.Fault, bool) {
		if o == op && n == nth {
			return f, leave
		}
		return nil, false
	}
}

// failAll fails every call of op on name (a prefix of it).
func failAll(op, name string, f *cloud.Fault) func(string, int, string) (*cloud.Fault, bool) {
	return func(o string, _ int, n string) (*cloud.Fault, bool) {
		if o == op && strings.HasPrefix(n, name) {
			return f, false
		}
		return nil, false
	}
}

// Creating labPlan's clones on the fake: each case injects faults into one
// kind of call at one moment, and the outcome, the attempts and what the
// inventory is afterwards must be what docs/design.md (sections 4, 5)
// says: transient faults are retried (a half-made VM removed first), a
// permanent one rolls the run back to the inventory before it (retrying
// transient rollback steps), a rollback step that keeps failing leaves a
// listed leftover, onFailure: continue goes on.
func TestFakeCreate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fail     func(string, int, string) (*cloud.Fault, bool)
		cont     bool
		outcome  executor.Outcome
		attempts map[string]int // by clone name
		leftover int
	}{
		{name: "clean", outcome: executor.OutcomeSuccess},
		{name: "transient clone fault retried", fail: failNth("InstantClone", 2, transient("TaskInProgress"), false),
			outcome: executor.OutcomeSuccess},
		{name: "transient fault leaving a half-made VM", fail: failNth("InstantClone", 3, transient("HostCommunication"), true),
			outcome: executor.OutcomeSuccess},
		{name: "permanent fault rolls back", fail: failNth("InstantClone", 4, permanent("InvalidArgument"), false),
			outcome: executor.OutcomeRolledBack},
		{name: "permanent fault leaving a half-made VM", fail: failNth("InstantClone", 4, permanent("SystemError"), true),
			outcome: executor.OutcomeRolledBack},
		{name: "retries exhausted", fail: failAll("InstantClone", "lab-db-2", transient("ResourceInUse")),
			outcome: executor.OutcomeRolledBack, attempts: map[string]int{"lab-db-2": 3}},
		{name: "a transient rollback destroy is retried", fail: func(op string, n int, name string) (*cloud.Fault, bool) {
			if op == "InstantClone" && name == "lab-db-2" {
				return permanent("NoPermission"), false
			}
			if op == "Destroy" && n <= 2 {
				return transient("TaskInProgress"), false
			}
			return nil, false
		}, outcome: executor.OutcomeRolledBack},
		{name: "a rollback destroy that keeps failing is a leftover", fail: func(op string, _ int, name string) (*cloud.Fault, bool) {
			if op == "InstantClone" && name == "lab-db-2" {
				return permanent("NoPermission"), false
			}
			if op == "Destroy" && name == "lab-web-01" {
				return permanent("NoPermission"), false
			}
			return nil, false
		}, outcome: executor.OutcomeRollbackIncomplete, leftover: 1},
		{name: "continue goes on", fail: failAll("InstantClone", "lab-web-02", permanent("InvalidArgument")), cont: true,
			outcome: executor.OutcomePartial},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newFakeCloud()
			p := parse(t, "1")
			before := c.state()
			c.fail = tc.fail
			rep, err := fakeApply(t, c, p, context.Background(), func(o *executor.Options) {
				o.Retries = 2
				o.Continue = tc.cont
				if tc.cont {
					o.MaxFailures = 10
				}
			})
			if rep.Outcome != tc.outcome {
				t.Fatalf("outcome %s (%v), want %s", rep.Outcome, err, tc.outcome)
			}
			if (err == nil) != (tc.outcome == executor.OutcomeSuccess) {
				t.Errorf("error %v with outcome %s", err, rep.Outcome)
			}
			for _, a := range rep.Actions {
				if want, ok := tc.attempts[a.Name]; ok && a.Attempts != want {
					t.Errorf("%s: %d attempts, want %d", a.Name, a.Attempts, want)
				}
			}
			if len(rep.Leftover) != tc.leftover {
				t.Errorf("leftover %+v, want %d", rep.Leftover, tc.leftover)
			}
			switch tc.outcome {
			case executor.OutcomeSuccess:
				c.fail = nil
				c.converged(t, p)
			case executor.OutcomeRolledBack:
				if diff := diffSnapshots(before, c.state()); diff != "" {
					t.Errorf("the rollback did not restore the inventory:\n%s", diff)
				}
			case executor.OutcomePartial:
				if len(rep.Failed()) != 1 || c.inventory() == nil {
					t.Errorf("failed actions %v", rep.Failed())
				}
				c.fail = nil
				if _, err := fakeApply(t, c, p, context.Background(), nil); err != nil {
					t.Fatalf("the next apply: %v", err)
				}
				c.converged(t, p)
			}
			if len(c.violations) > 0 {
				t.Errorf("invariants broken:\n%s", strings.Join(c.violations, "\n"))
			}
		})
	}
}

// Replacing every clone (a changed spec): each case fails one step of the
// swap (rename, reconfigure: the disconnect of the old clone, the connect
// of the new one) or of the commit at a given call; the run either
// converges or rolls back to the clones it started with, and at no moment
// are two connected NICs given the same MAC (checked after every change).
func TestFakeReplace(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fail    func(string, int, string) (*cloud.Fault, bool)
		outcome executor.Outcome
	}{
		{name: "clean", outcome: executor.OutcomeSuccess},
		{name: "first rename fails", fail: failNth("Rename", 1, permanent("DuplicateName"), false), outcome: executor.OutcomeRolledBack},
		{name: "a later rename fails", fail: failNth("Rename", 4, permanent("InvalidArgument"), false), outcome: executor.OutcomeRolledBack},
		{name: "a disconnect fails", fail: failNth("Reconfigure", 1, permanent("NoPermission"), false), outcome: executor.OutcomeRolledBack},
		{name: "a connect fails", fail: failNth("Reconfigure", 2, permanent("NoPermission"), false), outcome: executor.OutcomeRolledBack},
		// Swap steps are not retried (only clone tasks, rollback and commit
		// steps are): a transient fault there rolls the run back.
		{name: "a transient swap fault", fail: failNth("Reconfigure", 3, transient("TaskInProgress"), false), outcome: executor.OutcomeRolledBack},
		{name: "a transient commit destroy is retried", fail: failNth("Destroy", 1, transient("TaskInProgress"), false), outcome: executor.OutcomeSuccess},
		{name: "a replacement clone fails", fail: failNth("InstantClone", 5, permanent("InsufficientResourcesFault"), true), outcome: executor.OutcomeRolledBack},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newFakeCloud()
			v1, v2 := parse(t, "1"), parse(t, "2")
			if _, err := fakeApply(t, c, v1, context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			before := c.state()
			c.mu.Lock()
			c.calls, c.fail = map[string]int{}, tc.fail
			c.mu.Unlock()
			rep, err := fakeApply(t, c, v2, context.Background(), func(o *executor.Options) { o.Retries = 2 })
			if rep.Outcome != tc.outcome {
				t.Fatalf("outcome %s (%v), want %s", rep.Outcome, err, tc.outcome)
			}
			c.fail = nil
			switch tc.outcome {
			case executor.OutcomeSuccess:
				c.converged(t, v2)
				for _, a := range rep.Actions {
					if a.Op == executor.OpReplace && (a.VM == "" || a.OldVM == "" || a.VM == a.OldVM) {
						t.Errorf("replace %s: vm %q old %q", a.Name, a.VM, a.OldVM)
					}
				}
			case executor.OutcomeRolledBack:
				if diff := diffSnapshots(before, c.state()); diff != "" {
					t.Errorf("the rollback did not restore the inventory:\n%s", diff)
				}
				c.converged(t, v1)
			}
			if len(c.violations) > 0 {
				t.Errorf("invariants broken:\n%s", strings.Join(c.violations, "\n"))
			}
		})
	}
}

// An interrupt while clone tasks run: nothing new starts, the tasks in
// flight end, and the run rolls back to the inventory before it.
func TestFakeInterrupt(t *testing.T) {
	for _, at := range []int{1, 3, 5} {
		t.Run(fmt.Sprintf("at clone %d", at), func(t *testing.T) {
			c := newFakeCloud()
			c.latency = 5 * time.Millisecond
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c.onClone = func(n int) {
				if n == at {
					cancel()
				}
			}
			before := c.state()
			rep, err := fakeApply(t, c, parse(t, "1"), ctx, nil)
			if rep.Outcome != executor.OutcomeInterrupted || !errors.Is(err, executor.ErrInterrupted) {
				t.Fatalf("outcome %s (%v), want interrupted", rep.Outcome, err)
			}
			if diff := diffSnapshots(before, c.state()); diff != "" {
				t.Errorf("the rollback did not restore the inventory:\n%s", diff)
			}
			if len(c.violations) > 0 {
				t.Errorf("invariants broken:\n%s", strings.Join(c.violations, "\n"))
			}
		})
	}
}

// The limits of the execution block hold at every moment: clone tasks in
// flight overall, per host and per source (counted by the fake as the
// tasks run).
func TestFakeLimits(t *testing.T) {
	for _, tc := range []struct{ parallelism, perHost, perSource int }{
		{1, 0, 0}, {4, 1, 0}, {8, 3, 2}, {3, 0, 1},
	} {
		t.Run(fmt.Sprintf("p%d-h%d-s%d", tc.parallelism, tc.perHost, tc.perSource), func(t *testing.T) {
			c := newFakeCloud()
			c.latency = 2 * time.Millisecond
			text := strings.Replace(strings.Replace(strings.ReplaceAll(labPlan, "{v}", "1"), "count: 4", "count: 12", 1), "count: 2", "count: 8", 1)
			p, err := plan.Parse("lab.yaml", []byte(text))
			if err != nil {
				t.Fatal(err)
			}
			rep, err := fakeApply(t, c, p, context.Background(), func(o *executor.Options) {
				o.Parallelism, o.PerHost, o.PerSource = tc.parallelism, tc.perHost, tc.perSource
			})
			if err != nil || rep.Outcome != executor.OutcomeSuccess {
				t.Fatalf("%s: %v", rep.Outcome, err)
			}
			check := func(key string, limit int) {
				if limit > 0 && c.peak[key] > limit {
					t.Errorf("%s: %d clone tasks at once, limit %d", key, c.peak[key], limit)
				}
			}
			check("all", tc.parallelism)
			for _, h := range []string{"host:host-1", "host:host-2"} {
				check(h, tc.perHost)
			}
			for _, s := range []string{"source:vm-web", "source:vm-db"} {
				check(s, tc.perSource)
			}
			c.converged(t, p)
		})
	}
}
