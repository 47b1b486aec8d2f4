package executor_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iclone-plan/iclone-plan/internal/cloud"
	"github.com/iclone-plan/iclone-plan/internal/executor"
	"github.com/iclone-plan/iclone-plan/internal/inventory"
	"github.com/iclone-plan/iclone-plan/internal/plan"
	"github.com/iclone-plan/iclone-plan/internal/sim"
	"github.com/iclone-plan/iclone-plan/internal/vsphere"
)

// labPlan has two groups from two sources with manual and auto MACs, a
// serial file, guestinfo and a network change. {v} is replaced to change
// every clone's spec.
const labPlan = `version: 1
name: lab
datacenter: Lab
defaults:
  folder: /Lab/vm/lab
execution:
  parallelism: 4
  perSource: 2
  retries: 0
groups:
  - name: web
    source: /Lab/vm/golden/web
    count: 4
    cloneName: "lab-web-{index:02}"
    nics:
      - adapter: 1
        mac: "00:50:56:10:01:{index:02x}"
        network: Lab-Net
      - adapter: 2
        mac: auto
    serial:
      - port: 1
        file: "[datastore1] serial/{name}.log"
    guestinfo:
      hostname: "{name}"
      version: "{v}"
  - name: db
    source: /Lab/vm/golden/db
    count: 2
    cloneName: "lab-db-{index}"
    folder: /Lab/vm/lab/db
    nics:
      - adapter: 1
        mac: "00:50:56:10:02:{index:02x}"
    guestinfo:
      version: "{v}"
`

func parse(t testing.TB, version string) *plan.Plan {
	t.Helper()
	p, err := plan.Parse("lab.yaml", []byte(strings.ReplaceAll(labPlan, "{v}", version)))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// lab is a simulator seeded for labPlan and a client of it.
type lab struct {
	sim    *sim.Simulator
	client *vsphere.Client
	ops    *vsphere.Ops
	// submitted records when each InstantClone call reached the Cloud:
	// the submission the rate limits (task events come later, when the
	// task is seen).
	mu        sync.Mutex
	submitted []time.Time
}

// *vsphere.Ops is the executor's Cloud, with no adapter between them.
var _ executor.Cloud = (*vsphere.Ops)(nil)

// recordingCloud is the real Cloud, recording submission times.
type recordingCloud struct {
	executor.Cloud
	l *lab
}

func (c recordingCloud) InstantClone(ctx context.Context, req *cloud.CloneRequest, started func(string)) (string, error) {
	c.l.mu.Lock()
	c.l.submitted = append(c.l.submitted, time.Now())
	c.l.mu.Unlock()
	return c.Cloud.InstantClone(ctx, req, started)
}

func newLab(t testing.TB, opts sim.Options) *lab {
	t.Helper()
	ctx := context.Background()
	opts.Seed = &sim.Seed{Datacenter: "Lab", Sources: []sim.SeedSource{
		{Path: "/Lab/vm/golden/web", NICs: []sim.SeedNIC{{Adapter: 1, Network: "Lab-Net"}, {Adapter: 2}}, SerialPorts: 1, Datastores: []string{"datastore1"}},
		{Path: "/Lab/vm/golden/db", NICs: []sim.SeedNIC{{Adapter: 1}}},
	}}
	if opts.Hosts == 0 {
		opts.Hosts = 2
	}
	s, err := sim.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	c, err := vsphere.Connect(ctx, vsphere.Config{URL: s.URL().String(), Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Logout(context.Background()) })
	ops, err := c.Ops(ctx, "/Lab")
	if err != nil {
		t.Fatal(err)
	}
	return &lab{sim: s, client: c, ops: ops}
}

func (l *lab) inventory(t testing.TB) *inventory.Inventory {
	t.Helper()
	inv, err := l.client.ReadInventory(context.Background(), "Lab")
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// apply plans p against the live inventory and runs it.
func (l *lab) apply(t testing.TB, p *plan.Plan, ctx context.Context, tweak func(*executor.Options)) (*plan.Changes, *executor.Report, error) {
	t.Helper()
	ch := plan.Diff(p, l.inventory(t), plan.Options{})
	if err := ch.Err(); err != nil {
		t.Fatal(err)
	}
	opts := executor.OptionsFrom(p.Execution, fmt.Sprintf("run-%d", time.Now().UnixNano()))
	opts.Backoff = time.Millisecond
	if tweak != nil {
		tweak(&opts)
	}
	rep, err := executor.Run(ctx, ch, recordingCloud{l.ops, l}, opts)
	return ch, rep, err
}

// snapshot describes every VM: reference, path, power state, NICs (MAC and
// connection) and markers, in a comparable string per VM.
func snapshot(inv *inventory.Inventory) map[string]string {
	out := map[string]string{}
	for _, vm := range inv.VMs {
		var nics []string
		for _, n := range vm.NICs {
			nics = append(nics, fmt.Sprintf("%s/%v/%v", n.MAC, n.Connected, n.StartConnected))
		}
		var marks []string
		for _, k := range slices.Sorted(maps.Keys(vm.Markers)) {
			marks = append(marks, k+"="+vm.Markers[k])
		}
		out[vm.Path] = fmt.Sprintf("%s %s [%s] {%s}", vm.Ref, vm.PowerState, strings.Join(nics, " "), strings.Join(marks, " "))
	}
	return out
}

func diffSnapshots(before, after map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(before)) {
		if after[k] != before[k] {
			fmt.Fprintf(&b, "  %s:\n    before %s\n    after  %s\n", k, before[k], after[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(after)) {
		if _, ok := before[k]; !ok {
			fmt.Fprintf(&b, "  %s: new %s\n", k, after[k])
		}
	}
	return b.String()
}

// connectedMACsUnique fails if two connected NICs share a MAC.
func connectedMACsUnique(t testing.TB, inv *inventory.Inventory) {
	t.Helper()
	seen := map[string]string{}
	for _, vm := range inv.VMs {
		for _, n := range vm.NICs {
			if !n.Connected {
				continue
			}
			if other, dup := seen[n.MAC]; dup {
				t.Errorf("MAC %s connected on %s and %s", n.MAC, other, vm.Path)
			}
			seen[n.MAC] = vm.Path
		}
	}
}

func TestApplyCreatesExactlyThePlannedClones(t *testing.T) {
	l := newLab(t, sim.Options{})
	p := parse(t, "1")
	ch, rep, err := l.apply(t, p, context.Background(), nil)
	if err != nil {
		t.Fatalf("apply: %v\n%+v", err, rep)
	}
	if rep.Outcome != executor.OutcomeSuccess || ch.Count(plan.Create) != 6 {
		t.Fatalf("outcome %s, %d creates", rep.Outcome, ch.Count(plan.Create))
	}
	inv := l.inventory(t)
	byPath := map[string]*inventory.VM{}
	for i := range inv.VMs {
		byPath[inv.VMs[i].Path] = &inv.VMs[i]
	}
	for c := range p.Clones() {
		path := plan.CloneFolder("/Lab", c) + "/" + c.Name
		vm := byPath[path]
		if vm == nil {
			t.Errorf("clone %s missing", path)
			continue
		}
		if vm.PowerState != "poweredOn" {
			t.Errorf("%s is %s", path, vm.PowerState)
		}
		if vm.Markers[inventory.MarkerPlan] != "lab" || vm.Markers[inventory.MarkerGroup] != c.Group ||
			vm.Markers[inventory.MarkerIndex] != fmt.Sprint(c.Index) || vm.Markers[inventory.MarkerSpec] != c.SpecHash() ||
			vm.Markers[inventory.MarkerRun] != rep.Run || vm.Markers[inventory.MarkerState] != "" {
			t.Errorf("%s markers %v", path, vm.Markers)
		}
		for _, n := range c.NICs {
			got := vm.NICs[n.Adapter-1]
			if got.MAC != n.MAC || got.AddressType != "manual" || !got.Connected {
				t.Errorf("%s adapter %d = %+v, want MAC %s manual connected", path, n.Adapter, got, n.MAC)
			}
			if n.Network != "" && got.Network != n.Network {
				t.Errorf("%s adapter %d on %q, want %q", path, n.Adapter, got.Network, n.Network)
			}
		}
		for _, s := range c.Serial {
			if got := vm.Serial[s.Port-1].File; got != s.File {
				t.Errorf("%s serial %d file %q, want %q", path, s.Port, got, s.File)
			}
		}
	}
	connectedMACsUnique(t, inv)
	if again := plan.Diff(p, inv, plan.Options{}); again.HasChanges() {
		t.Errorf("second plan has changes:\n%v", again.Items)
	}
}

// Replacing every clone with a fault at several positions: the failed apply
// leaves the inventory exactly as before, VM by VM.
func TestRollbackRestoresInventory(t *testing.T) {
	for _, tt := range []struct {
		name      string
		failClone int // counted from the first clone of the failing run
		leaveVM   bool
	}{
		{"first", 1, false},
		{"third", 3, false},
		{"last", 6, false},
		{"first leaving a half-made VM", 1, true},
		{"fourth leaving a half-made VM", 4, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// The first 6 clones build version 1; the failure hits the
			// replacement run.
			l := newLab(t, sim.Options{FailClone: 6 + tt.failClone, FailLeaveVM: tt.leaveVM})
			if _, _, err := l.apply(t, parse(t, "1"), context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			before := snapshot(l.inventory(t))

			ch, rep, err := l.apply(t, parse(t, "2"), context.Background(), nil)
			if ch.Count(plan.Replace) != 6 {
				t.Fatalf("%d replacements planned, want 6", ch.Count(plan.Replace))
			}
			var re *executor.RunError
			if !errors.As(err, &re) || re.Outcome != executor.OutcomeRolledBack {
				t.Fatalf("err = %v, want a rolled-back run", err)
			}
			if !strings.Contains(rep.Cause, "replace") || len(rep.Failed()) != 1 || rep.Failed()[0].Fault == "" {
				t.Errorf("report cause %q, failed %+v", rep.Cause, rep.Failed())
			}
			after := l.inventory(t)
			if d := diffSnapshots(before, snapshot(after)); d != "" {
				t.Errorf("inventory after rollback differs:\n%s", d)
			}
			connectedMACsUnique(t, after)
		})
	}
}

func TestContinueKeepsGoing(t *testing.T) {
	l := newLab(t, sim.Options{FailClone: 2})
	p := parse(t, "1")
	p.Execution.OnFailure = plan.OnFailureContinue
	_, rep, err := l.apply(t, p, context.Background(), nil)
	var re *executor.RunError
	if !errors.As(err, &re) || re.Outcome != executor.OutcomePartial {
		t.Fatalf("err = %v, want a partial run", err)
	}
	if len(rep.Failed()) != 1 {
		t.Errorf("failed actions %+v", rep.Failed())
	}
	ch := plan.Diff(p, l.inventory(t), plan.Options{})
	if ch.Count(plan.Create) != 1 || ch.Count(plan.NoOp) != 5 {
		t.Errorf("after a partial run: %d to create, %d in place; want 1 and 5", ch.Count(plan.Create), ch.Count(plan.NoOp))
	}
	// The next apply converges.
	if _, _, err := l.apply(t, p, context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if ch := plan.Diff(p, l.inventory(t), plan.Options{}); ch.HasChanges() {
		t.Errorf("not converged: %v", ch.Items)
	}
}

// Interrupting a run stops submissions, lets in-flight tasks end and rolls
// everything back.
func TestInterruptRollsBack(t *testing.T) {
	l := newLab(t, sim.Options{Latency: 100 * time.Millisecond})
	before := snapshot(l.inventory(t))
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	_, rep, err := l.apply(t, parse(t, "1"), ctx, func(o *executor.Options) {
		o.Parallelism = 2
		o.Hooks.Event = func(e executor.Event) {
			if e.Type == executor.EventDone && e.Op == "create" {
				once.Do(cancel)
			}
		}
	})
	var re *executor.RunError
	if !errors.As(err, &re) || re.Outcome != executor.OutcomeInterrupted {
		t.Fatalf("err = %v, want an interrupted run", err)
	}
	skipped := 0
	for _, a := range rep.Actions {
		if a.State == "skipped" {
			skipped++
		}
	}
	if skipped == 0 {
		t.Error("no action was skipped: the interrupt did not stop submissions")
	}
	if d := diffSnapshots(before, snapshot(l.inventory(t))); d != "" {
		t.Errorf("inventory after interrupt differs:\n%s", d)
	}
}

// The limits hold: never more clone tasks in flight than parallelism
// overall, perSource per source, perHost per host; submissions follow rate.
func TestLimitsHold(t *testing.T) {
	for _, tt := range []struct {
		name                             string
		parallelism, perSource, perHost  int
		wantOverall, wantSource, atLeast int
	}{
		// Both sources on one host: perSource and parallelism bind.
		{"parallelism and perSource", 3, 2, 3, 3, 2, 2},
		// perHost binds below parallelism.
		{"perHost", 4, 4, 1, 1, 1, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := newLab(t, sim.Options{Latency: 50 * time.Millisecond, Hosts: 1})
			p := parse(t, "1")
			var mu sync.Mutex
			inflight, maxInflight := 0, 0
			perSource, maxPerSource := map[string]int{}, 0
			group := map[string]string{}
			for c := range p.Clones() {
				group[c.Name] = c.Group
			}
			_, _, err := l.apply(t, p, context.Background(), func(o *executor.Options) {
				o.Parallelism, o.PerSource, o.PerHost, o.Rate = tt.parallelism, tt.perSource, tt.perHost, 40
				o.Hooks.Event = func(e executor.Event) {
					mu.Lock()
					defer mu.Unlock()
					switch {
					case e.Type == executor.EventTaskStarted:
						inflight++
						perSource[group[e.Name]]++
						maxInflight = max(maxInflight, inflight)
						maxPerSource = max(maxPerSource, perSource[group[e.Name]])
					case (e.Type == executor.EventDone || e.Type == executor.EventFailed) && e.Op == "create":
						inflight--
						perSource[group[e.Name]]--
						// A finished clone is never still counted in flight.
						if pr := e.Progress; pr.Done+pr.Failed+pr.InFlight > pr.Total {
							t.Errorf("progress %+v counts more clones than the run has", pr)
						}
					}
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if maxInflight > tt.wantOverall || maxPerSource > tt.wantSource {
				t.Errorf("in flight at most %d overall (on the one host) and %d per source; limits allow %d and %d", maxInflight, maxPerSource, tt.wantOverall, tt.wantSource)
			}
			if maxInflight < tt.atLeast {
				t.Errorf("never more than %d in flight, want %d: the limits are not used", maxInflight, tt.atLeast)
			}
			// A token bucket of 40/s with burst 1 never lets n submissions
			// through in less than (n-1)/40 s.
			starts := l.submitted
			if n := len(starts); n > 1 {
				if span, least := starts[n-1].Sub(starts[0]), time.Duration(n-1)*time.Second/40; span < least-5*time.Millisecond {
					t.Errorf("%d submissions in %v, faster than the rate allows (%v)", n, span, least)
				}
			}
		})
	}
}

// A nightly rebuild: clones older than maxAge are replaced, and the run
// converges.
func TestMaxAgeRebuild(t *testing.T) {
	l := newLab(t, sim.Options{})
	p, err := plan.Parse("lab.yaml", []byte(strings.ReplaceAll(strings.Replace(labPlan, "  - name: db\n", "  - name: db\n    maxAge: 24h\n", 1), "{v}", "1")))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.apply(t, p, context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	tomorrow := time.Now().Add(25 * time.Hour)
	ch := plan.Diff(p, l.inventory(t), plan.Options{Now: tomorrow})
	if ch.Count(plan.Replace) != 2 || ch.Count(plan.NoOp) != 4 {
		t.Fatalf("a day later: %d to replace, %d in place; want the 2 db clones replaced", ch.Count(plan.Replace), ch.Count(plan.NoOp))
	}
	opts := executor.OptionsFrom(p.Execution, "nightly-run-1")
	if _, err := executor.Run(context.Background(), ch, l.ops, opts); err != nil {
		t.Fatal(err)
	}
	inv := l.inventory(t)
	if ch := plan.Diff(p, inv, plan.Options{}); ch.HasChanges() {
		t.Errorf("not converged after the rebuild: %+v", ch.Items)
	}
	for _, vm := range inv.VMs {
		if vm.Markers[inventory.MarkerGroup] == "db" && vm.Markers[inventory.MarkerRun] != "nightly-run-1" {
			t.Errorf("%s was not rebuilt by the nightly run (run %s)", vm.Path, vm.Markers[inventory.MarkerRun])
		}
	}
	connectedMACsUnique(t, inv)
}
