//go:build unix

package main

import (
	"context"
	"maps"
	"os"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/iclone-plan/iclone-plan/internal/apply"
	"github.com/iclone-plan/iclone-plan/internal/executor"
	"github.com/iclone-plan/iclone-plan/internal/ownership"
	"github.com/iclone-plan/iclone-plan/internal/plan"
	"github.com/iclone-plan/iclone-plan/internal/sim"
	"github.com/iclone-plan/iclone-plan/internal/vsphere"
)

// The apply benchmarks. BENCHMARKS.md has their figures and the commands
// that reproduce them; `task bench` runs them all.
//
// The workload of the issue: 500 clones of 10 sources over 4 hosts, with
// the simulator's timing model on (stun 50 ms serialized per source, task
// latency 200 ms, 8 concurrent tasks per host, more queue) and parallelism
// 32 (testdata/bench/apply500.yaml).
var model500 = sim.Options{Hosts: 4, Stun: 50 * time.Millisecond, Latency: 200 * time.Millisecond, HostLimit: 8}

const (
	apply500File = "testdata/bench/apply500.yaml"
	apply10kFile = "testdata/bench/apply10k.yaml"
	applyCPUFile = "testdata/bench/applycpu.yaml"
)

// benchEnv is a simulator (in this process, or the one GOVC_URL names) and
// a client of it.
type benchEnv struct {
	sim    *sim.Simulator // nil for an external simulator
	cfg    vsphere.Config
	client *vsphere.Client
	ops    *vsphere.Ops
}

func loadBenchPlan(b *testing.B, file string) *plan.Plan {
	b.Helper()
	p, err := plan.Load(file)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// newBenchEnv starts a simulator seeded for p with opts, in this process.
func newBenchEnv(b *testing.B, p *plan.Plan, opts sim.Options) *benchEnv {
	b.Helper()
	preferTmpfs()
	opts.Seed = seedFromPlan(p)
	s, err := sim.Start(context.Background(), opts)
	if err != nil {
		b.Fatal(err)
	}
	env := connectBenchEnv(b, vsphere.Config{URL: s.URL().String(), Insecure: true})
	env.sim = s
	return env
}

// externalBenchEnv connects to the simulator GOVC_URL names, or returns nil
// if GOVC_URL is not set.
func externalBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	cfg := vsphere.ConfigFromEnv(os.Getenv)
	if cfg.URL == "" {
		return nil
	}
	return connectBenchEnv(b, cfg)
}

func connectBenchEnv(b *testing.B, cfg vsphere.Config) *benchEnv {
	b.Helper()
	ctx := context.Background()
	c, err := vsphere.Connect(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	ops, err := c.Ops(ctx, "/DC0")
	if err != nil {
		b.Fatal(err)
	}
	return &benchEnv{cfg: cfg, client: c, ops: ops}
}

func (e *benchEnv) close() {
	_ = e.client.Logout(context.Background())
	if e.sim != nil {
		e.sim.Close()
	}
}

// diff reads the inventory and plans p against it.
// diffWithFolders is diff, then the folders the plan needs made, as the
// baselines (which have no executor) must do themselves.
func (e *benchEnv) diffWithFolders(b *testing.B, p *plan.Plan) *plan.Changes {
	b.Helper()
	ch := e.diff(b, p)
	for _, f := range ch.Folders {
		if _, err := e.ops.EnsureFolder(context.Background(), f); err != nil {
			b.Fatal(err)
		}
	}
	return ch
}

func (e *benchEnv) diff(b *testing.B, p *plan.Plan) *plan.Changes {
	b.Helper()
	inv, err := e.client.ReadInventory(context.Background(), "DC0")
	if err != nil {
		b.Fatal(err)
	}
	ch := plan.Diff(p, inv, plan.Options{})
	if err := ch.Err(); err != nil {
		b.Fatal(err)
	}
	return ch
}

// apply does what `iclone-plan apply` does once connected: read the
// inventory, plan, run.
func (e *benchEnv) apply(b *testing.B, p *plan.Plan) (*plan.Changes, *executor.Report) {
	b.Helper()
	ch := e.diff(b, p)
	rep, err := executor.Run(context.Background(), ch, e.ops, executor.OptionsFrom(p.Execution, apply.NewRunID()))
	if err != nil {
		b.Fatal(err)
	}
	return ch, rep
}

// destroyAll destroys the VMs the report's actions created (to reuse an
// external simulator between iterations).
func (e *benchEnv) destroyAll(b *testing.B, rep *executor.Report) {
	b.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for _, a := range rep.Actions {
		if a.Op != "create" || a.VM == "" {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := e.ops.Destroy(context.Background(), a.VM); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
}

// govcClone makes one clone of the plan the way `govc vm.instantclone`
// does: find the source and the folder by path, read the source's devices,
// edit the NICs, start InstantClone_Task and wait for it with govmomi's
// WaitForResult (a property collector of its own). The spec is the one the
// executor sends: the plan's MACs, guestinfo and the ownership markers.
func govcClone(ctx context.Context, c *vsphere.Client, ch *plan.Changes, it *plan.Change, run string) error {
	cl := it.Clone
	src := ch.Sources[cl.Source]
	finder := find.NewFinder(c.Vim, false)
	dc, err := finder.Datacenter(ctx, ch.Datacenter)
	if err != nil {
		return err
	}
	finder.SetDatacenter(dc)
	vm, err := finder.VirtualMachine(ctx, src.Path)
	if err != nil {
		return err
	}
	folder, err := finder.Folder(ctx, plan.CloneFolder(ch.Datacenter, cl))
	if err != nil {
		return err
	}
	devices, err := vm.Device(ctx)
	if err != nil {
		return err
	}
	spec := types.VirtualMachineInstantCloneSpec{Name: cl.Name}
	fref := folder.Reference()
	spec.Location.Folder = &fref
	nics := devices.SelectByType((*types.VirtualEthernetCard)(nil))
	for _, n := range cl.NICs {
		card := nics[n.Adapter-1].(types.BaseVirtualEthernetCard).GetVirtualEthernetCard()
		card.MacAddress, card.AddressType = n.MAC, string(types.VirtualEthernetCardMacTypeManual)
		spec.Location.DeviceChange = append(spec.Location.DeviceChange, &types.VirtualDeviceConfigSpec{
			Operation: types.VirtualDeviceConfigSpecOperationEdit, Device: nics[n.Adapter-1]})
	}
	extra := maps.Clone(cl.ExtraConfig)
	if extra == nil {
		extra = map[string]string{}
	}
	maps.Copy(extra, ownership.Markers{Plan: ch.Plan.Name, Group: cl.Group, Index: cl.Index, Spec: cl.SpecHash(), Run: run, Created: time.Now(), Source: src.InstanceUUID}.ExtraConfig())
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		spec.Config = append(spec.Config, &types.OptionValue{Key: k, Value: extra[k]})
	}
	task, err := vm.InstantClone(ctx, spec)
	if err != nil {
		return err
	}
	_, err = task.WaitForResult(ctx, nil)
	return err
}

func creates(ch *plan.Changes) []*plan.Change {
	var out []*plan.Change
	for i := range ch.Items {
		if ch.Items[i].Action == plan.Create {
			out = append(out, &ch.Items[i])
		}
	}
	return out
}

// interleave orders the creates round-robin over their sources.
func interleave(items []*plan.Change) []*plan.Change {
	bySrc := map[string][]*plan.Change{}
	var order []string
	for _, it := range items {
		if _, ok := bySrc[it.Clone.Source]; !ok {
			order = append(order, it.Clone.Source)
		}
		bySrc[it.Clone.Source] = append(bySrc[it.Clone.Source], it)
	}
	var out []*plan.Change
	for len(out) < len(items) {
		for _, s := range order {
			if q := bySrc[s]; len(q) > 0 {
				out = append(out, q[0])
				bySrc[s] = q[1:]
			}
		}
	}
	return out
}

// idealMakespan is the least time the simulator's limits allow for the
// creates of ch, all submitted at time zero:
//
//   - a host runs at most HostLimit tasks at once, each holding its slot for
//     at least Latency: ceil(n_host / HostLimit) * Latency;
//   - the stun phases of one source are serialized: n_source * Stun (and no
//     task is shorter than Latency);
//   - at most Parallelism tasks are in flight: ceil(n / Parallelism) * Latency.
func idealMakespan(ch *plan.Changes, m sim.Options, parallelism int) time.Duration {
	perHost, perSource := map[string]int{}, map[string]int{}
	n := 0
	for _, it := range creates(ch) {
		src := ch.Sources[it.Clone.Source]
		perHost[src.HostRef]++
		perSource[src.Ref]++
		n++
	}
	waves := func(n, k int) time.Duration {
		if k <= 0 {
			return 1
		}
		return time.Duration((n + k - 1) / k)
	}
	ideal := waves(n, parallelism) * m.Latency
	for _, c := range perHost {
		ideal = max(ideal, waves(c, m.HostLimit)*m.Latency)
	}
	for _, c := range perSource {
		ideal = max(ideal, time.Duration(c)*m.Stun, m.Latency)
	}
	return ideal
}

// simFloor500 is the simulator's own floor for the 500 clones: the time it
// takes to make them with its timing model off, driven by 32 bare clients
// round-robin over the sources in one session: no plan, no executor, just
// InstantClone_Task with a minimal spec (name, folder, one guestinfo key)
// and a wait. The wait is the same shared task poller apply uses: with
// govmomi's WaitForResult (a property collector per task) the simulator
// itself is several times slower, which would inflate the floor. On a
// shared machine the floor moves with the load, so each apply iteration
// measures it just before, on a fresh simulator.
func simFloor500(b *testing.B, p *plan.Plan) time.Duration {
	env := newBenchEnv(b, p, sim.Options{Hosts: model500.Hosts})
	defer env.close()
	d, err := env.bareClones(b, 32)
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// bareClones makes the plan's clones with nothing but InstantClone_Task
// and a wait, workers at a time, and returns the time it took.
func (e *benchEnv) bareClones(b *testing.B, workers int) (time.Duration, error) {
	ctx := context.Background()
	p := loadBenchPlan(b, apply500File)
	ch := e.diff(b, p)
	for _, f := range ch.Folders {
		if _, err := e.ops.EnsureFolder(ctx, f); err != nil {
			return 0, err
		}
	}
	items := interleave(creates(ch))
	work := make(chan *plan.Change)
	errs := make(chan error, len(items))
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for it := range work {
				_, err := e.ops.InstantClone(ctx, &vsphere.CloneSpec{Source: ch.Sources[it.Clone.Source].Ref, Name: it.Clone.Name,
					Folder: plan.CloneFolder(ch.Datacenter, it.Clone), ExtraConfig: map[string]string{"guestinfo.hostname": it.Clone.Name}}, nil)
				if err != nil {
					errs <- err
				}
			}
		})
	}
	for _, it := range items {
		work <- it
	}
	close(work)
	wg.Wait()
	d := time.Since(start)
	close(errs)
	return d, <-errs
}

// BenchmarkApply500 applies the 500-clone plan against the simulator with
// its timing model on and reports the wall time of the apply (inventory
// read, plan, run), the ideal makespan and the efficiency (ideal / wall).
// The ideal is the larger of the makespan the model's limits allow (see
// idealMakespan) and the simulator's own floor for 500 clones (see
// simFloor500, measured before each iteration). Every iteration gets a
// fresh simulator. The reported efficiency is the sum of the ideals over
// the sum of the wall times.
//
//	go test ./cmd/iclone-plan -run '^$' -bench 'Apply500$' -benchtime 5x
func BenchmarkApply500(b *testing.B) {
	p := loadBenchPlan(b, apply500File)
	var wall, ideal, floor, limits time.Duration
	var trips int64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		f := simFloor500(b, p)
		env := newBenchEnv(b, p, model500)
		before := env.client.RoundTrips()
		runtime.GC() // the floor's simulator's garbage is not the apply's
		b.StartTimer()
		start := time.Now()
		ch, rep := env.apply(b, p)
		wall += time.Since(start)
		b.StopTimer()
		trips += env.client.RoundTrips() - before
		if done := countDone(rep); done != 500 {
			b.Fatalf("%d clones made, want 500", done)
		}
		l := idealMakespan(ch, model500, p.Execution.Parallelism)
		limits, floor, ideal = limits+l, floor+f, ideal+max(l, f)
		env.close()
		b.StartTimer()
	}
	b.StopTimer()
	n := time.Duration(b.N)
	b.ReportMetric((wall / n).Seconds(), "wall-s")
	b.ReportMetric((limits / n).Seconds(), "limits-s")
	b.ReportMetric((floor / n).Seconds(), "sim-floor-s")
	b.ReportMetric((ideal / n).Seconds(), "ideal-s")
	b.ReportMetric(ideal.Seconds()/wall.Seconds(), "efficiency")
	b.ReportMetric(float64(500*b.N)/wall.Seconds(), "clones/s")
	b.ReportMetric(float64(trips)/float64(500*b.N), "round-trips/clone")
}

func countDone(rep *executor.Report) int {
	n := 0
	for _, a := range rep.Actions {
		if a.Op == "create" && a.State == "done" {
			n++
		}
	}
	return n
}

// BenchmarkApply500Serial is the shell-loop baseline: the same 500 clones
// (same specs) one at a time through govmomi, as `govc vm.instantclone`
// makes them (govcClone), in one session (kinder to it than a shell loop,
// which logs in every time). It takes over 100 s.
//
//	go test ./cmd/iclone-plan -run '^$' -bench 'Apply500Serial' -benchtime 1x
func BenchmarkApply500Serial(b *testing.B) {
	p := loadBenchPlan(b, apply500File)
	ctx := context.Background()
	for range b.N {
		b.StopTimer()
		env := newBenchEnv(b, p, model500)
		b.StartTimer()
		start := time.Now()
		ch := env.diffWithFolders(b, p)
		run := apply.NewRunID()
		for _, it := range creates(ch) {
			if err := govcClone(ctx, env.client, ch, it, run); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(time.Since(start).Seconds(), "wall-s")
		b.StopTimer()
		env.close()
		b.StartTimer()
	}
}

// BenchmarkApply500SessionPerClone is the `xargs -P 32` over govc
// baseline: the same 500 clones, 32 at a time, each in a session of its
// own (connect and log in, then govcClone: find the datacenter, the source
// and the folder, read the source's devices, clone, wait with a property
// collector of its own; log out), in plan order (group after
// group, as a loop over the plan's groups lists them) and interleaved over
// the sources (the best order for it).
//
//	go test ./cmd/iclone-plan -run '^$' -bench 'Apply500SessionPerClone' -benchtime 1x
func BenchmarkApply500SessionPerClone(b *testing.B) {
	for _, order := range []string{"plan", "interleaved"} {
		b.Run("order="+order, func(b *testing.B) {
			p := loadBenchPlan(b, apply500File)
			ctx := context.Background()
			for range b.N {
				b.StopTimer()
				env := newBenchEnv(b, p, model500)
				b.StartTimer()
				start := time.Now()
				ch := env.diffWithFolders(b, p)
				items := creates(ch)
				if order == "interleaved" {
					items = interleave(items)
				}
				run := apply.NewRunID()
				work := make(chan *plan.Change)
				var wg sync.WaitGroup
				for range p.Execution.Parallelism {
					wg.Go(func() {
						for it := range work {
							c, err := vsphere.Connect(ctx, env.cfg)
							if err != nil {
								b.Error(err)
								continue
							}
							if err := govcClone(ctx, c, ch, it, run); err != nil {
								b.Error(err)
							}
							_ = c.Logout(ctx)
						}
					})
				}
				for _, it := range items {
					work <- it
				}
				close(work)
				wg.Wait()
				b.ReportMetric(time.Since(start).Seconds(), "wall-s")
				b.StopTimer()
				env.close()
				b.StartTimer()
			}
		})
	}
}

// rusage returns this process's CPU time and peak resident set.
func rusage() (cpu time.Duration, maxRSS int64) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), ru.Maxrss * 1024
}

// BenchmarkApplyCPU measures the orchestrator's own cost per clone: CPU
// time (user+system, getrusage) and allocations of an apply of 1,000 clones
// with the simulator's timing model off (latency zero). Run it against a
// simulator in another process (GOVC_URL) to measure the client alone; in
// this process the simulator's serving cost is included. Between
// iterations, untimed, the clones are destroyed.
//
//	go run ./cmd/iclone-plan sim --seed cmd/iclone-plan/testdata/bench/applycpu.yaml --hosts 4 --host-limit 8 --listen 127.0.0.1:18991 &
//	GOVC_URL=https://user:pass@127.0.0.1:18991/sdk GOVC_INSECURE=1 go test ./cmd/iclone-plan -run '^$' -bench 'ApplyCPU' -benchmem -benchtime 5x
func BenchmarkApplyCPU(b *testing.B) {
	p := loadBenchPlan(b, applyCPUFile)
	env := externalBenchEnv(b)
	where := "external"
	if env == nil {
		env = newBenchEnv(b, p, sim.Options{Hosts: 4, HostLimit: 8})
		where = "in-process"
	}
	defer env.close()
	if b.N > 12 {
		b.Fatalf("b.N = %d: a simulator serves at most 12 iterations of 1,000 clones (use -benchtime 5x)", b.N)
	}
	n := 0
	for _, g := range p.Groups {
		n += len(g.Clones)
	}
	b.Logf("simulator: %s", where)
	b.ReportAllocs()
	var cpu, wall time.Duration
	var trips int64
	b.ResetTimer()
	for range b.N {
		before := env.client.RoundTrips()
		c0, _ := rusage()
		start := time.Now()
		_, rep := env.apply(b, p)
		wall += time.Since(start)
		c1, _ := rusage()
		cpu += c1 - c0
		trips += env.client.RoundTrips() - before
		b.StopTimer()
		if done := countDone(rep); done != n {
			b.Fatalf("%d clones made, want %d", done, n)
		}
		env.destroyAll(b, rep)
		b.StartTimer()
	}
	b.StopTimer()
	clones := float64(n * b.N)
	b.ReportMetric(cpu.Seconds()*1000/clones, "cpu-ms/clone")
	b.ReportMetric(float64(trips)/clones, "round-trips/clone")
	b.ReportMetric(wall.Seconds()/float64(b.N), "wall-s")
}

// BenchmarkApply10k applies 10,000 clones (50 sources) with the timing
// model off and reports the memory of the process: the heap in use after
// planning, its peak during the run (sampled every 10 ms), and the peak
// resident set (getrusage; for the whole process, so run this benchmark on
// its own). Against an external simulator (GOVC_URL) that is the client
// alone; in this process it includes the simulator's 10,000 VMs. One
// iteration per simulator.
//
//	go run ./cmd/iclone-plan sim --seed cmd/iclone-plan/testdata/bench/apply10k.yaml --hosts 4 --listen 127.0.0.1:18990 &
//	GOVC_URL=https://user:pass@127.0.0.1:18990/sdk GOVC_INSECURE=1 go test ./cmd/iclone-plan -run '^$' -bench 'Apply10k' -benchmem -benchtime 1x
func BenchmarkApply10k(b *testing.B) {
	p := loadBenchPlan(b, apply10kFile)
	env := externalBenchEnv(b)
	if env != nil {
		defer env.close()
		if b.N > 1 {
			b.Fatal("an external simulator serves one iteration: use -benchtime 1x")
		}
	}
	b.ReportAllocs()
	var planHeap, peakHeap uint64
	var wall, cpu time.Duration
	for range b.N {
		b.StopTimer()
		e := env
		if e == nil {
			e = newBenchEnv(b, p, sim.Options{Hosts: 4, HostLimit: 8})
		}
		runtime.GC()
		b.StartTimer()
		c0, _ := rusage()
		start := time.Now()
		ch := e.diff(b, p)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		planHeap = max(planHeap, ms.HeapInuse)
		stop := make(chan struct{})
		sampled := make(chan uint64)
		go func() {
			var peak uint64
			t := time.NewTicker(10 * time.Millisecond)
			defer t.Stop()
			for {
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
				select {
				case <-stop:
					sampled <- peak
					return
				case <-t.C:
				}
			}
		}()
		rep, err := executor.Run(context.Background(), ch, e.ops, executor.OptionsFrom(p.Execution, apply.NewRunID()))
		close(stop)
		peakHeap = max(peakHeap, <-sampled)
		if err != nil {
			b.Fatal(err)
		}
		wall += time.Since(start)
		c1, _ := rusage()
		cpu += c1 - c0
		b.StopTimer()
		if done := countDone(rep); done != 10000 {
			b.Fatalf("%d clones made, want 10000", done)
		}
		if e != env {
			e.close()
		}
		b.StartTimer()
	}
	b.StopTimer()
	_, rss := rusage()
	b.ReportMetric(float64(planHeap)/(1<<20), "plan-heap-MB")
	b.ReportMetric(float64(peakHeap)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(rss)/(1<<20), "maxrss-MB")
	b.ReportMetric(wall.Seconds()/float64(b.N), "wall-s")
	b.ReportMetric(cpu.Seconds()*1000/float64(10000*b.N), "cpu-ms/clone")
}

// BenchmarkSimFloor500 is the simulator's own floor for the 500 clones of
// BenchmarkApply500 (see simFloor500), on its own.
//
//	go test ./cmd/iclone-plan -run '^$' -bench 'SimFloor500' -benchtime 3x
func BenchmarkSimFloor500(b *testing.B) {
	p := loadBenchPlan(b, apply500File)
	var total time.Duration
	for range b.N {
		env := newBenchEnv(b, p, sim.Options{Hosts: model500.Hosts})
		d, err := env.bareClones(b, 32)
		env.close()
		if err != nil {
			b.Fatal(err)
		}
		total += d
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "floor-s")
	b.ReportMetric(float64(500*b.N)/total.Seconds(), "clones/s")
}
