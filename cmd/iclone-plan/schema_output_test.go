package main

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/iclone-plan/iclone-plan/internal/sim"
	"github.com/iclone-plan/iclone-plan/schema"
)

const (
	reportSchemaURL = "https://github.com/iclone-plan/iclone-plan/schema/report.schema.json"
	eventsSchemaURL = "https://github.com/iclone-plan/iclone-plan/schema/events.schema.json"
)

// outputSchemas compiles the report and event-stream schemas, asserting
// formats (date-time) as well as structure.
func outputSchemas(t *testing.T) (report, events *jsonschema.Schema) {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for url, data := range map[string][]byte{reportSchemaURL: schema.ReportJSON, eventsSchemaURL: schema.EventsJSON} {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		if err := c.AddResource(url, doc); err != nil {
			t.Fatal(err)
		}
	}
	report, err := c.Compile(reportSchemaURL)
	if err != nil {
		t.Fatal(err)
	}
	if events, err = c.Compile(eventsSchemaURL); err != nil {
		t.Fatal(err)
	}
	return report, events
}

// TestOutputSchemas runs real applies and a destroy against the simulator,
// each with --report and --json, through every outcome a test can cause
// (rolled back, created, replaced, destroyed, rollback incomplete), and
// validates the report file and every line of the event stream against
// schema/report.schema.json and schema/events.schema.json. The report line
// of the stream must be the report file's document. Beyond the schemas, it
// checks that the report and the stream count the same things: a replace
// is one action with its old clone's destroy as a step (no destroy action
// of a NAME~old-RUN), and on success the progress of the finish line has
// every step done. With -update, the streams and the rolled-back report
// are written to schema/testdata, the real samples schema's own tests read.
func TestOutputSchemas(t *testing.T) {
	reportSchema, eventsSchema := outputSchemas(t)
	e := newE2E(t, e2ePlan, sim.Options{FailClone: 3})
	systemError := func(method string, skip int) *simulator.FaultInjectionRule {
		return &simulator.FaultInjectionRule{MethodName: method, ObjectType: "VirtualMachine", ObjectName: "*", Probability: 1,
			Fault: &types.SystemError{Reason: "injected by a fault rule"}, FaultType: simulator.FaultTypeCustom, SkipCount: skip, Enabled: true}
	}
	steps := []struct {
		name     string
		args     []string
		rules    []*simulator.FaultInjectionRule
		code     int
		outcome  string
		opsState []string // op/state pairs the report must hold
		steps    int      // actions' steps (replaced clones' destroys) the report must hold
	}{
		{name: "rolled-back", args: []string{"apply", e2ePlan}, code: ExitRolledBack, outcome: "rolled-back",
			opsState: []string{"create/failed", "create/rolled-back", "create/skipped", "folder/rolled-back"}},
		{name: "created", args: []string{"apply", e2ePlan}, code: ExitOK, outcome: "success",
			opsState: []string{"create/done", "folder/done"}},
		{name: "replaced", args: []string{"apply", "--replace-all", e2ePlan}, code: ExitOK, outcome: "success",
			opsState: []string{"replace/done"}, steps: 6},
		// The plan line lists the group --target left out (notTargeted).
		{name: "targeted", args: []string{"apply", "--replace", "lab-web-0[12]", "--target", "web", e2ePlan}, code: ExitOK, outcome: "success",
			opsState: []string{"replace/done"}, steps: 2},
		{name: "destroyed", args: []string{"destroy", e2ePlan}, code: ExitOK, outcome: "success",
			opsState: []string{"destroy/done"}},
		{name: "rollback-incomplete", args: []string{"apply", e2ePlan}, code: ExitRollbackFailed, outcome: "rollback-incomplete",
			rules:    []*simulator.FaultInjectionRule{systemError("InstantClone_Task", 2), systemError("Destroy_Task", 0)},
			opsState: []string{"create/failed", "create/rolled-back"}},
	}
	for _, st := range steps {
		reportPath := filepath.Join(e.dir, st.name+".json")
		args := append([]string{st.args[0], "--auto-approve", "--json", "--report", reportPath}, st.args[1:]...)
		for _, r := range st.rules {
			e.sim.Service().AddFaultRule(r)
		}
		r := e.cli(args...)
		e.sim.Service().ClearFaultRules()
		if r.code != st.code {
			t.Fatalf("%s: want exit %d: %v", st.name, st.code, r)
		}

		data, err := os.ReadFile(reportPath)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		file, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: the report is not JSON: %v", st.name, err)
		}
		if err := reportSchema.Validate(file); err != nil {
			t.Errorf("%s: the report file does not match report.schema.json: %v\n%s", st.name, err, data)
		}
		rep := file.(map[string]any)
		if rep["outcome"] != st.outcome {
			t.Errorf("%s: outcome %v, want %s", st.name, rep["outcome"], st.outcome)
		}
		have := map[string]bool{}
		nSteps := 0
		for _, a := range rep["actions"].([]any) {
			a := a.(map[string]any)
			have[a["op"].(string)+"/"+a["state"].(string)] = true
			if name := a["name"].(string); strings.Contains(name, "~") {
				t.Errorf("%s: an action of its own for the temporary name %s", st.name, name)
			}
			for _, s := range a["steps"].([]any) {
				s := s.(map[string]any)
				if a["op"] != "replace" || s["op"] != "destroy" || s["vm"] != a["oldVm"] || s["finished"] == nil || s["error"] != nil {
					t.Errorf("%s: step %v of action %v, want the destroy of the replaced clone", st.name, s, a)
				}
				nSteps++
			}
			if st.name != "destroyed" && a["op"] != "folder" && a["state"] == "done" && a["host"] == nil {
				t.Errorf("%s: no host recorded for %v", st.name, a)
			}
		}
		if nSteps != st.steps {
			t.Errorf("%s: %d action steps, want %d", st.name, nSteps, st.steps)
		}
		if rep["execution"] == nil {
			t.Errorf("%s: no execution settings recorded", st.name)
		}
		for _, want := range st.opsState {
			if !have[want] {
				t.Errorf("%s: the report has no %s action; it has %v", st.name, want, have)
			}
		}
		if left, _ := rep["leftover"].([]any); st.outcome == "rollback-incomplete" && len(left) == 0 {
			t.Errorf("%s: no leftover listed", st.name)
		}

		types := map[string]int{}
		sc := bufio.NewScanner(strings.NewReader(r.stdout))
		sc.Buffer(nil, 16<<20)
		var last any
		for n := 1; sc.Scan(); n++ {
			line, err := jsonschema.UnmarshalJSON(bytes.NewReader(sc.Bytes()))
			if err != nil {
				t.Fatalf("%s: stdout line %d is not JSON: %v\n%s", st.name, n, err, sc.Bytes())
			}
			ev := line.(map[string]any)
			if err := eventsSchema.Validate(line); err != nil {
				t.Errorf("%s: stdout line %d does not match events.schema.json: %v\n%s", st.name, n, err, sc.Bytes())
			}
			typ, _ := ev["type"].(string)
			types[typ]++
			last = ev["report"]
			if pr, ok := ev["progress"].(map[string]any); typ == "finish" && ok && st.outcome == "success" && pr["done"] != pr["total"] {
				t.Errorf("%s: the run succeeded with progress %v: every step must count", st.name, pr)
			}
		}
		for _, typ := range []string{"plan", "start", "finish", "report"} {
			if types[typ] != 1 {
				t.Errorf("%s: %d %q lines in the event stream, want 1: %v", st.name, types[typ], typ, types)
			}
		}
		if !reflect.DeepEqual(last, file) {
			t.Errorf("%s: the stream's last line is not the report file's document", st.name)
		}
		if *updateGolden {
			out := filepath.Join("..", "..", "schema", "testdata")
			if err := os.MkdirAll(out, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(out, st.name+".jsonl"), []byte(r.stdout), 0o644); err != nil {
				t.Fatal(err)
			}
			if st.name == "rolled-back" {
				if err := os.WriteFile(filepath.Join(out, st.name+".json"), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}
