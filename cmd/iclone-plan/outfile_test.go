//go:build unix

package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iclone-plan/iclone-plan/internal/outfile/outfiletest"
)

// Output paths are written through, never replaced: run as the CLI (as root
// in CI), apply --sim with --report and --journal at a null device,
// --metrics-file at a symlink, and plan --out at a symlink whose target does
// not exist yet. The device stays a device with its mode, the links stay
// links, and their targets hold the run's output.
func TestOutputPathsAreWrittenThrough(t *testing.T) {
	if testing.Short() {
		t.Skip("CLI subprocess test")
	}
	dir := t.TempDir()
	null := outfiletest.NullDevice(t, dir)
	mkdirAll(t, filepath.Join(dir, "textfile"))
	metricsTarget := filepath.Join(dir, "textfile", "minimal.prom")
	if err := os.WriteFile(metricsTarget, []byte("# last night's\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	metricsLink := filepath.Join(dir, "minimal.prom")
	symlinkTo(t, "textfile/minimal.prom", metricsLink)
	planLink := filepath.Join(dir, "minimal.plan")
	symlinkTo(t, "textfile/saved.plan", planLink) // dangling until plan --out

	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), e2eMainEnv+"=1", "XDG_STATE_HOME="+filepath.Join(dir, "state"), "NO_COLOR=1")
		if r := runCLI(t, cmd); r.code != 0 {
			t.Fatalf("iclone-plan %s: %v", strings.Join(args, " "), r)
		}
	}
	plan := "../../plans/examples/minimal.yaml"
	run("apply", "--sim", "--auto-approve", "--report", null, "--journal", null, "--metrics-file", metricsLink, plan)
	run("plan", "--sim", "--out", planLink, plan)

	fi, err := os.Lstat(null)
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 || fi.Mode().Perm() != 0o666 {
		t.Errorf("%s is now %v (%v); want the character device it was, mode 0666", null, fi.Mode(), err)
	}
	for link, target := range map[string]string{metricsLink: "textfile/minimal.prom", planLink: "textfile/saved.plan"} {
		if got, err := os.Readlink(link); err != nil || got != target {
			t.Errorf("%s is no longer a link to %s: %q, %v", link, target, got, err)
		}
	}
	metrics, err := os.ReadFile(metricsTarget)
	if err != nil || !strings.Contains(string(metrics), `iclone_plan_last_run_success{plan="minimal"} 1`) {
		t.Errorf("the metrics link's target holds %q (%v); want this run's metrics", metrics, err)
	}
	var saved map[string]any
	if data, err := os.ReadFile(filepath.Join(dir, "textfile", "saved.plan")); err != nil || json.Unmarshal(data, &saved) != nil || saved["planSha256"] == nil {
		t.Errorf("the saved plan's link target holds %.200q (%v); want a saved plan", data, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "textfile", "saved.plan")); err == nil && fi.Mode().Perm() != 0o600 {
		t.Errorf("saved plan mode %v; want 0600 (it names the vCenter)", fi.Mode().Perm())
	}
}

func mkdirAll(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
}

func symlinkTo(t *testing.T, target, path string) {
	t.Helper()
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}
