package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

func init() { register(newForceUnlockCmd) }

func newForceUnlockCmd(a *app) *cobra.Command {
	var (
		conn        connFlags
		autoApprove bool
	)
	cmd := &cobra.Command{
		Use:   "force-unlock PLAN",
		Short: "Release the plan's lease when the run that holds it is gone",
		Long: `Force-unlock shows who holds the plan's lease (the folder iclone-lease-PLAN
in vCenter) and releases it:

  - a lease with no holder recorded (a run killed while taking it) is
    removed at once;
  - a holder that was a process of this machine and no longer runs, or a
    lease past its expiry, is released;
  - a holder that still runs on this machine is refused (exit 1): wait for
    it, or stop it first;
  - a holder on another machine, whose process cannot be checked from here,
    is released only once confirmed on a terminal, or with --auto-approve.

A run whose lease was released this way finds it lost and makes no further
change (it exits 4 and its report lists what it left).`,
		Example: `  iclone-plan force-unlock plans/lab.yaml
  iclone-plan force-unlock --auto-approve plans/lab.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.forceUnlock(cmd.Context(), args[0], &conn, autoApprove)
		},
	}
	conn.register(cmd.Flags())
	cmd.Flags().BoolVar(&autoApprove, "auto-approve", false, "release a lease held from another machine without asking")
	return cmd
}

func (a *app) forceUnlock(ctx context.Context, path string, conn *connFlags, autoApprove bool) error {
	p, err := loadPlan(path)
	if err != nil {
		return err
	}
	if conn.sim {
		fmt.Fprintln(a.stderr, simEmptyNote)
	}
	t, err := a.connect(ctx, conn, p)
	if err != nil {
		return err
	}
	defer t.Close()
	dc, err := t.Client.ResolveDatacenter(ctx, t.Client.Datacenter())
	if err != nil {
		return err
	}
	ops, err := t.Client.Ops(ctx, dc)
	if err != nil {
		return err
	}
	defer ops.Close(context.WithoutCancel(ctx))
	s, err := ops.ReadLease(ctx, p.Name)
	if err != nil {
		return err
	}
	if !s.Held {
		fmt.Fprintf(a.stdout, "Plan %q holds no lease (no folder %s); nothing to unlock.\n", p.Name, s.Folder)
		return nil
	}
	switch {
	case s.Holderless():
		fmt.Fprintf(a.stdout, "The lease of plan %q (folder %s) has no holder recorded: a run was killed while taking it.\n", p.Name, s.Folder)
	default:
		fmt.Fprintf(a.stdout, "The lease of plan %q (folder %s) is held by %s (user %s).\n", p.Name, s.Folder, s.Info, s.Info.User)
		switch {
		case s.HolderAliveHere():
			return withExit(ExitError, fmt.Errorf("refusing to unlock plan %q: its holder, pid %d, still runs on this machine; wait for it to finish, or stop it (kill %d) and run force-unlock again",
				p.Name, s.Info.PID, s.Info.PID))
		case s.HolderGoneHere():
			fmt.Fprintf(a.stdout, "Its holder, pid %d, no longer runs on this machine.\n", s.Info.PID)
		case s.Expired(time.Now()):
			fmt.Fprintln(a.stdout, "Its holder let it expire.")
		case autoApprove:
		case isTerminal(a.stdout) && isTerminal(a.stdin):
			fmt.Fprintf(a.stdout, "Its holder runs on %s, which this machine cannot check.\n", s.Info.Host)
			if !ask(a.stdin, a.stdout, "release the lease of a run that may still be running") {
				return withExit(ExitError, errors.New("force-unlock cancelled; the lease is held as before"))
			}
		default:
			return withExit(ExitError, fmt.Errorf("refusing to unlock plan %q without confirmation: its holder runs on %s, which this machine cannot check; make sure that process is gone, then confirm on a terminal or pass --auto-approve",
				p.Name, s.Info.Host))
		}
	}
	if err := ops.RemoveLease(ctx, s); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "Released the lease of plan %q.\n", p.Name)
	return nil
}
