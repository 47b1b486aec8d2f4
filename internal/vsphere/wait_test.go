package vsphere

import (
	"context"
	"testing"
	"time"

	"github.com/vmware/govmomi/session"

	"github.com/iclone-plan/iclone-plan/internal/sim"
	"github.com/iclone-plan/iclone-plan/internal/sim/simproc"
)

// An instant clone whose wait loses the session (vCenter ends it, taking
// the wait's property collector along) or the network (vCenter stops
// serving for a while) still returns the clone it made: the task is not
// lost with the wait.
func TestWaitSurvivesSessionAndNetworkLoss(t *testing.T) {
	ctx := context.Background()
	l := newWebLab(t, sim.Options{Latency: 600 * time.Millisecond})
	s, c, ops := l.sim, l.client, l.ops
	for _, lose := range []string{"session", "network"} {
		t.Run(lose, func(t *testing.T) {
			if lose == "network" {
				simproc.SkipIfSeparate(t) // pauses the simulator
			}
			started := make(chan struct{})
			type res struct {
				vm  string
				err error
			}
			done := make(chan res, 1)
			go func() {
				vm, err := ops.InstantClone(ctx, &CloneSpec{Source: l.src, Name: "clone-" + lose, Folder: "/Lab/vm"},
					func(string) { close(started) })
				done <- res{vm, err}
			}()
			select {
			case <-started:
			case r := <-done:
				t.Fatalf("the instant clone ended before its task was made: %q, %v", r.vm, r.err)
			case <-time.After(time.Minute):
				t.Fatal("no instant clone task after a minute")
			}
			time.Sleep(150 * time.Millisecond) // waiting for the task now
			switch lose {
			case "session":
				cur, err := session.NewManager(c.Vim).UserSession(ctx)
				if err != nil || cur == nil {
					t.Fatal(cur, err)
				}
				admin := connect(t, l.cfg)
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
			var r res
			select {
			case r = <-done:
			case <-time.After(3 * time.Minute): // the poller gives up after a minute of failed polls
				t.Fatalf("the instant clone still waits 3 minutes after losing the %s", lose)
			}
			if r.err != nil || r.vm == "" {
				t.Fatalf("instant clone after losing the %s: %q, %v", lose, r.vm, r.err)
			}
		})
	}
}
