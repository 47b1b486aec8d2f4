package vsphere

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/iclone-plan/iclone-plan/internal/sim"
)

func TestLease(t *testing.T) {
	_, s := initSimulator(t, nil)
	ctx := context.Background()
	a := connect(t, insecureConfig(s))
	b := connect(t, insecureConfig(s)) // another "machine": its own session
	opsA, err := a.Ops(ctx, "/DC0")
	if err != nil {
		t.Fatal(err)
	}
	opsB, err := b.Ops(ctx, "/DC0")
	if err != nil {
		t.Fatal(err)
	}

	l1, err := opsA.AcquireLease(ctx, LeaseInfo{Plan: "lab", Run: "run-1", Host: "cron-a", PID: 4242}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	_, err = opsB.AcquireLease(ctx, LeaseInfo{Plan: "lab", Run: "run-2", Host: "cron-b", PID: 1}, time.Minute)
	var held *LeaseHeldError
	if !errors.As(err, &held) || held.Info == nil || held.Info.Run != "run-1" || !strings.Contains(err.Error(), "pid 4242 on cron-a") {
		t.Fatalf("second acquire: %v, want the lease held by run-1, pid 4242 on cron-a", err)
	}
	// Another plan is independent.
	other, err := opsB.AcquireLease(ctx, LeaseInfo{Plan: "other", Run: "run-3", Host: "cron-b", PID: 1}, time.Minute)
	if err != nil {
		t.Fatalf("lease of another plan: %v", err)
	}
	if err := other.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l1.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l1.Release(ctx); err != nil {
		t.Fatalf("second release: %v", err)
	}
	l2, err := opsB.AcquireLease(ctx, LeaseInfo{Plan: "lab", Run: "run-2", Host: "cron-b", PID: 1}, time.Minute)
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	_ = l2.Release(ctx)
}

// A lease whose holder died is taken over: when it expired, or at once when
// the holder was a process of this machine that is gone.
func TestLeaseTakeover(t *testing.T) {
	_, s := initSimulator(t, nil)
	ctx := context.Background()
	ops, err := connect(t, insecureConfig(s)).Ops(ctx, "/DC0")
	if err != nil {
		t.Fatal(err)
	}

	// A dead local process: a child that has exited.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := LocalHolder("lab", "dead-run")
	dead.PID = cmd.Process.Pid
	l, err := ops.AcquireLease(ctx, dead, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	stopRenewal(l)
	l2, err := ops.AcquireLease(ctx, LocalHolder("lab", "run-2"), time.Hour)
	if err != nil {
		t.Fatalf("taking over a dead local holder's lease: %v", err)
	}
	stopRenewal(l2)

	// An expired lease of another machine.
	l3, err := ops.AcquireLease(ctx, LeaseInfo{Plan: "x", Run: "r", Host: "elsewhere", PID: 1}, 1500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	stopRenewal(l3) // the holder crashed: nobody renews
	if _, err := ops.AcquireLease(ctx, LeaseInfo{Plan: "x", Run: "r2", Host: "h", PID: 2}, time.Minute); err == nil {
		t.Fatal("took over a lease that has not expired")
	}
	time.Sleep(1600 * time.Millisecond)
	l4, err := ops.AcquireLease(ctx, LeaseInfo{Plan: "x", Run: "r2", Host: "h", PID: 2}, time.Minute)
	if err != nil {
		t.Fatalf("taking over an expired lease: %v", err)
	}
	_ = l4.Release(ctx)
}

// stopRenewal simulates a holder that died: it stops renewing without
// releasing.
func stopRenewal(l *Lease) {
	close(l.stop)
	<-l.done
}

// A lease whose renewals vCenter stops taking stops holding before it
// could have expired: Valid fails with ErrLeaseLost, Lost is closed and the
// lease's Context is cancelled with that cause.
func TestLeaseLostWhenRenewalsFail(t *testing.T) {
	_, s := initSimulator(t, nil)
	p := newStallProxy(t, s.URL)
	ctx := context.Background()
	ops, err := connect(t, Config{URL: p.url.String(), Insecure: true, Timeout: stallTimeout}).Ops(ctx, "/DC0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := ops.AcquireLease(ctx, LeaseInfo{Plan: "lab", Run: "run-1", Host: "cron-a", PID: 1}, 8*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	lctx, cancel := l.Context(ctx)
	defer cancel()
	p.stall.Store(true) // vCenter goes silent: no renewal gets through
	if err := returns(t, "waiting for the lease to be lost", func() error { <-l.Lost(); return nil }); err != nil {
		t.Fatal(err)
	}
	err = l.Valid()
	if !errors.Is(err, ErrLeaseLost) || !strings.Contains(err.Error(), `plan "lab": not renewed for`) {
		t.Fatalf("Valid after the renewals failed: %v; want ErrLeaseLost, not renewed", err)
	}
	<-lctx.Done()
	if cause := context.Cause(lctx); !errors.Is(cause, ErrLeaseLost) {
		t.Fatalf("the lease's context ended with %v, want ErrLeaseLost", cause)
	}
	var stall *StallError
	if !errors.As(l.Err(), &stall) {
		t.Fatalf("Err: %v; want the failed renewal's StallError", l.Err())
	}
	// A renewal that gets through after the lease stopped holding does
	// not revive it: another run may have taken it over meanwhile.
	p.stall.Store(false)
	if err := l.renewOnce(); !errors.Is(err, ErrLeaseLost) || l.Valid() == nil {
		t.Fatalf("renewal after the loss: %v, Valid %v; want the lease still lost", err, l.Valid())
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// A held lease is valid, and a renewal moves its expiry on; a released
// one is not valid.
func TestLeaseValidUntilReleased(t *testing.T) {
	_, s := initSimulator(t, nil)
	ctx := context.Background()
	ops, err := connect(t, insecureConfig(s)).Ops(ctx, "/DC0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := ops.AcquireLease(ctx, LeaseInfo{Plan: "lab", Run: "run-1", Host: "cron-a", PID: 1}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Valid(); err != nil {
		t.Fatalf("a lease just taken: %v", err)
	}
	before := l.Info().Expires
	if err := l.renewOnce(); err != nil {
		t.Fatal(err)
	}
	if !l.Info().Expires.After(before) {
		t.Fatalf("renewal kept the expiry at %v", before)
	}
	held, err := ops.readLease(ctx, l.folder.Reference(), l.key)
	if err != nil || held == nil || !held.Expires.Equal(l.Info().Expires) {
		t.Fatalf("recorded lease %+v, %v; want the renewed expiry %v", held, err, l.Info().Expires)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Valid(); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("Valid after Release: %v, want ErrLeaseLost", err)
	}
	select {
	case <-l.Lost():
	default:
		t.Fatal("Lost is open after Release")
	}
}

// Renewing a lease whose folder was deleted (force-unlock, a takeover)
// gets ManagedObjectNotFound from the simulator: no crashed handler, no
// lock left held. The lease is lost, and the next acquire works.
func TestLeaseRenewalOfDeletedFolder(t *testing.T) {
	lab := newWebLab(t, sim.Options{})
	ctx := context.Background()
	l, err := lab.ops.AcquireLease(ctx, LeaseInfo{Plan: "lab", Run: "run-1", Host: "cron-a", PID: 1}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	task, err := l.folder.Destroy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitTask(t, lab.client, task)

	err = returns(t, "renewing a deleted lease", l.renewOnce)
	if !isNotFound(err) {
		t.Fatalf("renewal of a deleted lease folder: %v; want ManagedObjectNotFound", err)
	}
	if err := l.Valid(); !errors.Is(err, ErrLeaseLost) || !strings.Contains(err.Error(), "was deleted") {
		t.Fatalf("Valid: %v; want ErrLeaseLost, folder deleted", err)
	}
	var l2 *Lease
	err = returns(t, "acquiring the lease after a failed renewal", func() (err error) {
		l2, err = lab.ops.AcquireLease(ctx, LeaseInfo{Plan: "lab", Run: "run-2", Host: "cron-b", PID: 2}, time.Hour)
		return err
	})
	if err != nil {
		t.Fatalf("acquire after the failed renewal: %v", err)
	}
	if err := l2.Valid(); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatalf("releasing the lost lease: %v", err)
	}
	if err := l2.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// A lease folder left without a holder (a run killed between creating it
// and recording itself) is not taken over when first seen, nor before it
// has stayed so for a lifetime; then it is.
func TestLeaseWithoutHolderTakenOver(t *testing.T) {
	lab := newWebLab(t, sim.Options{})
	ctx := context.Background()
	root, err := lab.ops.folder(ctx, "/Lab/vm")
	if err != nil {
		t.Fatal(err)
	}
	for _, plan := range []string{"lab", "x"} {
		if _, err := root.CreateFolder(ctx, LeaseFolderPrefix+plan); err != nil { // the killed run's only step
			t.Fatal(err)
		}
	}

	// Seen with a lifetime of an hour: held, and still held just after.
	for i, run := range []string{"run-1", "run-2"} {
		_, err := lab.ops.AcquireLease(ctx, LeaseInfo{Plan: "lab", Run: run, Host: "cron-a", PID: 1}, time.Hour)
		var held *LeaseHeldError
		if !errors.As(err, &held) || held.Info == nil || !held.Info.Unclaimed {
			t.Fatalf("acquire %d of a lease without holder: %v; want it held, unclaimed", i+1, err)
		}
		for _, want := range []string{"no holder recorded", "taken over after", LeaseFolderPrefix + "lab"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("acquire %d: %q does not say %q", i+1, err, want)
			}
		}
	}

	// Seen with a short lifetime: held when first seen, taken over once
	// the recorded time has passed.
	_, err = lab.ops.AcquireLease(ctx, LeaseInfo{Plan: "x", Run: "run-1", Host: "cron-a", PID: 1}, time.Second)
	var held *LeaseHeldError
	if !errors.As(err, &held) || held.Info == nil || !held.Info.Unclaimed {
		t.Fatalf("first sight of a lease without holder: %v; want it held, unclaimed", err)
	}
	time.Sleep(time.Until(held.Info.Expires) + 100*time.Millisecond)
	l, err := lab.ops.AcquireLease(ctx, LeaseInfo{Plan: "x", Run: "run-2", Host: "cron-b", PID: 2}, time.Minute)
	if err != nil {
		t.Fatalf("taking over a lease without holder a lifetime after it was first seen: %v", err)
	}
	if got := l.Info().Run; got != "run-2" {
		t.Fatalf("lease held by %q, want run-2", got)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
}
