package vsphere

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
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
