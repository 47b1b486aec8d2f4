package doctor

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"

	"github.com/iclone-plan/iclone-plan/internal/plan"
	"github.com/iclone-plan/iclone-plan/internal/sim"
	"github.com/iclone-plan/iclone-plan/internal/vsphere"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const testPlan = `version: 1
name: lab
datacenter: Lab
defaults:
  folder: /Lab/vm/lab
groups:
  - name: web
    source: /Lab/vm/golden/web
    count: 3
    cloneName: "lab-web-{index:02}"
    nics:
      - adapter: 1
        mac: "00:50:56:10:01:{index:02x}"
        network: Lab-Net
      - adapter: 2
        mac: auto
    serial:
      - port: 1
        file: "[datastore1] serial/{name}.log"
    guestinfo:
      hostname: "{name}"
  - name: db
    source: /Lab/vm/golden/db
    count: 2
    cloneName: "lab-db-{index}"
    folder: /Lab/vm/lab/db
`

// seed is what testPlan needs; extra networks and datastores are not
// seeded where a case leaves them out.
func seed() *sim.Seed {
	return &sim.Seed{Datacenter: "Lab", Sources: []sim.SeedSource{
		{Path: "/Lab/vm/golden/web", NICs: []sim.SeedNIC{{Adapter: 1, Network: "Lab-Net"}, {Adapter: 2}}, SerialPorts: 1, Datastores: []string{"datastore1"}},
		{Path: "/Lab/vm/golden/db"},
	}}
}

// env is a simulator over SOAP and a client of it, as doctor connects.
type env struct {
	t   *testing.T
	sim *sim.Simulator
	c   *vsphere.Client
	p   *plan.Plan
}

func newEnv(t *testing.T, planText string, opts sim.Options) *env {
	t.Helper()
	file := filepath.Join(t.TempDir(), "lab.yaml")
	if err := os.WriteFile(file, []byte(planText), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := plan.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Seed == nil {
		opts.Seed = seed()
	}
	s, err := sim.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	ca, err := s.CertificateFile()
	if err != nil {
		t.Fatal(err)
	}
	c, err := vsphere.Connect(context.Background(), vsphere.Config{URL: s.URL().String(), CACerts: ca, Datacenter: "Lab"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Logout(context.Background()) })
	return &env{t: t, sim: s, c: c, p: p}
}

func (e *env) vm(path string) *object.VirtualMachine {
	e.t.Helper()
	vm, err := find.NewFinder(e.c.Vim, false).VirtualMachine(context.Background(), path)
	if err != nil {
		e.t.Fatal(err)
	}
	return vm
}

// find returns the checks named name whose subject contains subject.
func find1(rep *Report, name, subject string) []Check {
	var out []Check
	for _, c := range rep.Checks {
		if c.Name == name && strings.Contains(c.Subject, subject) {
			out = append(out, c)
		}
	}
	return out
}

// Each case is a vCenter that differs from what the plan needs in one way;
// doctor (without a canary) fails the check that sees it, says what to do,
// and passes the others.
func TestRunFindsWhatApplyWouldTripOn(t *testing.T) {
	type want struct {
		check, subject string
		status         Status
		detail         string // a substring
	}
	for _, tc := range []struct {
		name    string
		plan    string
		opts    sim.Options
		prepare func(e *env)
		want    []want
		passed  bool
	}{
		{name: "ready", plan: testPlan, passed: true, want: []want{
			{"source", "/Lab/vm/golden/web", OK, "powered on, on host"},
			{"privileges", "/Lab", OK, "every privilege"},
			{"CheckInstantClone", "group web", OK, "accepts"},
			{"folder", "/Lab/vm/lab/db", OK, "apply creates it (2 level(s)) under /Lab/vm"},
			{"canary", "", Skipped, "not asked for"},
		}},
		{name: "clone denied on one source", plan: testPlan,
			opts: sim.Options{DenyPrivileges: []string{"VirtualMachine.Provisioning.Clone@/Lab/vm/golden/db"}},
			want: []want{
				{"privileges", "/Lab/vm/golden/db", Fail, "missing VirtualMachine.Provisioning.Clone (Provisioning > Clone virtual machine), needed for source of group db"},
				{"privileges", "/Lab", Fail, "1 privilege(s) missing"},
			}},
		{name: "no folder creation", plan: testPlan, opts: sim.Options{DenyPrivileges: []string{"Folder.Create@/Lab/vm"}},
			want: []want{{"privileges", "/Lab/vm", Fail, "missing Folder.Create (Folder > Create folder)"}}},
		{name: "chain full", plan: testPlan, opts: sim.Options{ChainDepth: 253},
			want: []want{{"source chain", "/Lab/vm/golden/web", Fail, "253/255 delta levels; a full rebuild of its 3 clones would pass"}}},
		{name: "frozen", plan: testPlan, opts: sim.Options{FrozenSources: true, ChainDepth: 253}, passed: true,
			want: []want{
				{"source", "/Lab/vm/golden/web", OK, "frozen, on host"},
				{"source chain", "/Lab/vm/golden/web", OK, "frozen: its clones do not grow the chain"},
			}},
		{name: "source off", plan: testPlan,
			prepare: func(e *env) {
				task, err := e.vm("/Lab/vm/golden/db").PowerOff(context.Background())
				if err == nil {
					err = task.Wait(context.Background())
				}
				if err != nil {
					e.t.Fatal(err)
				}
			},
			want: []want{
				{"source", "/Lab/vm/golden/db", Fail, "is poweredOff"},
				{"CheckInstantClone", "group db", Skipped, "cannot be cloned"},
				{"CheckInstantClone", "group web", OK, "accepts"},
			}},
		{name: "host in maintenance", plan: testPlan,
			prepare: func(e *env) {
				hosts, err := find.NewFinder(e.c.Vim, false).HostSystemList(context.Background(), "/Lab/host/*/*")
				if err != nil || len(hosts) != 1 {
					e.t.Fatalf("hosts %v: %v", hosts, err)
				}
				task, err := hosts[0].EnterMaintenanceMode(context.Background(), 0, false, nil)
				if err == nil {
					err = task.Wait(context.Background())
				}
				if err != nil {
					e.t.Fatal(err)
				}
			},
			want: []want{
				{"source", "/Lab/vm/golden/web", Fail, "which is in maintenance mode"},
				{"source", "/Lab/vm/golden/db", Fail, "which is in maintenance mode"},
			}},
		{name: "no source, no network", plan: strings.ReplaceAll(strings.ReplaceAll(testPlan, "golden/db", "golden/dbx"), "network: Lab-Net", "network: Other-Net"),
			want: []want{
				{"source", "/Lab/vm/golden/dbx", Fail, "no VM at this path"},
				{"network", "Other-Net", Fail, `no network "Other-Net" in /Lab (group web)`},
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.plan, tc.opts)
			if tc.prepare != nil {
				tc.prepare(e)
			}
			rep := Run(context.Background(), e.c, e.p, e.p.File, Options{TLS: "verified"})
			var text bytes.Buffer
			if err := Render(&text, rep); err != nil {
				t.Fatal(err)
			}
			if rep.Passed != tc.passed {
				t.Errorf("passed %v, want %v:\n%s", rep.Passed, tc.passed, text.String())
			}
			for _, w := range tc.want {
				found := false
				for _, c := range find1(rep, w.check, w.subject) {
					if c.Subject == w.subject || w.subject == "" {
						found = true
						if c.Status != w.status || !strings.Contains(c.Detail, w.detail) {
							t.Errorf("%s %s: %s %q, want %s with %q", w.check, w.subject, c.Status, c.Detail, w.status, w.detail)
						}
						if (c.Status == Fail || c.Status == Warn) && c.Fix == "" {
							t.Errorf("%s %s fails without saying what to do", w.check, w.subject)
						}
					}
				}
				if !found {
					t.Errorf("no check %q of %q:\n%s", w.check, w.subject, text.String())
				}
			}
		})
	}
}

// The rendered table of a doctor run with a missing privilege, a canary
// refused for it, and a canary that passed: golden, with the simulator's
// port, references and the run id masked.
func TestRenderGolden(t *testing.T) {
	e := newEnv(t, testPlan, sim.Options{DenyPrivileges: []string{"VirtualMachine.Provisioning.Clone@/Lab/vm/golden/db"}})
	rep := Run(context.Background(), e.c, e.p, "lab.yaml", Options{Canary: true, TLS: "verified against GOVC_TLS_CA_CERTS", RunID: "doctor-20260101T000000-0123abcd"})
	// Mask before rendering, so that the columns line up as rendered.
	mask := func(s string) string {
		s = strings.ReplaceAll(s, e.c.Host(), "127.0.0.1:PORT")
		return regexp.MustCompile(`\b(vm|task)-\d+\b`).ReplaceAllString(s, "$1-N")
	}
	rep.VCenter = mask(rep.VCenter)
	for i := range rep.Checks {
		rep.Checks[i].Subject, rep.Checks[i].Detail = mask(rep.Checks[i].Subject), mask(rep.Checks[i].Detail)
	}
	var b bytes.Buffer
	if err := Render(&b, rep); err != nil {
		t.Fatal(err)
	}
	golden(t, "canary-denied.txt", b.Bytes())
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./internal/doctor -update creates it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./internal/doctor -update rewrites it):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestAPIAtLeast(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want bool
	}{
		{"6.5", false}, {"6.7", true}, {"6.7.3", true}, {"7.0.3.0", true}, {"8.0.3.0", true},
		{"6", false}, {"", false}, {"x.y", false}, {"10.0", true},
	} {
		if got := apiAtLeast(tc.v, 6, 7); got != tc.want {
			t.Errorf("apiAtLeast(%q, 6, 7) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

func TestCanaryName(t *testing.T) {
	run := "doctor-20260101T000000-0123abcd"
	if got := canaryName("lab-web-01", run); got != "lab-web-01~doctor-0123abcd" {
		t.Errorf("canaryName = %q", got)
	}
	long := strings.Repeat("x", plan.MaxNameLen)
	if got := canaryName(long, run); len([]rune(got)) != plan.MaxNameLen || !strings.HasSuffix(got, "~doctor-0123abcd") {
		t.Errorf("canaryName of a %d-character name = %q (%d)", plan.MaxNameLen, got, len(got))
	}
}
