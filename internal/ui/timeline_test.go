package ui

import (
	"bytes"
	"cmp"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// fixtureFacts reads what a timeline fixture holds, independently of
// ParseTimeline: the operations that started, the lanes they belong on
// (each one's host, from its host key or its group's source in an event
// stream's plan line, or its group when byHost is false; "?" for neither)
// and the rollback's steps.
func fixtureFacts(t *testing.T, data []byte, byHost bool) (started int, lanes map[string]bool, rollback int) {
	t.Helper()
	hostOf := map[string]string{}
	report := data
	if !bytes.HasPrefix(data, []byte("{\n")) {
		for line := range bytes.Lines(data) {
			var ev struct {
				Type   string          `json:"type"`
				Plan   *PlanDoc        `json:"plan"`
				Report json.RawMessage `json:"report"`
			}
			if err := json.Unmarshal(line, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Plan != nil {
				for _, s := range ev.Plan.Sources {
					hostOf[s.Group] = s.Host
				}
			}
			if ev.Type == "report" {
				report = ev.Report
			}
		}
	}
	var r struct {
		Actions []struct {
			Op, Group, Host, Started string
		} `json:"actions"`
		Rollback []any `json:"rollback"`
	}
	if err := json.Unmarshal(report, &r); err != nil {
		t.Fatal(err)
	}
	lanes = map[string]bool{}
	for _, a := range r.Actions {
		if a.Started == "" {
			continue
		}
		started++
		lane := a.Group
		if byHost {
			lane = cmp.Or(a.Host, hostOf[a.Group])
		}
		if a.Op != "folder" {
			lanes[cmp.Or(lane, "?")] = true
		}
	}
	return started, lanes, len(r.Rollback)
}

// TestTimelineHTML renders the timeline of real runs of the end-to-end lab
// plan against the simulator (two hosts, a clone latency): their apply
// --json streams and a report file, and that report with the optional keys
// the report schema allows (execution, host, queued, rollback times) added.
// The page is compared with a golden file, and its lanes and bars are
// checked against the fixture: one lane per host (per group without hosts),
// one bar per operation that started, a failure mark per failed operation.
func TestTimelineHTML(t *testing.T) {
	for _, tc := range []struct {
		fixture string
		byHost  bool
		missing []string // fields the page must say the report lacks
	}{
		{"success.jsonl", true, []string{"execution", "actions[].queued"}},
		{"replaced.jsonl", true, []string{"execution", "actions[].queued"}},
		{"rolled-back.jsonl", true, []string{"execution", "actions[].queued", "rollback[].started"}},
		{"rolled-back.json", false, []string{"execution", "actions[].host", "actions[].queued", "rollback[].started"}},
		{"rolled-back-full.json", true, nil},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "timeline", tc.fixture))
			if err != nil {
				t.Fatal(err)
			}
			tl, err := ParseTimeline(data)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := WriteTimelineHTML(&b, tl); err != nil {
				t.Fatal(err)
			}
			page := b.String()
			golden(t, "timeline/"+strings.TrimSuffix(tc.fixture, filepath.Ext(tc.fixture))+filepath.Ext(tc.fixture)+".html.golden", b.Bytes())

			started, wantLanes, rollback := fixtureFacts(t, data, tc.byHost)
			if tl.ByHost != tc.byHost {
				t.Errorf("lanes by host: %v, want %v", tl.ByHost, tc.byHost)
			}
			lanes := map[string]bool{}
			kind := "group"
			if tc.byHost {
				kind = "host"
			}
			for _, m := range regexp.MustCompile(`<g class="lane" data-lane="([^"]*)" data-kind="`+kind+`"`).FindAllStringSubmatch(page, -1) {
				lanes[m[1]] = true
			}
			if !maps.Equal(lanes, wantLanes) || len(lanes) < 2 {
				t.Errorf("%s lanes %v, want %v", kind, lanes, wantLanes)
			}
			if n := strings.Count(page, `<g class="op" `); n != started || n != tl.Bars() {
				t.Errorf("%d bars, want %d (the operations that started)", n, started)
			}
			if n, want := strings.Count(page, `<path class="fail-mark"`), strings.Count(page, `data-state="failed"`); n != want {
				t.Errorf("%d failure marks for %d failed operations", n, want)
			}
			if rollback > 0 && !strings.Contains(page, `<rect class="band"`) {
				t.Error("a rolled-back run without the rollback band")
			}
			for _, m := range tc.missing {
				if !strings.Contains(page, m) {
					t.Errorf("the page does not say the report lacks %s", m)
				}
			}
			if tc.missing == nil && strings.Contains(page, "Not in this report") {
				t.Error("a report with every timing field is said to lack some")
			}
			// Self-contained: nothing is fetched, nothing runs.
			for _, bad := range []string{"<script", "http://", "https://", "@import", "<link", "<img"} {
				if strings.Contains(strings.ReplaceAll(page, `xmlns="http://www.w3.org/2000/svg"`, ""), bad) {
					t.Errorf("the page contains %q", bad)
				}
			}
		})
	}
}

// TestTimelineRejects: what is not a finished run's report is refused with
// a reason.
func TestTimelineRejects(t *testing.T) {
	stream, err := os.ReadFile(filepath.Join("testdata", "timeline", "success.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	cut := stream[:bytes.LastIndex(bytes.TrimSpace(stream), []byte("\n"))] // without the report line
	for _, tc := range []struct {
		name, data, want string
	}{
		{"yaml", "version: 1\nname: lab\n", "not a run report"},
		{"plan", `{"format": "iclone-plan/plan", "version": 1}`, "it has no run, started or finished"},
		{"unfinished stream", string(cut), "has no report line"},
		{"bad line", `{"v":1,"type":"start","time":"2026-11-30T11:58:48Z"}` + "\n{oops\n", "line 2 of the event stream is not JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseTimeline([]byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}
