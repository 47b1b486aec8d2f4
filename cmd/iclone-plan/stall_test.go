//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/iclone-plan/iclone-plan/internal/executor"
	"github.com/iclone-plan/iclone-plan/internal/vsphere"
)

// The stall tests give every request to vCenter this deadline (the hidden
// --request-timeout; a minute by default) so that they end quickly. They
// assert only that the CLI exits, with what exit code and message, never
// how fast: stallBound is a generous bound on a hang, the bug they catch.
const (
	stallRequestTimeout = "2s"
	stallBound          = 5 * time.Minute
)

// stallCLI is a CLI subprocess whose end the test waits for within
// stallBound: a CLI still running then has hung, and is killed.
type stallCLI struct {
	cmd   *exec.Cmd
	lines chan string
	done  chan struct{}
	out   strings.Builder
	errb  bytes.Buffer
}

func startStallCLI(t *testing.T, env []string, args ...string) *stallCLI {
	t.Helper()
	c := &stallCLI{cmd: exec.Command(os.Args[0], args...), lines: make(chan string, 1000), done: make(chan struct{})}
	c.cmd.Env = env
	c.cmd.Stderr = &c.errb
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Kill()
			<-c.done
			_ = c.cmd.Wait()
		}
	})
	go func() {
		defer close(c.done)
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.out.WriteString(sc.Text() + "\n")
			select {
			case c.lines <- sc.Text():
			default:
			}
		}
	}()
	return c
}

// wait returns the CLI's result, or fails the test if it has not exited
// within stallBound.
func (c *stallCLI) wait(t *testing.T, what string) result {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(stallBound):
		_ = c.cmd.Process.Signal(syscall.SIGQUIT) // its goroutines, on stderr
		time.Sleep(time.Second)
		_ = c.cmd.Process.Kill()
		<-c.done
		_ = c.cmd.Wait()
		t.Fatalf("%s hung against a vCenter that does not answer (killed after %s):\n%s\n--- stderr\n%s", what, stallBound, c.out.String(), c.errb.String())
	}
	_ = c.cmd.Wait()
	return result{c.cmd.ProcessState.ExitCode(), c.out.String(), c.errb.String()}
}

// waitLine waits for an output line that contains s.
func (c *stallCLI) waitLine(t *testing.T, s string) {
	t.Helper()
	waitLine(t, c.lines, func() result { return c.wait(t, "the CLI") }, s)
}

// cliEnv is the environment of a CLI subprocess (it runs this test binary
// as iclone-plan) with the given extra variables, and no govc environment
// of the user's.
func cliEnv(t *testing.T, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOVC_") {
			env = append(env, kv)
		}
	}
	return append(env, append([]string{e2eMainEnv + "=1", "NO_COLOR=1", "XDG_STATE_HOME=" + filepath.Join(t.TempDir(), "state")}, extra...)...)
}

// holdListener accepts TCP connections and never answers on them, until
// the test ends: a vCenter that accepts connections and is silent.
func holdListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}

// silentTLSServer completes the TLS handshake and reads each request, but
// never answers it.
func silentTLSServer(t *testing.T) string {
	t.Helper()
	stop := make(chan struct{})
	s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	t.Cleanup(s.Close)
	t.Cleanup(func() { close(stop) }) // before s.Close, which waits for the handlers
	return s.Listener.Addr().String()
}

// stoppedSim is an iclone-plan sim process, seeded with the lab plan,
// then stopped with SIGSTOP: its kernel still accepts connections; the
// process never answers.
func stoppedSim(t *testing.T) string {
	t.Helper()
	p := startSim(t, "--seed", e2ePlan)
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.cmd.Process.Signal(syscall.SIGCONT) })
	u := strings.TrimPrefix(p.url, "https://")
	return u[strings.Index(u, "@")+1 : strings.Index(u, "/sdk")]
}

// TestStallPlan: plan against a vCenter that accepts connections and never
// answers (a listener that only accepts, a TLS server that never answers,
// a simulator process stopped with SIGSTOP) exits 1 with an error naming
// the vCenter's address and the step it was waiting for, instead of
// hanging. So do status and apply, which connect the same way.
func TestStallPlan(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end CLI test")
	}
	plan := [][]string{{"plan", e2ePlan}}
	every := [][]string{{"plan", e2ePlan}, {"status", e2ePlan}, {"apply", "--auto-approve", e2ePlan}}
	for _, tc := range []struct {
		name     string
		server   func(*testing.T) string
		commands [][]string
	}{
		// status and apply connect as plan does: one server is enough.
		{"accepts TCP and never answers", holdListener, every},
		{"answers the TLS handshake then stalls", silentTLSServer, plan},
		{"simulator stopped by SIGSTOP", stoppedSim, plan},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.server(t)
			env := cliEnv(t, "GOVC_URL=https://user:secret-pw@"+addr+"/sdk", "GOVC_INSECURE=1")
			for _, args := range tc.commands {
				args = append([]string{args[0], "--request-timeout", stallRequestTimeout}, args[1:]...)
				r := startStallCLI(t, env, args...).wait(t, args[0])
				if r.code != ExitError {
					t.Errorf("%s against a silent vCenter: exit %d, want %d:\n%v", args[0], r.code, ExitError, r)
				}
				for _, want := range []string{"vCenter " + addr, "connecting to vCenter", "did not answer RetrieveServiceContent within " + stallRequestTimeout, "check that vCenter is up"} {
					if !strings.Contains(r.stderr, want) {
						t.Errorf("%s: the error does not say %q:\n%v", args[0], want, r)
					}
				}
				if strings.Contains(r.stdout+r.stderr, "secret-pw") {
					t.Errorf("%s: the output shows the password:\n%v", args[0], r)
				}
			}
		})
	}
}

// simE2E is the e2e harness on an iclone-plan sim process (so the test
// can stop and kill it with real signals) seeded with planPath's sources,
// with a clone task latency that keeps clones in flight.
func simE2E(t *testing.T, planPath string) (*e2e, *simProc) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end CLI test")
	}
	p, err := loadPlan(planPath)
	if err != nil {
		t.Fatal(err)
	}
	sp := startSim(t, "--seed", planPath, "--hosts", "2", "--latency", "1s")
	c, err := vsphere.Connect(context.Background(), vsphere.Config{URL: sp.url, CACerts: sp.ca})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	env := cliEnv(t, "GOVC_URL="+sp.url, "GOVC_TLS_CA_CERTS="+sp.ca)
	return &e2e{t: t, env: env, client: c, dir: dir, plan: p}, sp
}

// quiesce waits, after the simulator resumed, until it has no task
// running and its inventory reads the same twice in a row: requests the
// CLI sent before it gave up are still in the simulator's sockets, and
// are carried out once it runs again, as a vCenter that was only slow
// would.
func (e *e2e) quiesce() map[string]string {
	e.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	prev := e.fullSnapshot()
	for time.Now().Before(deadline) {
		time.Sleep(1500 * time.Millisecond)
		cur := e.fullSnapshot()
		if maps.Equal(prev, cur) && !e.tasksRunning() {
			return cur
		}
		prev = cur
	}
	e.t.Fatal("the simulator's inventory did not settle after it resumed")
	return nil
}

// tasksRunning reports whether a recent task of vCenter is queued or
// running.
func (e *e2e) tasksRunning() bool {
	e.t.Helper()
	ctx := context.Background()
	pc := property.DefaultCollector(e.client.Vim)
	var tm mo.TaskManager
	if err := pc.RetrieveOne(ctx, *e.client.Vim.ServiceContent.TaskManager, []string{"recentTask"}, &tm); err != nil {
		e.t.Fatal(err)
	}
	if len(tm.RecentTask) == 0 {
		return false
	}
	var tasks []mo.Task
	if err := pc.Retrieve(ctx, tm.RecentTask, []string{"info.state"}, &tasks); err != nil {
		e.t.Fatal(err)
	}
	for _, tk := range tasks {
		if tk.Info.State == types.TaskInfoStateQueued || tk.Info.State == types.TaskInfoStateRunning {
			return true
		}
	}
	return false
}

// TestStallApplySIGSTOP: the simulator process is stopped (SIGSTOP) in
// the middle of an apply, once its first dozen clones are made, and stays
// stopped: the apply exits 4 (never hangs, never exits 0) with a report
// of what it left. Its rollback spends the task timeout retrying, then
// does not try its remaining steps one request deadline each: with more
// steps than request deadlines fit in the task timeout, some are reported
// "not attempted". After SIGCONT, once the simulator has carried out what
// it still had, everything that differs from before the run is listed in
// the report (outcomeOK); an exit 3 would have to leave the inventory as
// it was.
func TestStallApplySIGSTOP(t *testing.T) {
	const made = 12 // clones made before the stop; more than taskTimeout/requestTimeout+1
	planPath := labVariant(t, t.TempDir(), "lab.yaml", "retries: 0", "retries: 1\n  taskTimeout: 10s", "count: 4", "count: 20")
	e, sp := simE2E(t, planPath)
	e.addDecoy("/Lab/vm", "bystander")
	before := e.fullSnapshot()
	report := filepath.Join(e.dir, "report.json")
	cli := startStallCLI(t, e.env, "apply", "--auto-approve", "--request-timeout", stallRequestTimeout, "--report", report, planPath)
	for range made {
		cli.waitLine(t, " created lab-")
	}
	if err := sp.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	r := cli.wait(t, "apply against a stopped vCenter")
	if err := sp.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if r.code != ExitRolledBack && r.code != ExitRollbackFailed {
		t.Fatalf("apply against a vCenter stopped mid-run: exit %d, want 3 or 4:\n%v", r.code, r)
	}
	if !strings.Contains(r.stdout+r.stderr, "did not answer") {
		t.Errorf("the output does not say vCenter did not answer:\n%v", r)
	}
	skipped := 0
	for _, st := range readReport(t, report).Rollback {
		if strings.Contains(st.Error, "not attempted") {
			skipped++
		}
	}
	if skipped == 0 {
		t.Errorf("the rollback tried each of its steps against a vCenter that did not answer; want the steps past the task timeout not attempted:\n%v", r)
	}
	e.quiesce()
	e.outcomeOK("SIGSTOP", r, report, planPath, before)
	if d := snapshotDiff(foreign(before, "lab"), foreign(e.fullSnapshot(), "lab")); d != "" {
		t.Errorf("the run modified VMs the plan does not own:\n%s", d)
	}
	t.Logf("vCenter stopped mid-run: exit %d, %d left in the report, %d rollback steps not attempted", r.code, len(readReport(t, report).Leftover), skipped)

	// The next apply, with vCenter answering, converges.
	if r := e.cli("apply", "--auto-approve", planPath); r.code != 0 {
		t.Fatalf("the follow-up apply: %v", r)
	}
	e.convergedNow(planPath)
}

// TestStallApplySIGKILL: the simulator process is killed (SIGKILL) in the
// middle of an apply, after its first clones are made: the apply exits 4
// (never hangs) and its report lists every clone it made as left, and
// says what it could not find out. The inventory died with the process,
// so only the report and the exit are checked.
func TestStallApplySIGKILL(t *testing.T) {
	// Clones enough that many are still to make when the first is made.
	planPath := labVariant(t, t.TempDir(), "lab.yaml", "retries: 0", "retries: 1\n  taskTimeout: 10s", "count: 4", "count: 12")
	e, sp := simE2E(t, planPath)
	report := filepath.Join(e.dir, "report.json")
	cli := startStallCLI(t, e.env, "apply", "--auto-approve", "--request-timeout", stallRequestTimeout, "--report", report, planPath)
	cli.waitLine(t, " created lab-")
	if err := sp.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = sp.cmd.Wait()
	r := cli.wait(t, "apply against a killed vCenter")
	if r.code != ExitRollbackFailed {
		t.Fatalf("apply against a vCenter killed mid-run: exit %d, want %d:\n%v", r.code, ExitRollbackFailed, r)
	}
	rep := readReport(t, report)
	if rep.Outcome != executor.OutcomeRollbackIncomplete || len(rep.Leftover) == 0 {
		t.Fatalf("exit 4 but the report says %s with %d leftovers", rep.Outcome, len(rep.Leftover))
	}
	left := map[string]bool{}
	for _, l := range rep.Leftover {
		left[l.VM] = true
		left[l.Name] = true
		if !strings.Contains(r.stdout+r.stderr, l.Name) {
			t.Errorf("the output does not name the leftover %s:\n%v", l.Name, r)
		}
	}
	made := 0
	for _, a := range rep.Actions {
		if (a.Op == executor.OpCreate || a.Op == executor.OpReplace) && a.VM != "" {
			made++
			if !left[a.VM] {
				t.Errorf("%s %s made %s, which the report does not list as left: %+v", a.Op, a.Name, a.VM, rep.Leftover)
			}
		}
	}
	if made == 0 {
		t.Errorf("the report shows no clone made before the kill: %+v", rep.Actions)
	}
	t.Logf("vCenter killed mid-run: exit %d, %d made, %d left in the report", r.code, made, len(rep.Leftover))
}
