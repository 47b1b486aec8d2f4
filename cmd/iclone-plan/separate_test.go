package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iclone-plan/iclone-plan/internal/sim"
	"github.com/iclone-plan/iclone-plan/internal/sim/simproc"
	"github.com/iclone-plan/iclone-plan/internal/vsphere"
)

// newSeparateE2E is newE2E with the simulator served by simproc: in a
// race-built test binary it runs in another process, built without -race,
// so that the race detector watches the CLI (these tests run the test
// binary itself as iclone-plan, race-built too) and not vcsim. e.sim is
// nil then.
func newSeparateE2E(t *testing.T, planPath string, opts sim.Options) *e2e {
	t.Helper()
	p, err := loadPlan(planPath)
	if err != nil {
		t.Fatal(err)
	}
	opts.Seed = seedFromPlan(p)
	if opts.Hosts == 0 {
		opts.Hosts = 2
	}
	s := simproc.Start(t, opts)
	dir := t.TempDir()
	env := append(os.Environ(), e2eMainEnv+"=1", "GOVC_URL="+s.URL, "GOVC_TLS_CA_CERTS="+s.CA,
		"XDG_STATE_HOME="+filepath.Join(dir, "state"), "NO_COLOR=1")
	c, err := vsphere.Connect(context.Background(), vsphere.Config{URL: s.URL, CACerts: s.CA})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Logout(context.Background()) })
	return &e2e{t: t, sim: s.Sim, env: env, client: c, dir: dir, plan: p}
}

// TestSeparateSimCLI drives the CLI through its concurrent paths against a
// simulator that, under -race, runs in another process (CI's race step
// runs it so): plan, an apply of parallel clones, status, a replace-all
// interrupted by a real SIGINT (rolled back), doctor --canary, and
// destroy. The CLI's own data races fail it (a race-built process exits
// 66 on one).
func TestSeparateSimCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end CLI test")
	}
	e := newSeparateE2E(t, e2ePlan, sim.Options{Latency: 100 * time.Millisecond})
	if r := e.cli("plan", "--detailed-exitcode", e2ePlan); r.code != 2 {
		t.Fatalf("plan: %v", r)
	}
	if r := e.cli("apply", "--auto-approve", e2ePlan); r.code != 0 || !strings.Contains(r.stdout, "Apply complete: 6 created") {
		t.Fatalf("apply: %v", r)
	}
	e.converged(e2ePlan)
	if r := e.cli("status", e2ePlan); r.code != 0 || strings.Count(r.stdout, "in sync") != 6 {
		t.Fatalf("status: %v", r)
	}

	before := e.everything()
	cmd := e.command("apply", "--auto-approve", "--replace-all", e2ePlan)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sent := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if !sent && strings.Contains(sc.Text(), " replaced lab-") {
			_ = cmd.Process.Signal(syscall.SIGINT)
			sent = true
		}
	}
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); !sent || code != ExitInterrupted {
		t.Fatalf("interrupted replace-all: exit %d, signal sent %v:\n%s\n%s", code, sent, out.String(), errb.String())
	}
	e.sameEverything(before, "an interrupted replace-all")

	if r := e.cli("doctor", "--canary", e2ePlan); r.code != 0 {
		t.Fatalf("doctor --canary: %v", r)
	}
	e.sameEverything(before, "doctor --canary")
	if r := e.cli("destroy", "--auto-approve", e2ePlan); r.code != 0 {
		t.Fatalf("destroy: %v", r)
	}
	for _, vm := range e.inventory().VMs {
		if vm.Owned("lab") {
			t.Errorf("destroy left %s", vm.Path)
		}
	}
}
