package sim

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// startAll submits one clone per spec at once and returns the tasks.
func (e *env) startAll(srcs []*object.VirtualMachine, names []string) []*object.Task {
	e.t.Helper()
	tasks := make([]*object.Task, len(names))
	for i, name := range names {
		t, err := srcs[i%len(srcs)].InstantClone(e.ctx, types.VirtualMachineInstantCloneSpec{Name: name})
		if err != nil {
			e.t.Fatal(err)
		}
		tasks[i] = t
	}
	return tasks
}

// maxOverlap is the largest number of [start, complete] intervals that
// share an instant.
func maxOverlap(infos []*types.TaskInfo) int {
	type edge struct {
		at  time.Time
		inc int
	}
	var edges []edge
	for _, i := range infos {
		edges = append(edges, edge{*i.StartTime, 1}, edge{*i.CompleteTime, -1})
	}
	sort.Slice(edges, func(a, b int) bool {
		if edges[a].at.Equal(edges[b].at) {
			return edges[a].inc < edges[b].inc // a task ending frees its slot first
		}
		return edges[a].at.Before(edges[b].at)
	})
	n, most := 0, 0
	for _, e := range edges {
		n += e.inc
		most = max(most, n)
	}
	return most
}

// TestHostLimitQueues: beyond the per-host limit, tasks queue (state
// "queued", no start time) and start only when a running task completes.
func TestHostLimitQueues(t *testing.T) {
	const limit, n = 2, 6
	e := start(t, Options{Seed: testSeed(), Hosts: 1, HostLimit: limit, Latency: 300 * time.Millisecond})
	srcs := []*object.VirtualMachine{e.vm("/Lab/vm/golden/web-golden"), e.vm("/Lab/vm/golden/db-golden")}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("q-%d", i)
	}
	tasks := e.startAll(srcs, names)

	// The last task cannot start before two rounds of latency have passed.
	var last mo.Task
	if err := property.DefaultCollector(e.c).RetrieveOne(e.ctx, tasks[n-1].Reference(), []string{"info"}, &last); err != nil {
		t.Fatal(err)
	}
	if last.Info.State != types.TaskInfoStateQueued || last.Info.StartTime != nil {
		t.Errorf("task %d beyond the host limit: state %s, started %v; want queued, not started", n, last.Info.State, last.Info.StartTime)
	}

	infos := make([]*types.TaskInfo, n)
	for i, tk := range tasks {
		infos[i] = e.wait(tk)
		if infos[i].Error != nil {
			t.Fatalf("clone %d: %s", i, infos[i].Error.LocalizedMessage)
		}
	}
	if got := maxOverlap(infos); got != limit {
		t.Errorf("%d tasks ran at once on the host, want the limit %d", got, limit)
	}
	sort.Slice(infos, func(a, b int) bool { return infos[a].StartTime.Before(*infos[b].StartTime) })
	for i, info := range infos[limit:] {
		// It waited for a slot: it started after an earlier task completed.
		waited := slices.ContainsFunc(infos[:limit+i], func(o *types.TaskInfo) bool { return !info.StartTime.Before(*o.CompleteTime) })
		if !waited || !info.StartTime.After(info.QueueTime) {
			t.Errorf("task queued %v started %v without waiting for a slot", info.QueueTime, info.StartTime)
		}
	}
}

// TestStunSerializedPerSource: clones of one source never overlap in their
// stun phase, while their tasks (the latency phase) run concurrently.
func TestStunSerializedPerSource(t *testing.T) {
	const n = 4
	e := start(t, Options{Seed: testSeed(), Stun: 40 * time.Millisecond, Latency: 300 * time.Millisecond})
	src := e.vm("/Lab/vm/golden/web-golden")
	other := e.vm("/Lab/vm/golden/db-golden")
	var names []string
	for i := range n {
		names = append(names, fmt.Sprintf("s-%d", i))
	}
	tasks := e.startAll([]*object.VirtualMachine{src}, names)
	tasks = append(tasks, e.startAll([]*object.VirtualMachine{other}, []string{"o-1", "o-2"})...)
	var infos []*types.TaskInfo
	for _, tk := range tasks {
		info := e.wait(tk)
		if info.Error != nil {
			t.Fatal(info.Error.LocalizedMessage)
		}
		infos = append(infos, info)
	}
	var stuns []Stun
	for _, s := range e.sim.Stuns() {
		if s.Source == src.Reference() {
			stuns = append(stuns, s)
		}
	}
	if len(stuns) != n {
		t.Fatalf("%d stun phases of the source recorded, want %d", len(stuns), n)
	}
	sort.Slice(stuns, func(a, b int) bool { return stuns[a].Start.Before(stuns[b].Start) })
	for i := 1; i < len(stuns); i++ {
		if stuns[i].Start.Before(stuns[i-1].End) {
			t.Errorf("stun of %s [%v, %v] overlaps the previous one ending %v", stuns[i].Task, stuns[i].Start, stuns[i].End, stuns[i-1].End)
		}
	}
	if got := maxOverlap(infos[:n]); got < 2 {
		t.Errorf("clones of one source ran one at a time (max overlap %d); only their stun phases should be serialized", got)
	}
	// Every source delta exists once: the stun's mutations did not race.
	if c := chain(disks(e.props(src.Reference()))[0]); len(c) != n+1 {
		t.Errorf("source chain %v, want %d deltas", c, n)
	}
}

// TestConcurrentClonesOneSession: many clones through one session (one
// dispatch wrapper) at once all succeed, with distinct generated MACs.
func TestConcurrentClonesOneSession(t *testing.T) {
	e := start(t, Options{Seed: testSeed()})
	src := e.vm("/Lab/vm/golden/web-golden")
	const n = 16
	refs := make([]types.ManagedObjectReference, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			refs[i] = e.mustClone(src, types.VirtualMachineInstantCloneSpec{Name: fmt.Sprintf("c-%02d", i)})
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, r := range refs {
		for _, nic := range nics(e.props(r, "config.hardware.device")) {
			if seen[nic.MacAddress] {
				t.Errorf("MAC %s given twice", nic.MacAddress)
			}
			seen[nic.MacAddress] = true
		}
	}
	if e.sim.InstantClones() != n {
		t.Errorf("InstantClones() = %d, want %d", e.sim.InstantClones(), n)
	}
}

// TestCancelQueued: a task cancelled while it waits for a host slot never
// runs: it fails with RequestCanceled and makes no VM.
func TestCancelQueued(t *testing.T) {
	e := start(t, Options{Seed: testSeed(), Hosts: 1, HostLimit: 1, Latency: time.Second})
	names := []string{"a", "b"}
	tasks := e.startAll([]*object.VirtualMachine{e.vm("/Lab/vm/golden/web-golden")}, names)
	// The two clones race for the host's one slot: find which one queued.
	queued := -1
	for queued < 0 {
		var states [2]types.TaskInfoState
		for i, tk := range tasks {
			var task mo.Task
			if err := property.DefaultCollector(e.c).RetrieveOne(e.ctx, tk.Reference(), []string{"info"}, &task); err != nil {
				t.Fatal(err)
			}
			states[i] = task.Info.State
		}
		switch {
		case states[0] == types.TaskInfoStateRunning && states[1] == types.TaskInfoStateQueued:
			queued = 1
		case states[1] == types.TaskInfoStateRunning && states[0] == types.TaskInfoStateQueued:
			queued = 0
		case states[0] != types.TaskInfoStateQueued && states[1] != types.TaskInfoStateQueued && states[0] != "" && states[1] != "":
			t.Fatalf("neither task queued behind the host limit of 1: %v", states)
		}
	}
	running := 1 - queued
	if err := tasks[queued].Cancel(e.ctx); err != nil {
		t.Fatal(err)
	}
	if info := e.wait(tasks[running]); info.Error != nil {
		t.Fatal(info.Error.LocalizedMessage)
	}
	info := e.wait(tasks[queued])
	if _, ok := faultOf(info).(*types.RequestCanceled); !ok || info.StartTime != nil {
		t.Errorf("cancelled queued task: fault %T, started %v; want RequestCanceled, never started", faultOf(info), info.StartTime)
	}
	if _, err := e.find().VirtualMachine(e.ctx, "/Lab/vm/"+names[queued]); err == nil {
		t.Error("the cancelled clone exists")
	}
}

// TestCancelRunning: a running instant clone cannot be cancelled
// (NotSupported, as for any task that is not cancelable) and completes.
func TestCancelRunning(t *testing.T) {
	e := start(t, Options{Seed: testSeed(), Latency: 300 * time.Millisecond})
	tk := e.startAll([]*object.VirtualMachine{e.vm("/Lab/vm/golden/web-golden")}, []string{"running"})[0]
	var task mo.Task
	for task.Info.State == "" || task.Info.State == types.TaskInfoStateQueued {
		if err := property.DefaultCollector(e.c).RetrieveOne(e.ctx, tk.Reference(), []string{"info"}, &task); err != nil {
			t.Fatal(err)
		}
	}
	if task.Info.State != types.TaskInfoStateRunning {
		t.Fatalf("task %s before it was seen running (latency 300ms)", task.Info.State)
	}
	if task.Info.Cancelable {
		t.Error("a running instant clone says it is cancelable")
	}
	// The SOAP fault carries vCenter's message (ocs-ci#11745 shows it), as
	// govc and every govmomi client print it.
	if err := tk.Cancel(e.ctx); !fault.Is(err, &types.NotSupported{}) || err.Error() != "ServerFaultCode: The operation is not supported on the object." {
		t.Errorf("cancel a running instant clone: %v, want NotSupported with vCenter's message", err)
	}
	if info := e.wait(tk); info.Error != nil {
		t.Errorf("the running clone failed: %s", info.Error.LocalizedMessage)
	}
}
