package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/iclone-plan/iclone-plan/internal/sim"
)

// chromium returns the path of Debian's chromium. Without it the test is
// skipped, unless CI is set (.ci/run installs it): then it fails.
func chromium(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set but chromium is not installed (.ci/run installs it: apt-get install chromium)")
		}
		t.Skip("chromium is not installed (apt-get install --no-install-recommends chromium); CI=1 makes this a failure")
	}
	return path
}

// headless runs chromium headless on the page with one more flag
// (--dump-dom, --screenshot=FILE) and returns its standard output.
func headless(t *testing.T, bin, page, flag string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), flag, "--window-size=1400,900", "file://"+page)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", flag, err, errb.Bytes())
	}
	return out.Bytes()
}

// TestShowTimelineInChromium applies the end-to-end lab plan against the
// simulator (two hosts; the third clone fails, so the run is rolled back),
// writes the timeline page of its apply --json stream and of its --report
// file with the real CLI, and opens both in headless Chromium: the DOM
// Chromium builds has one lane per host the plan's sources run on (the
// report records each action's host; the stream's report line is the same
// report) and one bar per operation that started, and the screenshot
// shows the bars.
func TestShowTimelineInChromium(t *testing.T) {
	bin := chromium(t)
	e := newE2E(t, e2ePlan, sim.Options{FailClone: 3, Latency: 200 * time.Millisecond})
	report := filepath.Join(e.dir, "report.json")
	r := e.cli("apply", "--auto-approve", "--json", "--report", report, e2ePlan)
	if r.code != ExitRolledBack {
		t.Fatalf("want the run rolled back (exit %d): %v", ExitRolledBack, r)
	}
	stream := filepath.Join(e.dir, "run.jsonl")
	if err := os.WriteFile(stream, []byte(r.stdout), 0o600); err != nil {
		t.Fatal(err)
	}

	// What the run did, read from its stream: each group's host, and the
	// operations that started.
	hostOf := map[string]string{}
	hosts := map[string]bool{}
	started := 0
	for line := range strings.Lines(r.stdout) {
		var ev struct {
			Type string `json:"type"`
			Plan *struct {
				Sources []struct{ Group, Host string }
			}
			Report *struct {
				Actions []struct{ Op, Group, Started string }
			}
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Plan != nil {
			for _, s := range ev.Plan.Sources {
				hostOf[s.Group] = s.Host
			}
		}
		if ev.Report != nil {
			for _, a := range ev.Report.Actions {
				if a.Started == "" {
					continue
				}
				started++
				if a.Op != "folder" {
					hosts[hostOf[a.Group]] = true
				}
			}
		}
	}
	if len(hosts) != 2 || started < 4 {
		t.Fatalf("the run should have started operations on both hosts: %d started on %v", started, hosts)
	}

	for _, tc := range []struct {
		name, input, kind string
		lanes             map[string]bool
	}{
		{"stream", stream, "host", hosts},
		{"report", report, "host", hosts},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page := filepath.Join(e.dir, tc.name+".html")
			if r := e.cli("show", "--html", page, tc.input); r.code != 0 || !strings.Contains(r.stdout, "Apply failed and was rolled back") {
				t.Fatalf("show --html: %v", r)
			}
			dom := string(headless(t, bin, page, "--dump-dom"))
			lanes := map[string]bool{}
			for _, m := range regexp.MustCompile(`<g class="lane" data-lane="([^"]+)" data-kind="`+tc.kind+`"`).FindAllStringSubmatch(dom, -1) {
				lanes[m[1]] = true
			}
			if len(lanes) != len(tc.lanes) {
				t.Errorf("%s lanes in the DOM: %v, want %v", tc.kind, lanes, tc.lanes)
			}
			for l := range tc.lanes {
				if !lanes[l] {
					t.Errorf("no lane for %s %s in the DOM: %v", tc.kind, l, lanes)
				}
			}
			if n := strings.Count(dom, `<g class="op" `); n != started {
				t.Errorf("%d bars in the DOM, want %d (the operations that started)", n, started)
			}
			if n := strings.Count(dom, `data-state="failed"`); n != 1 {
				t.Errorf("%d failed bars in the DOM, want 1", n)
			}

			shot := filepath.Join(e.dir, tc.name+".png")
			headless(t, bin, page, "--screenshot="+shot)
			f, err := os.Open(shot)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			img, err := png.Decode(f)
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != 1400 || b.Dy() != 900 {
				t.Errorf("screenshot %v, want 1400x900", b)
			}
			// The failed bar's red (#c62828) and the outcome badge are drawn.
			if n := countColor(img, 0xc6, 0x28, 0x28); n < 50 {
				t.Errorf("the screenshot has %d pixels of the failure red; the page did not render", n)
			}
		})
	}
}

// countColor counts the pixels of img within a few levels of r, g, b.
func countColor(img image.Image, r, g, b uint8) int {
	near := func(a uint32, b uint8) bool { d := int(a>>8) - int(b); return d >= -3 && d <= 3 }
	n := 0
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			pr, pg, pb, _ := img.At(x, y).RGBA()
			if near(pr, r) && near(pg, g) && near(pb, b) {
				n++
			}
		}
	}
	return n
}
