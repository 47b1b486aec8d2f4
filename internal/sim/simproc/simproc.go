// Package simproc serves the simulator (internal/sim) in a process of its
// own, for tests of the client code (executor, vsphere, the CLI) built with
// the race detector: the simulator is then the very one users run, built
// without -race, and the race detector watches only the client. vcsim,
// under the simulator, has data races of its own (it reads datastores and
// sibling names without their locks while other tasks write them) that a
// race-built test would otherwise report.
//
// Start chooses: in a race-built test binary (Separate) it builds the
// server once (go build, without -race) and starts it as a subprocess;
// otherwise it starts the simulator in-process.
package simproc

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iclone-plan/iclone-plan/internal/sim"
)

// Server is a running simulator, in this process or another.
type Server struct {
	// URL is the SDK URL with the credentials, as GOVC_URL.
	URL string
	// CA is the file of the server's certificate, as GOVC_TLS_CA_CERTS.
	CA string
	// Sim is the in-process simulator; nil when it runs in another process.
	Sim *sim.Simulator
}

// Wire is the part of sim.Options that crosses to the server process (the
// hooks that are functions or fault values do not).
type Wire struct {
	Username, Password string
	Hosts, VMs         int
	Stun, Latency      time.Duration
	HostLimit          int
	FailClone          int
	FailLeaveVM        bool
	Seed               *sim.Seed
	FrozenSources      bool
	GuestReadyAfter    time.Duration
	GuestNeverReady    int
	DenyPrivileges     []string
	ChainDepth         int
}

// Options are the sim.Options of w.
func (w Wire) Options() sim.Options {
	return sim.Options{Username: w.Username, Password: w.Password, Hosts: w.Hosts, VMs: w.VMs, Stun: w.Stun, Latency: w.Latency,
		HostLimit: w.HostLimit, FailClone: w.FailClone, FailLeaveVM: w.FailLeaveVM, Seed: w.Seed, FrozenSources: w.FrozenSources,
		GuestReadyAfter: w.GuestReadyAfter, GuestNeverReady: w.GuestNeverReady, DenyPrivileges: w.DenyPrivileges, ChainDepth: w.ChainDepth}
}

func wire(o sim.Options) Wire {
	return Wire{Username: o.Username, Password: o.Password, Hosts: o.Hosts, VMs: o.VMs, Stun: o.Stun, Latency: o.Latency,
		HostLimit: o.HostLimit, FailClone: o.FailClone, FailLeaveVM: o.FailLeaveVM, Seed: o.Seed, FrozenSources: o.FrozenSources,
		GuestReadyAfter: o.GuestReadyAfter, GuestNeverReady: o.GuestNeverReady, DenyPrivileges: o.DenyPrivileges, ChainDepth: o.ChainDepth}
}

// Start serves a simulator with opts for the test, stopped at its end: in
// another process when Separate, else in this one. Options that cannot
// cross to another process (FailWhen, FailFault, Listen) fail the test
// there.
func Start(t testing.TB, opts sim.Options) *Server {
	t.Helper()
	if !Separate {
		s, err := sim.Start(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		ca, err := s.CertificateFile()
		if err != nil {
			t.Fatal(err)
		}
		return &Server{URL: s.URL().String(), CA: ca, Sim: s}
	}
	if opts.FailWhen != nil || opts.FailFault != nil || opts.Listen != "" {
		t.Fatal("simproc: FailWhen, FailFault and Listen do not cross to the server process; skip this test under -race (simproc.SkipIfSeparate)")
	}
	bin, err := build()
	if err != nil {
		t.Fatal(err)
	}
	arg, err := json.Marshal(wire(opts))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, string(arg))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe() // the server ends when it closes
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	r := bufio.NewReader(stdout)
	url, err1 := r.ReadString('\n')
	ca, err2 := r.ReadString('\n')
	if err1 != nil || err2 != nil {
		_ = stdin.Close()
		_ = cmd.Wait()
		t.Fatalf("simproc: the server did not start (%v %v):\n%s", err1, err2, stderr.String())
	}
	go func() { _, _ = io.Copy(io.Discard, r) }()
	return &Server{URL: strings.TrimSpace(url), CA: strings.TrimSpace(ca)}
}

// SkipIfSeparate skips a test that needs the simulator in its own process
// (its Model, Service, fault rules or hooks) when the simulator runs in
// another: such tests run in the ordinary (non-race) test run.
func SkipIfSeparate(t testing.TB) {
	t.Helper()
	if Separate {
		t.Skip("needs the simulator in-process; runs without -race (see internal/sim/simproc)")
	}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

// build builds the server, without -race, once per test binary.
func build() (string, error) {
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "iclone-plan-simproc-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "simserve")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/iclone-plan/iclone-plan/internal/sim/simproc/serve")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("simproc: go build of the simulator server: %v\n%s", err, out)
		}
	})
	return binPath, buildErr
}

// Cleanup removes the server binary; call it from TestMain after the
// tests ran.
func Cleanup() {
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
}
