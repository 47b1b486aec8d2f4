package main

import (
	"crypto/tls"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vmware/govmomi/vim25/soap"

	"github.com/iclone-plan/iclone-plan/internal/sim"
)

// cliEnv runs the CLI against e's simulator with the given environment
// instead of e's: the test binary's own, the e2e switch, a state directory,
// and env.
func (e *e2e) cliEnv(env []string, args ...string) result {
	e.t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), e2eMainEnv+"=1", "NO_COLOR=1", "XDG_STATE_HOME="+filepath.Join(e.dir, "state"),
		"GOVC_URL=", "GOVC_TLS_CA_CERTS=", "GOVC_TLS_KNOWN_HOSTS=", "GOVC_INSECURE=", "GOVC_USERNAME=", "GOVC_PASSWORD="), env...)
	return runCLI(e.t, cmd)
}

// TestHardeningTLS: the simulator's certificate is refused by default (the
// error shows the thumbprint and how to trust it), accepted with a CA file
// or a known-hosts thumbprint, refused with a wrong thumbprint, and
// accepted with --insecure or GOVC_INSECURE, which warn.
func TestHardeningTLS(t *testing.T) {
	e := newE2E(t, e2ePlan, sim.Options{})
	host := e.sim.URL().Host
	ca, err := e.sim.CertificateFile()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", host, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	thumb := soap.ThumbprintSHA1(conn.ConnectionState().PeerCertificates[0])
	conn.Close()
	known := filepath.Join(e.dir, "known_hosts")
	if err := os.WriteFile(known, []byte(host+" "+thumb+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wrong := filepath.Join(e.dir, "wrong_hosts")
	if err := os.WriteFile(wrong, []byte(host+" "+strings.Repeat("AB:", 19)+"AB\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	u := "GOVC_URL=" + e.sim.URL().String()
	before := e.fullSnapshot()
	cases := []struct {
		name   string
		env    []string
		args   []string
		ok     bool
		stderr []string
	}{
		{"default: refused", []string{u}, nil, false, []string{"presented a TLS certificate this machine does not trust",
			"GOVC_TLS_CA_CERTS", host + " " + thumb, "--insecure"}},
		{"CA file", []string{u, "GOVC_TLS_CA_CERTS=" + ca}, nil, true, nil},
		{"known-hosts thumbprint", []string{u, "GOVC_TLS_KNOWN_HOSTS=" + known}, nil, true, nil},
		{"wrong known-hosts thumbprint", []string{u, "GOVC_TLS_KNOWN_HOSTS=" + wrong}, nil, false, []string{"thumbprint"}},
		{"--insecure", []string{u}, []string{"--insecure"}, true, []string{"Warning: TLS certificate verification is disabled"}},
		{"GOVC_INSECURE=1", []string{u, "GOVC_INSECURE=1"}, nil, true, []string{"Warning: TLS certificate verification is disabled"}},
	}
	for _, c := range cases {
		for _, cmd := range []string{"plan", "status"} {
			r := e.cliEnv(c.env, append(append([]string{cmd}, c.args...), e2ePlan)...)
			switch {
			case c.ok && r.code != 0:
				t.Errorf("%s: %s: %v", c.name, cmd, r)
			case !c.ok && r.code != ExitError:
				t.Errorf("%s: %s: exit %d, want 1: %v", c.name, cmd, r.code, r)
			}
			for _, s := range c.stderr {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("%s: %s: stderr does not say %q:\n%v", c.name, cmd, s, r)
				}
			}
			if c.ok && strings.Contains(r.stderr, "Warning") != (len(c.stderr) > 0) {
				t.Errorf("%s: %s: unexpected warnings:\n%v", c.name, cmd, r)
			}
		}
	}
	if d := snapshotDiff(before, e.fullSnapshot()); d != "" {
		t.Fatalf("TLS checks changed the inventory:\n%s", d)
	}
	t.Logf("%d TLS configurations × plan and status: refused by default and with a wrong thumbprint; accepted with a CA file, a known-hosts thumbprint, --insecure and GOVC_INSECURE (warned)", len(cases))
}

// TestHardeningCredentials: with a distinctive password, plan, apply (one
// that succeeds and one that fails and rolls back), status and destroy,
// in text and JSON, with the password in GOVC_URL or in GOVC_PASSWORD, and
// a login with a wrong password: the password (plain or URL-escaped) is in
// no output and no file the CLI writes (report, metrics, journal, saved
// plan); files that may hold run or session data are mode 0600.
func TestHardeningCredentials(t *testing.T) {
	const user, secret = "svc-iclone", "Xy9:sEcr3t@p/ss%w0rd-DISTINCT"
	var faults sim.SeededFaults
	e := newE2E(t, e2ePlan, sim.Options{Username: user, Password: secret, FailWhen: faults.Fail})
	ca, err := e.sim.CertificateFile()
	if err != nil {
		t.Fatal(err)
	}
	withURL := []string{"GOVC_URL=" + e.sim.URL().String(), "GOVC_TLS_CA_CERTS=" + ca}
	bare := *e.sim.URL()
	bare.User = nil
	withEnv := []string{"GOVC_URL=" + bare.String(), "GOVC_USERNAME=" + user, "GOVC_PASSWORD=" + secret, "GOVC_TLS_CA_CERTS=" + ca}
	if !strings.Contains(withURL[0], url.QueryEscape(secret)) && !strings.Contains(withURL[0], url.PathEscape(secret)) && !strings.Contains(withURL[0], "%40") {
		t.Fatalf("the URL %s does not carry the password escaped", withURL[0])
	}
	forms := []string{secret, url.QueryEscape(secret), url.PathEscape(secret), "sEcr3t", "DISTINCT"}
	dir := t.TempDir()
	var outputs []string
	runs := 0
	run := func(env []string, args ...string) result {
		r := e.cliEnv(env, args...)
		runs++
		outputs = append(outputs, strings.Join(args, " ")+"\n"+r.stdout+r.stderr)
		return r
	}
	for i, env := range [][]string{withURL, withEnv} {
		report := filepath.Join(dir, fmt.Sprintf("report-%d.json", i))
		metrics := filepath.Join(dir, fmt.Sprintf("metrics-%d.prom", i))
		saved := filepath.Join(dir, fmt.Sprintf("saved-%d.plan", i))
		if r := run(env, "plan", "--out", saved, e2ePlan); r.code != 0 {
			t.Fatal(r)
		}
		run(env, "plan", "--json", e2ePlan)
		faults.Reseed(int64(i), 1) // every clone fails: a rollback, with faults in the report
		if r := run(env, "apply", "--auto-approve", "--report", report+".failed", "--metrics-file", metrics+".failed", e2ePlan); r.code != ExitRolledBack {
			t.Fatalf("apply with faults: %v", r)
		}
		faults.Reseed(0, 0)
		if r := run(env, "apply", "--auto-approve", "--json", "--report", report, "--metrics-file", metrics, saved); r.code != 0 {
			t.Fatalf("apply: %v", r)
		}
		run(env, "status", e2ePlan)
		run(env, "status", "--json", e2ePlan)
		if r := run(env, "destroy", "--auto-approve", "--report", report+".destroy", e2ePlan); r.code != 0 {
			t.Fatalf("destroy: %v", r)
		}
	}
	// A wrong password, in both places: refused, and not echoed either.
	wrongURL := *e.sim.URL()
	wrongURL.User = url.UserPassword(user, secret+"-wrong")
	for _, env := range [][]string{{"GOVC_URL=" + wrongURL.String(), "GOVC_TLS_CA_CERTS=" + ca},
		{"GOVC_URL=" + bare.String(), "GOVC_USERNAME=" + user, "GOVC_PASSWORD=" + secret + "-wrong", "GOVC_TLS_CA_CERTS=" + ca}} {
		if r := run(env, "plan", e2ePlan); r.code != ExitError || !strings.Contains(r.stderr, "refused the login for user \""+user+"\"") {
			t.Errorf("a wrong password: %v", r)
		}
	}

	// Every file the CLI wrote: its test directory and its state directory
	// (the journal).
	files, journals := 0, 0
	check := func(root string) {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			files++
			if strings.HasSuffix(p, ".journal") {
				journals++
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			outputs = append(outputs, p+"\n"+string(data))
			fi, err := d.Info()
			if err != nil {
				return err
			}
			mode := fi.Mode().Perm()
			switch {
			case strings.HasSuffix(p, ".prom") || strings.Contains(p, ".prom."):
				// Metrics are for node_exporter, another user: counts and
				// times only, world-readable on purpose.
			case mode != 0o600:
				t.Errorf("%s has mode %v, want 0600", p, mode)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	check(dir)
	check(filepath.Join(e.dir, "state"))
	if fi, err := os.Stat(filepath.Join(e.dir, "state", "iclone-plan")); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("the journal directory: %v, mode %v; want 0700", err, fi.Mode().Perm())
	}
	if journals == 0 {
		t.Error("no journal was written")
	}
	for _, out := range outputs {
		for _, f := range forms {
			if strings.Contains(out, f) {
				line, _, _ := strings.Cut(out, "\n")
				t.Errorf("%q (a form of the password) appears in %s:\n%s", f, line, out)
			}
		}
	}
	t.Logf("%d CLI runs and %d files written: the password appears in none of them; run files are mode 0600", runs, files)
}

// TestHardeningSimCredentials: iclone-plan sim --username/--password sets
// the only credentials the simulator accepts (defaults user/pass).
func TestHardeningSimCredentials(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess simulator")
	}
	def := startSim(t)
	if !strings.HasPrefix(def.url, "https://"+sim.DefaultUsername+":"+sim.DefaultPassword+"@") {
		t.Errorf("default GOVC_URL %s, want user:pass", def.url)
	}
	def.stop(t, syscall.SIGTERM)
	p := startSim(t, "--username", "ops", "--password", "n0t-the-default", "--seed", e2ePlan)
	defer p.stop(t, syscall.SIGTERM)
	if !strings.HasPrefix(p.url, "https://ops:n0t-the-default@") {
		t.Errorf("GOVC_URL %s, want the given credentials", p.url)
	}
	e := &e2e{t: t, dir: t.TempDir()}
	if r := e.cliEnv([]string{"GOVC_URL=" + p.url, "GOVC_TLS_CA_CERTS=" + p.ca}, "plan", e2ePlan); r.code != 0 {
		t.Errorf("plan with the simulator's credentials: %v", r)
	}
	u, _ := url.Parse(p.url)
	u.User = url.UserPassword(sim.DefaultUsername, sim.DefaultPassword)
	if r := e.cliEnv([]string{"GOVC_URL=" + u.String(), "GOVC_TLS_CA_CERTS=" + p.ca}, "plan", e2ePlan); r.code != ExitError || !strings.Contains(r.stderr, "refused the login") {
		t.Errorf("plan with the default credentials against --username ops: %v", r)
	}
}
