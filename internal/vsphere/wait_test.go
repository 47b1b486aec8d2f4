package vsphere

import (
	"context"
	"testing"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/session"

	"github.com/iclone-plan/iclone-plan/internal/sim"
)

// An instant clone whose wait loses the session (vCenter ends it, taking
// the wait's property collector along) or the network (vCenter stops
// serving for a while) still returns the clone it made: the task is not
// lost with the wait.
func TestWaitSurvivesSessionAndNetworkLoss(t *testing.T) {
	ctx := context.Background()
	s, err := sim.Start(ctx, sim.Options{Latency: 600 * time.Millisecond, Seed: &sim.Seed{Datacenter: "Lab",
		Sources: []sim.SeedSource{{Path: "/Lab/vm/golden/web", NICs: []sim.SeedNIC{{Adapter: 1}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	ca, err := s.CertificateFile()
	if err != nil {
		t.Fatal(err)
	}
	c := connect(t, Config{URL: s.URL().String(), CACerts: ca})
	ops, err := c.Ops(ctx, "/Lab")
	if err != nil {
		t.Fatal(err)
	}
	src, err := find.NewFinder(c.Vim).VirtualMachine(ctx, "/Lab/vm/golden/web")
	if err != nil {
		t.Fatal(err)
	}
	for _, lose := range []string{"session", "network"} {
		t.Run(lose, func(t *testing.T) {
			started := make(chan struct{})
			type res struct {
				vm  string
				err error
			}
			done := make(chan res, 1)
			go func() {
				vm, err := ops.InstantClone(ctx, &CloneSpec{Source: src.Reference().Value, Name: "clone-" + lose, Folder: "/Lab/vm"},
					func(string) { close(started) })
				done <- res{vm, err}
			}()
			<-started
			time.Sleep(150 * time.Millisecond) // waiting for the task now
			switch lose {
			case "session":
				cur, err := session.NewManager(c.Vim).UserSession(ctx)
				if err != nil || cur == nil {
					t.Fatal(cur, err)
				}
				admin := connect(t, Config{URL: s.URL().String(), CACerts: ca})
				if err := session.NewManager(admin.Vim).TerminateSession(ctx, []string{cur.Key}); err != nil {
					t.Fatal(err)
				}
			case "network":
				if err := s.Pause(); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Second) // the task ends meanwhile
				if err := s.Resume(); err != nil {
					t.Fatal(err)
				}
			}
			r := <-done
			if r.err != nil || r.vm == "" {
				t.Fatalf("instant clone after losing the %s: %q, %v", lose, r.vm, r.err)
			}
		})
	}
}
