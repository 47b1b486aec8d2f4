package apply_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/iclone-plan/iclone-plan/internal/apply"
	"github.com/iclone-plan/iclone-plan/internal/executor"
	"github.com/iclone-plan/iclone-plan/internal/plan"
	"github.com/iclone-plan/iclone-plan/internal/sim"
	"github.com/iclone-plan/iclone-plan/internal/ui"
	"github.com/iclone-plan/iclone-plan/internal/vsphere"
)

const labPlan = `version: 1
name: lab
datacenter: Lab
defaults:
  folder: /Lab/vm/lab
groups:
  - name: web
    source: /Lab/vm/golden/web
    count: 2
    cloneName: "lab-web-{index:02}"
`

// lab is a simulator seeded for labPlan, the plan file and a Connector to
// the simulator, as cmd/iclone-plan's --sim makes one.
type lab struct {
	sim     *sim.Simulator
	path    string
	journal string
}

func newLab(t *testing.T) *lab {
	t.Helper()
	s, err := sim.Start(context.Background(), sim.Options{Seed: &sim.Seed{Datacenter: "Lab",
		Sources: []sim.SeedSource{{Path: "/Lab/vm/golden/web", NICs: []sim.SeedNIC{{Adapter: 1}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	dir := t.TempDir()
	path := filepath.Join(dir, "lab.yaml")
	if err := os.WriteFile(path, []byte(labPlan), 0o600); err != nil {
		t.Fatal(err)
	}
	return &lab{sim: s, path: path, journal: filepath.Join(dir, "lab.journal")}
}

func (l *lab) connect(ctx context.Context, p *plan.Plan) (*apply.Target, error) {
	c, err := vsphere.Connect(ctx, vsphere.Config{URL: l.sim.URL().String(), Insecure: true, Datacenter: p.Datacenter})
	if err != nil {
		return nil, err
	}
	return &apply.Target{Client: c, Close: func() { _ = c.Logout(context.Background()) }}, nil
}

// observe reads what is there now, through the same stages plan uses.
func (l *lab) clones(t *testing.T) []string {
	t.Helper()
	o, err := apply.Observe(context.Background(), l.path, l.connect, false)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Target.Close()
	var names []string
	for _, vm := range o.Inventory.VMs {
		if vm.Owned("lab") {
			names = append(names, vm.Name)
		}
	}
	slices.Sort(names)
	return names
}

// The stages run in order and report through the hooks: a refused review
// changes nothing and says so with ErrCancelled; an approved one runs the
// changes and hands back the report; a second run finds nothing to do and
// asks nothing.
func TestRunStages(t *testing.T) {
	l := newLab(t)
	tests := []struct {
		name    string
		approve bool
		want    []string // hooks called, in order
		err     error
		clones  []string
	}{
		{"refused", false, []string{"loaded", "review", "confirm"}, apply.ErrCancelled, nil},
		{"approved", true, []string{"loaded", "review", "confirm", "event", "finished"}, nil, []string{"lab-web-01", "lab-web-02"}},
		{"in sync", true, []string{"loaded", "review"}, nil, []string{"lab-web-01", "lab-web-02"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls []string
			note := func(s string) {
				if len(calls) == 0 || calls[len(calls)-1] != s {
					calls = append(calls, s)
				}
			}
			var rep *executor.Report
			hooks := apply.Hooks{
				Loaded:   func(*plan.Plan) error { note("loaded"); return nil },
				DeadRun:  func(string, int) { note("dead-run") },
				Review:   func(ui.PlanHeader, *plan.Changes) error { note("review"); return nil },
				Confirm:  func(*plan.Changes) bool { note("confirm"); return tt.approve },
				Event:    func(executor.Event) { note("event") },
				Finished: func(r *executor.Report) { note("finished"); rep = r },
			}
			res, err := apply.Run(context.Background(), l.connect, apply.Options{Path: l.path, Journal: l.journal}, hooks)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if !slices.Equal(calls, tt.want) {
				t.Errorf("hooks %v, want %v", calls, tt.want)
			}
			if res.Plan == nil || res.Changes == nil {
				t.Errorf("result %+v lacks the plan or the changes", res)
			}
			if rep != res.Report {
				t.Errorf("Finished got report %p, the result holds %p", rep, res.Report)
			}
			if rep != nil && rep.Outcome != executor.OutcomeSuccess {
				t.Errorf("outcome %s", rep.Outcome)
			}
			if got := l.clones(t); !slices.Equal(got, tt.clones) {
				t.Errorf("clones %v, want %v", got, tt.clones)
			}
		})
	}
}

// A hook's error stops the run before anything changes, and is the run's
// error.
func TestRunStopsOnHookError(t *testing.T) {
	l := newLab(t)
	stop := errors.New("refusing")
	for _, hooks := range []apply.Hooks{
		{Loaded: func(*plan.Plan) error { return stop }},
		{Review: func(ui.PlanHeader, *plan.Changes) error { return stop }},
	} {
		if _, err := apply.Run(context.Background(), l.connect, apply.Options{Path: l.path, Journal: l.journal}, hooks); !errors.Is(err, stop) {
			t.Errorf("err = %v, want %v", err, stop)
		}
	}
	if got := l.clones(t); len(got) != 0 {
		t.Errorf("clones %v after a stopped run", got)
	}
}

// Load tells a saved plan from a plan file, and destroy takes only plan
// files.
func TestLoad(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "lab.yaml")
	if err := os.WriteFile(file, []byte(labPlan), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"format": "other"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path    string
		destroy bool
		err     string
	}{
		{file, false, ""},
		{file, true, ""},
		{bad, false, "is not a saved plan"},
		{bad, true, "is not a valid plan"},
		{filepath.Join(dir, "missing.yaml"), false, "does not exist"},
	}
	for _, tt := range tests {
		in, err := apply.Load(tt.path, tt.destroy)
		if tt.err == "" {
			if err != nil || in.Plan.Name != "lab" || in.Saved != nil {
				t.Errorf("Load(%s, %v) = %+v, %v", tt.path, tt.destroy, in, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("Load(%s, %v): error %v, want one saying %q", tt.path, tt.destroy, err, tt.err)
		}
	}
}
