package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/iclone-plan/iclone-plan/internal/sim"
)

func init() { register(newSimCmd) }

func newSimCmd(a *app) *cobra.Command {
	var (
		opts     sim.Options
		seedPlan string
	)
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Serve a vCenter simulator with Instant Clone on loopback",
		Long: `sim serves govmomi's vCenter simulator (vcsim), extended with a faithful
InstantClone_Task, on loopback until interrupted (SIGINT or SIGTERM).

The first line on standard output is
export GOVC_URL='https://USER:PASS@HOST:PORT/sdk', the second
export GOVC_TLS_CA_CERTS='FILE' (the server's certificate, for verified TLS):
paste them into a shell, or eval them (see the examples), and run iclone-plan
and govc against the simulator without --sim. Without --seed the inventory is vcsim's default vCenter model with its
VMs powered on; with --seed PLAN it is what the plan needs: its datacenter,
folders, datastores, port groups and running source VMs with the NICs and
serial ports the plan edits.

The timing model (--stun, --latency, --host-limit) and the fault hooks
(--fail-clone, --fail-leave-vm) are off by default.

--deny-privilege PRIV takes a privilege from the user, everywhere or, as
PRIV@PATH, on the inventory object at PATH and below it: the
AuthorizationManager reports it missing and every method that needs it
fails with NoPermission naming the privilege and the object, as vCenter
does for an account whose role lacks it.`,
		Example: `  # Serve in the background; eval its export lines, then apply and look
  iclone-plan sim --seed plans/examples/lab.yaml > sim.env & sleep 2; eval "$(cat sim.env)"
  iclone-plan apply --auto-approve plans/examples/lab.yaml && iclone-plan status plans/examples/lab.yaml

  iclone-plan sim --seed plans/examples/lab.yaml --hosts 2 --host-limit 4
  iclone-plan sim --listen 127.0.0.1:0 --vms 5000
  iclone-plan sim --seed plans/examples/lab.yaml --deny-privilege VirtualMachine.Provisioning.Clone`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if seedPlan != "" {
				seed, err := seedFromPlanFile(seedPlan)
				if err != nil {
					return err
				}
				opts.Seed = seed
			}
			preferTmpfs()
			s, err := sim.Start(cmd.Context(), opts)
			if err != nil {
				return err
			}
			defer s.Close()
			ca, err := s.CertificateFile()
			if err != nil {
				return fmt.Errorf("sim: certificate file: %w", err)
			}
			fmt.Fprintf(a.stdout, "export GOVC_URL=%s\nexport GOVC_TLS_CA_CERTS=%s\n", shellQuote(s.URL().String()), shellQuote(ca))
			fmt.Fprintf(a.stderr, "iclone-plan sim: serving on %s; stop with Ctrl-C\n", s.URL().Host)
			<-cmd.Context().Done()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Listen, "listen", "127.0.0.1:8989", "loopback `address` to serve on; port 0 picks a free port")
	f.StringVar(&seedPlan, "seed", "", "create what the `plan` file names instead of vcsim's default inventory")
	f.IntVar(&opts.VMs, "vms", 0, "`number` of extra plain powered-on VMs, for scale tests")
	f.IntVar(&opts.Hosts, "hosts", 0, "`number` of hosts in the cluster (0: 1 with --seed, 3 without); seeded sources are spread over them")
	f.DurationVar(&opts.Stun, "stun", 0, "stun phase of each instant clone, serialized per source (e.g. 200ms)")
	f.DurationVar(&opts.Latency, "latency", 0, "least running time of each instant clone task (e.g. 2s)")
	f.IntVar(&opts.HostLimit, "host-limit", 0, "instant clone tasks a host runs at once; more queue (0: no limit)")
	f.IntVar(&opts.FailClone, "fail-clone", 0, "fail the Nth instant clone as a task error (0: none)")
	f.BoolVar(&opts.FailLeaveVM, "fail-leave-vm", false, "the failed clone leaves a half-made, powered-off VM behind")
	f.BoolVar(&opts.FrozenSources, "frozen-sources", false, "freeze the seeded sources (runtime.instantCloneFrozen): their clones do not grow their delta chains")
	f.DurationVar(&opts.GuestReadyAfter, "guest-ready-after", 0, "a clone's guest comes up this long after power-on: Tools run and, if it carries guestinfo.iclone.name, it sets guestinfo.iclone.ready (0: at once)")
	f.IntVar(&opts.GuestNeverReady, "guest-never-ready", 0, "the guest of the Nth instant clone never comes up (0: none)")
	f.IntVar(&opts.ChainDepth, "chain-depth", 0, "start the seeded sources' disks at this many delta levels (vSphere stops at 255)")
	f.StringArrayVar(&opts.DenyPrivileges, "deny-privilege", nil, "take this privilege from the user (repeatable); PRIV@PATH only on the inventory object at PATH and below (e.g. Folder.Create@/Lab/vm)")
	f.StringVar(&opts.Username, "username", sim.DefaultUsername, "the only user name the simulator accepts")
	f.StringVar(&opts.Password, "password", sim.DefaultPassword, "the only password the simulator accepts")
	return cmd
}

// preferTmpfs points $TMPDIR at /dev/shm when it is unset and /dev/shm is
// writable. vcsim keeps a directory and a few files per VM under $TMPDIR;
// on this project's CI disks each file costs about half a millisecond, which
// made 5,000 VMs take 13 s instead of 5 s. The simulator's files are
// throwaway state, and this process serves nothing else.
func preferTmpfs() {
	if os.Getenv("TMPDIR") != "" {
		return
	}
	dir, err := os.MkdirTemp("/dev/shm", "iclone-plan-probe-")
	if err != nil {
		return
	}
	_ = os.Remove(dir)
	_ = os.Setenv("TMPDIR", "/dev/shm")
}

// seedFromPlanFile loads and validates a plan file and returns what the
// simulator must hold for the plan to apply as-is (see seedFromPlan).
func seedFromPlanFile(file string) (*sim.Seed, error) {
	p, err := loadPlan(file)
	if err != nil {
		return nil, err
	}
	return seedFromPlan(p), nil
}

// shellQuote quotes s for a POSIX shell: in single quotes, each single
// quote in s closed, escaped and reopened.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
