package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/iclone-plan/iclone-plan/internal/sim"
)

// testRate is the submission rate the example plans run at in tests. The
// examples' own rates pace task submissions to a real vCenter (lab: 2/s,
// nightly: 60/m, 5 minutes for its 308 clones); the rate changes when tasks
// start, not what they do, so the tests run the plans unchanged otherwise.
// README_test runs lab.yaml as it is, at its own rate.
const testRate = "1000/s"

var rateLine = regexp.MustCompile(`(?m)^(\s+rate:\s*)\S+`)

// Every plan in plans/examples applies cleanly against the simulator it
// seeds (the simulator `apply --sim` runs in-process, seeded by the same
// seedFromPlan, with one host as --sim has; served here so that the result can
// be inspected), and the result is converged: a second plan has no changes,
// exactly the plan's clones carry its marker, no two connected NICs share a
// MAC, status shows every clone in sync. TestReadmeQuickStart runs
// `apply --sim` itself, literally, on lab.yaml.
func TestExamplesApplyWithSim(t *testing.T) {
	t.Parallel() // CPU-bound; overlaps with the rate-paced README run
	paths, err := filepath.Glob("../../plans/examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 3 {
		t.Fatalf("only %d example plans", len(paths))
	}
	for _, path := range paths {
		name := filepath.Base(path)
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			if testing.Short() {
				t.Skip("applies every example plan")
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			fast := filepath.Join(t.TempDir(), name)
			if err := os.WriteFile(fast, rateLine.ReplaceAll(data, []byte("${1}"+testRate)), 0o644); err != nil {
				t.Fatal(err)
			}
			e := newE2E(t, fast, sim.Options{Hosts: 1})
			n := e.plan.NumClones()
			summary := regexp.MustCompile(`(?m)^Apply complete: (\d+) created, 0 replaced, 0 destroyed in `)
			r := e.cli("apply", "--auto-approve", fast)
			if m := summary.FindStringSubmatch(r.stdout); r.code != 0 || m == nil || m[1] != strconv.Itoa(n) {
				t.Fatalf("apply of %s (%d clones): %v", name, n, r)
			}
			e.converged(fast)
			if r := e.cli("status", fast); r.code != 0 || strings.Count(r.stdout, "in sync") != n {
				t.Errorf("status after apply: %d clones in sync of %d: %v", strings.Count(r.stdout, "in sync"), n, r)
			}
			t.Logf("%s: %d clones applied and converged", name, n)
		})
	}
}
