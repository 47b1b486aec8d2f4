package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/iclone-plan/iclone-plan/internal/doctor"
	"github.com/iclone-plan/iclone-plan/internal/vsphere"
)

func init() { register(newDoctorCmd) }

type doctorFlags struct {
	conn   connFlags
	canary bool
	json   bool
}

func newDoctorCmd(a *app) *cobra.Command {
	f := &doctorFlags{}
	cmd := &cobra.Command{
		Use:   "doctor PLAN",
		Short: "Check a vCenter against everything an apply of the plan depends on",
		Long: `Doctor checks, against the vCenter apply would use, everything an apply of
the plan depends on, and changes nothing (unless --canary):

  - the connection and TLS, made exactly as apply makes them;
  - vCenter's version and build, and its InstantClone_Task (API 6.7 or later);
  - the account's privileges on every object the plan touches, through the
    AuthorizationManager, naming each missing privilege and its object;
  - each source: it exists, is powered on or frozen, its host is connected
    and not in maintenance, its delta chain has room for the plan's clones,
    and vCenter's CheckInstantClone_Task accepts each group's rendered spec;
  - the folders, port groups, datastores and resource pools the plan names;
  - the lease: its custom attribute defined or definable, no run holding it.

--canary also makes, per source, one real instant clone with its group's
rendered spec under a canary name (NAME~doctor-RUN) in the group's folder,
under the plan's lease, with every NIC disconnected; checks what vCenter did
against what iclone-plan assumes (powered on, on the source's host, MACs as
planned or newly generated, markers and guestinfo in extraConfig, NICs
disconnected as requested, a delta disk over the source's chain, VMware
Tools as in the source); clones it again under the same name to record
vCenter's DuplicateName; and destroys it, with the folders it created. The
inventory afterwards is the one before, also when the clone fails or doctor
is interrupted (a running source's chain grows by one level per canary, as
with every clone).

Run it before the first apply on a new vCenter and after every vCenter
upgrade. Exit status 0 when no check fails, 1 otherwise (130 when
interrupted, after the cleanup). --json prints every observed fact, without
credentials, to attach to a bug report.`,
		Example: `  # Before the first apply on a new vCenter (govc environment set)
  iclone-plan doctor plans/lab.yaml

  # Also make and destroy one real instant clone per source
  iclone-plan doctor --canary plans/lab.yaml

  # Every fact, for a bug report
  iclone-plan doctor --canary --json plans/lab.yaml > doctor.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runDoctor(cmd, args[0], f)
		},
	}
	f.conn.register(cmd.Flags())
	cmd.Flags().BoolVar(&f.canary, "canary", false, "make, check and destroy one real instant clone per source")
	cmd.Flags().BoolVar(&f.json, "json", false, "print the report as JSON, with every observed fact")
	return cmd
}

func (a *app) runDoctor(cmd *cobra.Command, path string, f *doctorFlags) error {
	p, err := loadPlan(path)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	tlsHow, insecure := tlsDescription(&f.conn)
	var rep *doctor.Report
	t, err := a.connect(ctx, &f.conn, p)
	if err != nil {
		rep = doctor.NewReport(p, path, "", f.canary)
		rep.ConnectFailed(err)
	} else {
		defer t.Close()
		opts := doctor.Options{Canary: f.canary, TLS: tlsHow, Insecure: insecure,
			Progress: func(msg string) { fmt.Fprintln(a.stderr, msg) }}
		rep = doctor.Run(ctx, t.Client, p, path, opts)
	}
	if f.json {
		err = doctor.WriteJSON(a.stdout, rep)
	} else {
		err = doctor.Render(a.stdout, rep)
	}
	if err != nil {
		return err
	}
	switch {
	case rep.Interrupted:
		return silentExit(ExitInterrupted)
	case !rep.Passed:
		return silentExit(ExitError)
	}
	return nil
}

// tlsDescription says how connect verifies vCenter's certificate, from the
// same flags and environment.
func tlsDescription(f *connFlags) (string, bool) {
	cfg := vsphere.ConfigFromEnv(os.Getenv)
	switch {
	case f.sim:
		return "verified (the in-process simulator's certificate)", false
	case f.insecure || cfg.Insecure:
		return "not verified", true
	case cfg.CACerts != "":
		return "verified against GOVC_TLS_CA_CERTS", false
	case cfg.KnownHosts != "":
		return "verified against GOVC_TLS_KNOWN_HOSTS or the system's CAs", false
	}
	return "verified against the system's CAs", false
}
