package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/iclone-plan/iclone-plan/internal/executor"
	"github.com/iclone-plan/iclone-plan/internal/plan"
	"github.com/iclone-plan/iclone-plan/internal/sim"
	"github.com/iclone-plan/iclone-plan/internal/vsphere"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/")

// parseMetrics parses a metrics file with Prometheus' own text parser (as
// node_exporter's textfile collector does) and returns every sample as
// `name{label="value",...}` (labels sorted) → value.
func parseMetrics(t *testing.T, data []byte) map[string]float64 {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(data)))
	if err != nil {
		t.Fatalf("the Prometheus text parser rejects the metrics: %v\n%s", err, data)
	}
	out := map[string]float64{}
	for name, fam := range fams {
		if !strings.HasPrefix(name, "iclone_plan_") {
			t.Errorf("metric %s lacks the iclone_plan_ prefix", name)
		}
		if fam.GetHelp() == "" || fam.GetType() != dto.MetricType_GAUGE {
			t.Errorf("metric %s: help %q, type %v; want help and a gauge", name, fam.GetHelp(), fam.GetType())
		}
		for _, m := range fam.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			slices.Sort(labels)
			if !slices.ContainsFunc(labels, func(l string) bool { return strings.HasPrefix(l, "plan=") }) {
				t.Errorf("%s has no plan label", name)
			}
			out[name+"{"+strings.Join(labels, ",")+"}"] = m.GetGauge().GetValue()
		}
	}
	return out
}

// wantMetrics checks the given samples; the keys are as parseMetrics makes them.
func wantMetrics(t *testing.T, got map[string]float64, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("no sample %s", k)
		} else if g != v {
			t.Errorf("%s = %v, want %v", k, g, v)
		}
	}
}

// The rendering of each kind of run, against golden files, and what the
// Prometheus parser reads from them.
func TestMetricsRendering(t *testing.T) {
	p, err := loadPlan(e2ePlan)
	if err != nil {
		t.Fatal(err)
	}
	started := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
	finished := started.Add(83*time.Second + 250*time.Millisecond)
	earlier := time.Date(2026, 11, 24, 2, 1, 5, 500e6, time.UTC)
	changes := func(actions ...plan.Action) *plan.Changes {
		ch := &plan.Changes{Plan: p}
		for _, a := range actions {
			ch.Items = append(ch.Items, plan.Change{Action: a})
		}
		return ch
	}
	report := func(outcome executor.Outcome, leftovers int, ops ...string) *executor.Report {
		r := &executor.Report{Plan: p.Name, Outcome: outcome, Started: started, Finished: finished}
		for _, op := range ops { // "op/state", or "op/state/step" (a later step of the action)
			parts := strings.SplitN(op, "/", 3)
			a := &executor.Action{Op: executor.Op(parts[0]), State: executor.ActionState(parts[1])}
			if len(parts) == 3 {
				a.Steps = append(a.Steps, &executor.Step{Op: executor.Op(parts[2]), Name: "old"})
			}
			r.Actions = append(r.Actions, a)
		}
		for range leftovers {
			r.Leftover = append(r.Leftover, executor.Leftover{Name: "x", What: "destroy failed"})
		}
		return r
	}
	cases := []struct {
		name        string
		path        string
		rec         runRecord
		err         error
		lastSuccess time.Time
		want        map[string]float64
	}{
		{name: "success", rec: runRecord{plan: p, changes: changes(plan.Create, plan.Create, plan.Replace, plan.NoOp, plan.Destroy),
			// The replaced clone's destroy is part of the replace: one
			// replace and one destroy (of the clone the plan no longer has).
			report: report(executor.OutcomeSuccess, 0, "folder/done", "create/done", "create/done", "replace/done/destroy", "destroy/done")},
			want: map[string]float64{`iclone_plan_last_run_success{plan="lab"}`: 1, `iclone_plan_last_run_outcome{outcome="success",plan="lab"}`: 1,
				`iclone_plan_last_run_clone_operations{action="create",plan="lab",state="done"}`:  2,
				`iclone_plan_last_run_clone_operations{action="replace",plan="lab",state="done"}`: 1,
				`iclone_plan_last_run_clone_operations{action="destroy",plan="lab",state="done"}`: 1,
				`iclone_plan_last_run_planned_clones{action="unchanged",plan="lab"}`:              1,
				`iclone_plan_last_success_timestamp_seconds{plan="lab"}`:                          float64(finished.UnixMilli()) / 1e3}},
		{name: "no-changes", rec: runRecord{plan: p, changes: changes(plan.NoOp, plan.NoOp)},
			want: map[string]float64{`iclone_plan_last_run_success{plan="lab"}`: 1, `iclone_plan_last_run_outcome{outcome="no-changes",plan="lab"}`: 1,
				`iclone_plan_last_run_outcome{outcome="success",plan="lab"}`: 0}},
		{name: "rolled-back", lastSuccess: earlier, err: withExit(ExitRolledBack, errors.New("x")),
			rec: runRecord{plan: p, changes: changes(plan.Create, plan.Create, plan.Create),
				report: report(executor.OutcomeRolledBack, 0, "create/rolled-back", "create/failed", "create/skipped")},
			want: map[string]float64{`iclone_plan_last_run_success{plan="lab"}`: 0, `iclone_plan_last_run_exit_code{plan="lab"}`: 3,
				`iclone_plan_last_run_failures{plan="lab"}`: 1, `iclone_plan_last_run_outcome{outcome="rolled-back",plan="lab"}`: 1,
				`iclone_plan_last_success_timestamp_seconds{plan="lab"}`: float64(earlier.UnixMilli()) / 1e3}},
		{name: "rollback-incomplete", err: withExit(ExitRollbackFailed, errors.New("x")),
			rec: runRecord{plan: p, changes: changes(plan.Create), report: report(executor.OutcomeRollbackIncomplete, 2, "create/failed")},
			want: map[string]float64{`iclone_plan_last_run_leftovers{plan="lab"}`: 2, `iclone_plan_last_run_exit_code{plan="lab"}`: 4,
				`iclone_plan_last_success_timestamp_seconds{plan="lab"}`: 0}},
		{name: "partial", err: withExit(ExitPartial, errors.New("x")),
			rec:  runRecord{plan: p, changes: changes(plan.Create, plan.Create), report: report(executor.OutcomePartial, 0, "create/done", "create/failed")},
			want: map[string]float64{`iclone_plan_last_run_outcome{outcome="partial",plan="lab"}`: 1, `iclone_plan_last_run_exit_code{plan="lab"}`: 6}},
		{name: "interrupted", err: withExit(ExitInterrupted, errors.New("x")),
			rec:  runRecord{plan: p, changes: changes(plan.Create), report: report(executor.OutcomeInterrupted, 0, "create/rolled-back")},
			want: map[string]float64{`iclone_plan_last_run_outcome{outcome="interrupted",plan="lab"}`: 1, `iclone_plan_last_run_exit_code{plan="lab"}`: 130}},
		{name: "locked", err: withExit(ExitLocked, &vsphere.LeaseHeldError{Plan: "lab"}), rec: runRecord{plan: p},
			want: map[string]float64{`iclone_plan_last_run_outcome{outcome="locked",plan="lab"}`: 1, `iclone_plan_last_run_exit_code{plan="lab"}`: 5}},
		{name: "conflict", err: errors.New("conflicts"), rec: runRecord{plan: p, changes: changes(plan.Conflict, plan.Create)},
			want: map[string]float64{`iclone_plan_last_run_outcome{outcome="conflict",plan="lab"}`: 1, `iclone_plan_last_run_exit_code{plan="lab"}`: 1}},
		{name: "invalid-plan", path: `plans/My "odd" plan.yml`, err: errors.New("not a valid plan"),
			want: map[string]float64{`iclone_plan_last_run_outcome{outcome="error",plan="My \"odd\" plan"}`: 1,
				`iclone_plan_desired_clones{plan="My \"odd\" plan"}`: 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := c.path
			if path == "" {
				path = e2ePlan
			}
			m := newRunMetrics(path, &c.rec, c.err, started, finished)
			if m.LastSuccess.IsZero() {
				m.LastSuccess = c.lastSuccess
			}
			var b strings.Builder
			if _, err := m.WriteTo(&b); err != nil {
				t.Fatal(err)
			}
			got := []byte(b.String())
			golden := filepath.Join("testdata", "metrics", c.name+".prom")
			if *updateGolden {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if string(got) != string(want) {
				t.Errorf("metrics differ from %s (run with -update to accept):\n%s", golden, got)
			}
			samples := parseMetrics(t, got)
			wantMetrics(t, samples, c.want)
			ones := 0
			for k, v := range samples {
				if strings.HasPrefix(k, "iclone_plan_last_run_outcome{") {
					ones += int(v)
				}
			}
			if ones != 1 {
				t.Errorf("%d outcome series are 1, want exactly one", ones)
			}
			if d := samples[fmt.Sprintf("iclone_plan_last_run_duration_seconds{plan=%q}", m.Plan)]; d != 83.25 {
				t.Errorf("duration %v, want 83.25", d)
			}
		})
	}
}

// previousSuccess reads back what WriteTo wrote.
func TestMetricsLastSuccessRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 25, 2, 0, 7, 125e6, time.UTC)
	m := &runMetrics{Plan: "lab", Finished: at, LastSuccess: at, Planned: map[string]int{}, Operations: map[string]int{}}
	path := filepath.Join(t.TempDir(), "lab.prom")
	var b strings.Builder
	_, _ = m.WriteTo(&b)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := previousSuccess(path); !got.Equal(at) {
		t.Errorf("previousSuccess = %v, want %v", got, at)
	}
	if got := previousSuccess(filepath.Join(t.TempDir(), "none.prom")); !got.IsZero() {
		t.Errorf("previousSuccess of a missing file = %v", got)
	}
}

// The CLI writes the metrics file for a successful run, a run with no
// changes, a failed and rolled-back run (carrying the last success over), a
// replace-all (a replace counted once) and an invalid plan; atomically (no temporary file left) and world-readable.
func TestE2EMetricsFile(t *testing.T) {
	// The 7th instant clone fails: the first apply's 6 succeed, the
	// replace-all's first fails.
	e := newE2E(t, e2ePlan, sim.Options{FailClone: 7})
	dir := filepath.Join(e.dir, "textfile")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	prom := filepath.Join(dir, "iclone-plan-lab.prom")
	read := func() map[string]float64 {
		t.Helper()
		data, err := os.ReadFile(prom)
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(prom)
		if fi.Mode().Perm() != 0o644 {
			t.Errorf("metrics file mode %v, want 0644", fi.Mode().Perm())
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 1 {
			t.Errorf("the textfile directory holds %d files, want only the metrics file", len(ents))
		}
		return parseMetrics(t, data)
	}

	r := e.cli("apply", "--auto-approve", "--metrics-file", prom, e2ePlan)
	if r.code != 0 {
		t.Fatal(r)
	}
	m := read()
	wantMetrics(t, m, map[string]float64{
		`iclone_plan_last_run_success{plan="lab"}`:                                       1,
		`iclone_plan_last_run_outcome{outcome="success",plan="lab"}`:                     1,
		`iclone_plan_last_run_exit_code{plan="lab"}`:                                     0,
		`iclone_plan_desired_clones{plan="lab"}`:                                         6,
		`iclone_plan_last_run_planned_clones{action="create",plan="lab"}`:                6,
		`iclone_plan_last_run_clone_operations{action="create",plan="lab",state="done"}`: 6,
		`iclone_plan_last_run_failures{plan="lab"}`:                                      0,
	})
	success := m[`iclone_plan_last_success_timestamp_seconds{plan="lab"}`]
	if now := float64(time.Now().Unix()); success < now-600 || success > now+1 || m[`iclone_plan_last_run_timestamp_seconds{plan="lab"}`] != success {
		t.Errorf("last success %v, last run %v, now %v", success, m[`iclone_plan_last_run_timestamp_seconds{plan="lab"}`], now)
	}
	if m[`iclone_plan_last_run_duration_seconds{plan="lab"}`] <= 0 {
		t.Error("no duration")
	}

	r = e.cli("apply", "--auto-approve", "--metrics-file", prom, e2ePlan)
	if r.code != 0 {
		t.Fatal(r)
	}
	m = read()
	wantMetrics(t, m, map[string]float64{
		`iclone_plan_last_run_outcome{outcome="no-changes",plan="lab"}`:      1,
		`iclone_plan_last_run_success{plan="lab"}`:                           1,
		`iclone_plan_last_run_planned_clones{action="unchanged",plan="lab"}`: 6,
	})
	success = m[`iclone_plan_last_success_timestamp_seconds{plan="lab"}`]

	r = e.cli("apply", "--auto-approve", "--replace-all", "--metrics-file", prom, e2ePlan)
	if r.code != ExitRolledBack {
		t.Fatalf("replace-all with a fault: %v", r)
	}
	m = read()
	wantMetrics(t, m, map[string]float64{
		`iclone_plan_last_run_outcome{outcome="rolled-back",plan="lab"}`:                    1,
		`iclone_plan_last_run_success{plan="lab"}`:                                          0,
		`iclone_plan_last_run_exit_code{plan="lab"}`:                                        3,
		`iclone_plan_last_run_failures{plan="lab"}`:                                         1,
		`iclone_plan_last_run_planned_clones{action="replace",plan="lab"}`:                  6,
		`iclone_plan_last_success_timestamp_seconds{plan="lab"}`:                            success,
		`iclone_plan_last_run_clone_operations{action="replace",plan="lab",state="failed"}`: 1,
	})
	if m[`iclone_plan_last_run_timestamp_seconds{plan="lab"}`] < success {
		t.Error("the last run is older than the last success")
	}

	// A replace-all that succeeds: each replace destroys its old clone,
	// which the report marks as part of the replace; a replace counts once.
	if r := e.cli("apply", "--auto-approve", "--replace-all", "--metrics-file", prom, e2ePlan); r.code != 0 {
		t.Fatalf("replace-all: %v", r)
	}
	wantMetrics(t, read(), map[string]float64{
		`iclone_plan_last_run_outcome{outcome="success",plan="lab"}`:                      1,
		`iclone_plan_last_run_planned_clones{action="replace",plan="lab"}`:                6,
		`iclone_plan_last_run_planned_clones{action="destroy",plan="lab"}`:                0,
		`iclone_plan_last_run_clone_operations{action="replace",plan="lab",state="done"}`: 6,
		`iclone_plan_last_run_clone_operations{action="destroy",plan="lab",state="done"}`: 0,
	})

	if r := e.cli("destroy", "--auto-approve", "--metrics-file", prom, e2ePlan); r.code != 0 {
		t.Fatal(r)
	}
	wantMetrics(t, read(), map[string]float64{
		`iclone_plan_last_run_outcome{outcome="success",plan="lab"}`:                      1,
		`iclone_plan_desired_clones{plan="lab"}`:                                          0,
		`iclone_plan_last_run_planned_clones{action="destroy",plan="lab"}`:                6,
		`iclone_plan_last_run_clone_operations{action="destroy",plan="lab",state="done"}`: 6,
	})

	broken := filepath.Join(e.dir, "broken.yaml")
	if err := os.WriteFile(broken, []byte("version: 1\nname: lab\ngroups: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "broken.prom")
	if r := e.cli("apply", "--auto-approve", "--metrics-file", other, broken); r.code != 1 {
		t.Fatal(r)
	}
	data, err := os.ReadFile(other)
	if err != nil {
		t.Fatal(err)
	}
	wantMetrics(t, parseMetrics(t, data), map[string]float64{
		`iclone_plan_last_run_outcome{outcome="error",plan="broken"}`: 1,
		`iclone_plan_last_run_success{plan="broken"}`:                 0,
	})
}
