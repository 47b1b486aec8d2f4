package schema_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/iclone-plan/iclone-plan/schema"
)

const base = "https://github.com/iclone-plan/iclone-plan/schema/"

func compileOutput(t *testing.T) (report, events *jsonschema.Schema) {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for name, data := range map[string][]byte{"report.schema.json": schema.ReportJSON, "events.schema.json": schema.EventsJSON} {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := c.AddResource(base+name, doc); err != nil {
			t.Fatal(err)
		}
	}
	report, err := c.Compile(base + "report.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if events, err = c.Compile(base + "events.schema.json"); err != nil {
		t.Fatal(err)
	}
	return report, events
}

// TestReportSchemaRejects takes a real report (a run of the end-to-end lab
// plan rolled back by an injected fault, written to testdata by
// TestOutputSchemas in cmd/iclone-plan with -update) and checks that the
// schema accepts it, and the same report with a leftover and a replace's
// step, and rejects each
// mistake a writer could make: a renamed or unknown key, a missing
// required key, an unknown outcome, state or op, a time that is not
// RFC 3339, a list that is null.
func TestReportSchemaRejects(t *testing.T) {
	reportSchema, eventsSchema := compileOutput(t)
	data, err := os.ReadFile("testdata/rolled-back.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		edit   func(r map[string]any)
		accept bool
	}{
		{"as written", func(map[string]any) {}, true},
		{"a replace with its old clone's destroy", func(r map[string]any) {
			a := action(r, 0)
			a["op"], a["oldVm"] = "replace", "vm-1"
			a["steps"] = []any{map[string]any{"op": "destroy", "name": "lab-web-01~old-a5da7646", "vm": "vm-1", "started": r["started"], "finished": r["finished"]}}
		}, true},
		{"leftover listed", func(r map[string]any) {
			r["outcome"] = "rollback-incomplete"
			r["leftover"] = []any{map[string]any{"name": "lab-web-01", "vm": "vm-50", "what": "could not destroy it: SystemError"}}
		}, true},
		{"Go-cased key", func(r map[string]any) { r["Outcome"] = r["outcome"]; delete(r, "outcome") }, false},
		{"unknown key", func(r map[string]any) { r["hosts"] = []any{} }, false},
		{"unknown action key", func(r map[string]any) { action(r, 0)["oldVM"] = "vm-1" }, false},
		{"no actions", func(r map[string]any) { delete(r, "actions") }, false},
		{"null rollback", func(r map[string]any) { r["rollback"] = nil }, false},
		{"no leftover", func(r map[string]any) { delete(r, "leftover") }, false},
		{"no tasks", func(r map[string]any) { delete(action(r, 0), "tasks") }, false},
		{"null steps", func(r map[string]any) { action(r, 0)["steps"] = nil }, false},
		{"unknown outcome", func(r map[string]any) { r["outcome"] = "failed" }, false},
		{"unknown state", func(r map[string]any) { action(r, 0)["state"] = "ok" }, false},
		{"unknown op", func(r map[string]any) { action(r, 0)["op"] = "clone" }, false},
		{"time without zone", func(r map[string]any) { r["started"] = "2026-11-30 11:58:52" }, false},
		{"task not a task", func(r map[string]any) { action(r, 0)["tasks"] = []any{"vm-1"} }, false},
		{"leftover without what", func(r map[string]any) {
			r["leftover"] = []any{map[string]any{"name": "lab-web-01"}}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r map[string]any
			if err := json.Unmarshal(data, &r); err != nil {
				t.Fatal(err)
			}
			tc.edit(r)
			doc := roundTrip(t, r)
			err := reportSchema.Validate(doc)
			if tc.accept && err != nil {
				t.Errorf("rejected: %v", err)
			}
			if !tc.accept && err == nil {
				t.Error("accepted")
			}
			// The report line of apply --json holds the same document.
			line := roundTrip(t, map[string]any{"v": 1, "type": "report", "time": "2026-11-30T11:58:53Z", "report": r})
			if err := eventsSchema.Validate(line); (err == nil) != tc.accept {
				t.Errorf("as a report line: %v (want accepted: %v)", err, tc.accept)
			}
		})
	}
}

func action(r map[string]any, i int) map[string]any {
	return r["actions"].([]any)[i].(map[string]any)
}

func roundTrip(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestEventLines validates every line of the real apply --json streams in
// testdata (written by TestOutputSchemas in cmd/iclone-plan with -update),
// and checks that a line of an unknown type, without its type's keys, or
// with a Go-cased key is rejected.
func TestEventLines(t *testing.T) {
	_, eventsSchema := compileOutput(t)
	paths, err := filepath.Glob("testdata/*.jsonl")
	if err != nil || len(paths) < 2 {
		t.Fatalf("fixtures: %v %v", paths, err)
	}
	lines := 0
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for n, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var ev map[string]any
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatal(err)
			}
			if err := eventsSchema.Validate(roundTrip(t, ev)); err != nil {
				t.Errorf("%s:%d: %v", p, n+1, err)
			}
			lines++
		}
	}
	for _, tc := range []struct{ name, line string }{
		{"unknown type", `{"v":1,"type":"progress","time":"2026-11-30T11:58:53Z"}`},
		{"no version", `{"type":"start","time":"2026-11-30T11:58:53Z"}`},
		{"version 2", `{"v":2,"type":"start","time":"2026-11-30T11:58:53Z"}`},
		{"failed without error", `{"v":1,"type":"failed","time":"2026-11-30T11:58:53Z","op":"create","name":"lab-web-01"}`},
		{"task-started without task", `{"v":1,"type":"task-started","time":"2026-11-30T11:58:53Z","op":"create","name":"lab-web-01","attempt":1}`},
		{"finish without outcome", `{"v":1,"type":"finish","time":"2026-11-30T11:58:53Z","progress":{"total":1,"done":1,"failed":0,"inFlight":0}}`},
		{"Go-cased progress", `{"v":1,"type":"start","time":"2026-11-30T11:58:53Z","progress":{"Total":1,"Done":0,"Failed":0,"InFlight":0}}`},
		{"ready without elapsed", `{"v":1,"type":"ready","time":"2026-11-30T11:58:53Z","op":"ready","name":"lab-web-01"}`},
		{"plan change no-op", `{"v":1,"type":"plan","time":"2026-11-30T11:58:53Z","plan":{"format":"iclone-plan/plan","version":1,"plan":"lab","file":"lab.yaml","vcenter":"127.0.0.1:1","datacenter":"/Lab","fingerprint":"x","createdAt":"2026-11-30T11:58:53Z","summary":{"create":0,"replace":0,"destroy":0,"noop":1,"conflict":0,"folders":0},"sources":[],"folders":[],"warnings":[],"changes":[{"action":"no-op","symbol":" ","name":"lab-web-01"}]}}`},
		{"report line without report", `{"v":1,"type":"report","time":"2026-11-30T11:58:53Z"}`},
	} {
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(tc.line))
		if err != nil {
			t.Fatal(err)
		}
		if eventsSchema.Validate(doc) == nil {
			t.Errorf("%s: accepted: %s", tc.name, tc.line)
		}
	}
	// The same lines made right are accepted: the rejections above are for
	// the mistake each names.
	for _, line := range []string{
		`{"v":1,"type":"ready","time":"2026-11-30T11:58:53Z","op":"ready","name":"lab-web-01","elapsed":0.25}`,
		`{"v":1,"type":"plan","time":"2026-11-30T11:58:53Z","plan":{"format":"iclone-plan/plan","version":1,"plan":"lab","file":"lab.yaml","vcenter":"127.0.0.1:1","datacenter":"/Lab","fingerprint":"x","createdAt":"2026-11-30T11:58:53Z","summary":{"create":0,"replace":0,"destroy":0,"noop":1,"conflict":0,"folders":0},"sources":[],"folders":[],"warnings":[],"changes":[{"action":"noop","symbol":" ","name":"lab-web-01"}]}}`,
	} {
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(line))
		if err != nil {
			t.Fatal(err)
		}
		if err := eventsSchema.Validate(doc); err != nil {
			t.Errorf("rejected: %v: %s", err, line)
		}
	}
	t.Logf("%d event lines of %d streams valid", lines, len(paths))
}

// TestOutputSchemasDescribeEveryProperty: every property of the report and
// event schemas has a description (directly or on the definition it
// refers to).
func TestOutputSchemasDescribeEveryProperty(t *testing.T) {
	for name, data := range map[string][]byte{"report.schema.json": schema.ReportJSON, "events.schema.json": schema.EventsJSON} {
		var doc map[string]any
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		defs, _ := doc["$defs"].(map[string]any)
		n := 0
		var walk func(path string, v any)
		walk = func(path string, v any) {
			m, ok := v.(map[string]any)
			if !ok {
				return
			}
			if props, ok := m["properties"].(map[string]any); ok {
				for prop, p := range props {
					n++
					pm := p.(map[string]any)
					desc, _ := pm["description"].(string)
					if ref, ok := pm["$ref"].(string); ok && desc == "" {
						d, _ := defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
						desc, _ = d["description"].(string)
					}
					if len(desc) < 12 {
						t.Errorf("%s: %s.%s has no description", name, path, prop)
					}
				}
			}
			for k, child := range m {
				walk(path+"/"+k, child)
			}
		}
		walk("#", doc)
		if n < 20 {
			t.Errorf("%s: only %d properties found", name, n)
		}
	}
}
