package main

import (
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

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

The first line on standard output is GOVC_URL=https://USER:PASS@HOST:PORT/sdk,
the second GOVC_TLS_CA_CERTS=FILE (the server's certificate, for verified
TLS). Without --seed the inventory is vcsim's default vCenter model with its
VMs powered on; with --seed PLAN it is what the plan needs: its datacenter,
folders, datastores, port groups and running source VMs with the NICs and
serial ports the plan edits.

The timing model (--stun, --latency, --host-limit) and the fault hooks
(--fail-clone, --fail-leave-vm) are off by default.`,
		Example: `  iclone-plan sim --seed plans/examples/lab.yaml --hosts 2 --host-limit 4
  iclone-plan sim --listen 127.0.0.1:0 --vms 5000`,
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
			fmt.Fprintf(a.stdout, "GOVC_URL=%s\nGOVC_TLS_CA_CERTS=%s\n", s.URL(), ca)
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

// seedFromPlanFile reads the keys of a plan file (DESIGN.md section 3) that
// seeding needs: datacenter, defaults.folder, groups[].source and .folder,
// nics[].adapter and .network, serial[].port and .file. Group keys may be set
// in defaults. Other keys are ignored: validating the plan is not its job.
func seedFromPlanFile(file string) (*sim.Seed, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	type nic struct {
		Adapter int    `yaml:"adapter"`
		Network string `yaml:"network"`
	}
	type serial struct {
		Port int    `yaml:"port"`
		File string `yaml:"file"`
	}
	type group struct {
		Source string   `yaml:"source"`
		Folder string   `yaml:"folder"`
		NICs   []nic    `yaml:"nics"`
		Serial []serial `yaml:"serial"`
	}
	var plan struct {
		Datacenter string  `yaml:"datacenter"`
		Defaults   group   `yaml:"defaults"`
		Groups     []group `yaml:"groups"`
	}
	if err := yaml.Unmarshal(data, &plan); err != nil {
		return nil, fmt.Errorf("seed: %s: %w", file, err)
	}

	seed := &sim.Seed{Datacenter: plan.Datacenter}
	if seed.Datacenter == "" {
		// The plan may omit the datacenter when there is one: take it from
		// the first inventory path.
		for _, p := range append([]string{plan.Defaults.Source, plan.Defaults.Folder}, func() (ps []string) {
			for _, g := range plan.Groups {
				ps = append(ps, g.Source, g.Folder)
			}
			return ps
		}()...) {
			if elems := strings.Split(strings.Trim(p, "/"), "/"); elems[0] != "" {
				seed.Datacenter = elems[0]
				break
			}
		}
	}
	addFolder := func(f string) {
		if f != "" && !strings.Contains(f, "{") {
			seed.Folders = append(seed.Folders, f)
		}
	}
	addFolder(plan.Defaults.Folder)
	sources := map[string]int{} // path -> index in seed.Sources
	for i, g := range plan.Groups {
		if g.Source == "" {
			g.Source = plan.Defaults.Source
		}
		if g.NICs == nil {
			g.NICs = plan.Defaults.NICs
		}
		if g.Serial == nil {
			g.Serial = plan.Defaults.Serial
		}
		if g.Source == "" {
			return nil, fmt.Errorf("seed: %s: group %d has no source", file, i+1)
		}
		addFolder(g.Folder)
		j, ok := sources[g.Source]
		if !ok {
			j = len(seed.Sources)
			sources[g.Source] = j
			seed.Sources = append(seed.Sources, sim.SeedSource{Path: g.Source})
		}
		src := &seed.Sources[j]
		for _, n := range g.NICs {
			src.NICs = append(src.NICs, sim.SeedNIC{Adapter: n.Adapter, Network: n.Network})
		}
		for _, s := range g.Serial {
			src.SerialPorts = max(src.SerialPorts, s.Port)
			// "[datastore] path": the datastore must exist.
			if ds, _, ok := strings.Cut(strings.TrimPrefix(s.File, "["), "]"); ok && strings.HasPrefix(s.File, "[") && ds != "" && !slices.Contains(src.Datastores, ds) {
				src.Datastores = append(src.Datastores, ds)
			}
		}
	}
	for _, s := range seed.Sources {
		if d := path.Dir(path.Clean("/" + strings.Trim(s.Path, "/"))); d == "/" {
			return nil, fmt.Errorf("seed: %s: source %q is not an inventory path (/DATACENTER/vm/.../NAME)", file, s.Path)
		}
	}
	return seed, nil
}
