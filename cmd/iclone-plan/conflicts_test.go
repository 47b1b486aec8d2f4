package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/iclone-plan/iclone-plan/internal/sim"
	"github.com/iclone-plan/iclone-plan/internal/ui"
	"github.com/iclone-plan/iclone-plan/schema"
)

const brokenPlan = "testdata/conflicts/broken.yaml"

// plan reports every conflict of a plan in one run, in text and in JSON:
// missing sources, networks, pools and datastores, adapters and serial
// ports the source lacks, names and MACs held by VMs the plan does not own.
// Nothing is changed.
func TestE2EEveryConflictInOneRun(t *testing.T) {
	e := newE2E(t, e2ePlan, sim.Options{}) // the sources of lab.yaml only
	e.addDecoy("/Lab/vm", "broken-ok-1")
	e.addDecoy("/Lab/vm", "someone-elses-vm", "00:50:56:10:0a:02")
	before := snapshotOf(e.inventory())

	want := []struct{ kind, name, text string }{
		{"adapter-missing", "/Lab/vm/golden/web", `group "web" edits network adapter 3 but source VM /Lab/vm/golden/web has 2`},
		{"network-missing", "/Lab/vm/golden/web", `network "No-Such-Net" of group "web" adapter 1 does not exist in /Lab`},
		{"pool-missing", "/Lab/vm/golden/db", "resource pool /Lab/host/cluster1/Resources/no-such-pool of group \"db\" does not exist in /Lab"},
		{"serial-missing", "/Lab/vm/golden/db", `group "db" edits serial port 1 but source VM /Lab/vm/golden/db has 0`},
		{"datastore-missing", "/Lab/vm/golden/db", `datastore "no-such-ds" of group "db" serial port 1 does not exist in /Lab`},
		{"source-missing", "/Lab/vm/golden/app", `source VM /Lab/vm/golden/app of group "app" does not exist in /Lab`},
		{"source-missing", "/Lab/vm/golden/cache", `source VM /Lab/vm/golden/cache of group "cache" does not exist in /Lab`},
		{"name-taken", "broken-ok-1", "name taken: VM /Lab/vm/broken-ok-1"},
		{"mac-taken", "broken-ok-2", "MAC 00:50:56:10:0a:02 of broken-ok-2 adapter 1 is already used by VM /Lab/vm/someone-elses-vm adapter 1"},
	}

	r := e.cli("plan", brokenPlan)
	if r.code != 1 {
		t.Fatalf("plan of a plan with conflicts: %v", r)
	}
	for _, w := range want {
		if !strings.Contains(r.stdout, "! "+w.name+": "+w.text) {
			t.Errorf("text output lacks the %s conflict %q", w.kind, w.text)
		}
	}
	if !strings.Contains(r.stdout, "Plan: 9 conflict(s); nothing can be applied until they are resolved.") {
		t.Errorf("text output lacks the summary of 9 conflicts")
	}
	if !strings.Contains(r.stderr, `plan "broken" has 9 conflict(s); nothing was changed:`) {
		t.Errorf("stderr lacks the error naming 9 conflicts: %s", r.stderr)
	}
	checkGolden(t, "testdata/conflicts/plan.golden", normalizeSim(r.stdout))

	r = e.cli("plan", "--json", brokenPlan)
	if r.code != 1 {
		t.Fatalf("plan --json: %v", r)
	}
	var doc ui.PlanDoc
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("plan --json output: %v\n%s", err, r.stdout)
	}
	validatePlanDoc(t, r.stdout)
	var got, wantKinds []string
	for _, c := range doc.Changes {
		if c.Action == "conflict" {
			got = append(got, c.Kind+" "+c.Name)
		}
	}
	for _, w := range want {
		wantKinds = append(wantKinds, w.kind+" "+w.name)
	}
	slices.Sort(got)
	slices.Sort(wantKinds)
	if !slices.Equal(got, wantKinds) || doc.Summary["conflict"] != len(want) {
		t.Errorf("JSON conflicts (summary %d):\n  %s\nwant:\n  %s", doc.Summary["conflict"], strings.Join(got, "\n  "), strings.Join(wantKinds, "\n  "))
	}
	e.assertSame(before, "plan of a plan with conflicts")
}

var (
	simHostRE = regexp.MustCompile(`vCenter 127\.0\.0\.1:\d+`)
	simRefRE  = regexp.MustCompile(`\(vm-\d+\)`)
)

// normalizeSim replaces what differs between simulator runs (its port, VM
// references) in CLI output.
func normalizeSim(s string) string {
	s = simHostRE.ReplaceAllString(s, "vCenter SIM")
	return simRefRE.ReplaceAllString(s, "(vm-N)")
}

// checkGolden compares got with the golden file, or rewrites it with -update.
func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("output differs from %s (run with -update after checking):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// plan warns, in text and JSON, about clones of a running source that come
// up connected without connectAfterReady (the identity-collision rule of
// docs/guest-customization.md); it is a warning, not a conflict.
func TestE2EIdentityWarning(t *testing.T) {
	e := newE2E(t, e2ePlan, sim.Options{})
	data, err := os.ReadFile(e2ePlan)
	if err != nil {
		t.Fatal(err)
	}
	safe := filepath.Join(e.dir, "safe.yaml")
	if err := os.WriteFile(safe, []byte(strings.Replace(string(data), "defaults:\n", "defaults:\n  ready: true\n  connectAfterReady: true\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	web := `group "web": 4 clone(s) of running source VM /Lab/vm/golden/web come up connected with its hostname and addresses: set ready and connectAfterReady on the group, or give each clone port groups of its own (the identity-collision rule, docs/guest-customization.md)`
	db := `group "db": 2 clone(s) of running source VM /Lab/vm/golden/db come up connected`
	tests := []struct {
		name string
		plan string
		want []string
	}{
		{name: "lab.yaml without ready", plan: e2ePlan, want: []string{web, db}},
		{name: "with ready and connectAfterReady", plan: safe},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.cli("plan", "--detailed-exitcode", tt.plan)
			if r.code != 2 || !strings.Contains(r.stdout, "Plan: 6 to create, 0 to replace, 0 to destroy.") {
				t.Fatalf("plan: %v", r)
			}
			if got := strings.Contains(r.stdout, "Warnings:\n"); got != (len(tt.want) > 0) {
				t.Errorf("text has a Warnings section: %v, want %v\n%s", got, len(tt.want) > 0, r.stdout)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stdout, "  "+w) {
					t.Errorf("text lacks the warning %q:\n%s", w, r.stdout)
				}
			}
			r = e.cli("plan", "--json", tt.plan)
			var doc ui.PlanDoc
			if err := json.Unmarshal([]byte(r.stdout), &doc); r.code != 0 || err != nil {
				t.Fatalf("plan --json: %v %v", err, r)
			}
			if len(doc.Warnings) != len(tt.want) {
				t.Fatalf("JSON warnings %q, want %d", doc.Warnings, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(doc.Warnings[i], w) {
					t.Errorf("JSON warning %d = %q, want it to start with %q", i, doc.Warnings[i], w)
				}
			}
		})
	}
}

// validatePlanDoc validates plan --json output against the plan of
// schema/events.schema.json (the plan event's body).
func validatePlanDoc(t *testing.T, out string) {
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
	sch, err := c.Compile(eventsSchemaURL + "#/$defs/plan")
	if err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(v); err != nil {
		t.Errorf("plan --json does not match the plan of events.schema.json: %v", err)
	}
}
