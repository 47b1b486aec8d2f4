package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/iclone-plan/iclone-plan/internal/apply"
	"github.com/iclone-plan/iclone-plan/internal/macgen"
	"github.com/iclone-plan/iclone-plan/internal/plan"
	"github.com/iclone-plan/iclone-plan/internal/platform"
	"github.com/iclone-plan/iclone-plan/internal/sim"
	"github.com/iclone-plan/iclone-plan/internal/ui"
	"github.com/iclone-plan/iclone-plan/internal/vsphere"
)

// connFlags are the connection flags of every command that talks to vCenter.
// Unset flags fall back to the govc environment (GOVC_URL, ...).
type connFlags struct {
	url      string
	insecure bool
	sim      bool
	// requestTimeout bounds every request to vCenter (vsphere.Config.Timeout).
	requestTimeout time.Duration
}

func (f *connFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.url, "url", "", "vCenter SDK URL, e.g. https://vcenter.example.com/sdk (default $GOVC_URL)")
	fs.BoolVar(&f.insecure, "insecure", false, "skip TLS certificate verification (default $GOVC_INSECURE); unsafe outside a lab")
	fs.BoolVar(&f.sim, "sim", false, "run against an in-process vCenter simulator seeded with the plan's sources (no vCenter needed)")
	// Hidden: the default suits every vCenter; tests of a stalled vCenter
	// shorten it (see docs/operations.md).
	fs.DurationVar(&f.requestTimeout, "request-timeout", vsphere.DefaultTimeout, "how long each request to vCenter may go unanswered before it fails")
	_ = fs.MarkHidden("request-timeout")
}

// simVCenter is the vCenter name of --sim's in-process simulator.
const simVCenter = "simulator (--sim)"

// simEmptyNote is what status and destroy say with --sim: their simulator
// is new, so it holds none of the plan's clones.
const simEmptyNote = `Note: --sim starts a fresh simulator seeded with the plan's sources only: it holds none of the clones an earlier apply --sim made (each --sim run has its own). To keep clones between commands, serve one with "iclone-plan sim --seed PLAN", eval its export lines, and run the commands without --sim.`

// loadPlan loads a plan file; an invalid plan is reported as its error list.
func loadPlan(path string) (*plan.Plan, error) { return apply.LoadPlan(path) }

// connect opens the target for plan p: the in-process simulator seeded with
// p when --sim is set, else vCenter as the flags and govc environment say.
func (a *app) connect(ctx context.Context, f *connFlags, p *plan.Plan) (*apply.Target, error) {
	cfg := vsphere.ConfigFromEnv(os.Getenv)
	if f.url != "" {
		cfg.URL = f.url
	}
	if f.insecure {
		cfg.Insecure = true
	}
	if p.Datacenter != "" {
		cfg.Datacenter = p.Datacenter
	}
	cfg.Timeout = f.requestTimeout
	var (
		simulator *sim.Simulator
		simDir    string
	)
	if f.sim {
		s, err := sim.Start(ctx, sim.Options{Seed: seedFromPlan(p)})
		if err != nil {
			return nil, fmt.Errorf("starting the simulator: %w", err)
		}
		simulator = s
		ca, err := s.CertificateFile()
		if err != nil {
			s.Close()
			return nil, err
		}
		// Verify the simulator's certificate like any other.
		cfg = vsphere.Config{URL: s.URL().String(), CACerts: ca, Datacenter: cfg.Datacenter, Timeout: cfg.Timeout}
		// The simulator's runs leave no journal behind: it goes with it.
		if simDir, err = os.MkdirTemp("", "iclone-plan-sim-"); err != nil {
			s.Close()
			return nil, err
		}
	} else if cfg.Insecure {
		fmt.Fprintln(a.stderr, "Warning: TLS certificate verification is disabled (--insecure / GOVC_INSECURE); anyone on the network path can impersonate vCenter.")
	}
	c, err := vsphere.Connect(ctx, cfg)
	if err != nil {
		if simulator != nil {
			simulator.Close()
			_ = os.RemoveAll(simDir)
		}
		return nil, err
	}
	t := &apply.Target{Client: c, Close: func() {
		_ = c.Logout(context.Background())
		if simulator != nil {
			simulator.Close()
			_ = os.RemoveAll(simDir)
		}
	}}
	if simulator != nil {
		// A new simulator each run, on a new port: named for what it is,
		// so that a plan saved with --sim applies with --sim.
		t.Name, t.JournalDir = simVCenter, simDir
	} else {
		// The simulator's inventory is new every time: nothing to cache.
		t.Cache = func(dc string, refresh bool) *vsphere.DeviceCache { return openCache(c, dc, refresh) }
	}
	return t, nil
}

// observe loads the plan at path, connects to its vCenter and reads the
// inventory (apply.Observe): what plan and status share. They are
// read-only, so they may take the devices of VMs no plan owns from the
// inventory cache (see openCache); refresh reads them all and rewrites it.
// apply and destroy always read everything (and rewrite it). The caller
// closes the target.
func (a *app) observe(ctx context.Context, path string, conn *connFlags, refresh bool) (*apply.Observation, error) {
	return apply.Observe(ctx, path, func(ctx context.Context, p *plan.Plan) (*apply.Target, error) { return a.connect(ctx, conn, p) }, refresh)
}

// cacheHelp is the help text on the inventory cache of plan and status.
const cacheHelp = `The device lists of VMs that no plan owns (their MACs, for the collision
check) are nearly all of what a plan reads, so plan and status keep them in a
cache (in $ICLONE_PLAN_CACHE_DIR, else iclone-plan under the user's cache
directory) and read again only those of VMs whose configuration version
(config.changeVersion) has changed. The plan's own clones and sources are
always read. --refresh reads everything; apply and destroy always do, and
leave what they read in the cache.`

const refreshUsage = "read every VM's devices from vCenter, not reusing the inventory cache"

// cacheDirEnv names the directory of the inventory cache; the default is
// platform.CacheDir: iclone-plan under the user's cache directory
// ($XDG_CACHE_HOME or ~/.cache on Linux, ~/Library/Caches on macOS,
// %LocalAppData% on Windows).
const cacheDirEnv = "ICLONE_PLAN_CACHE_DIR"

// openCache opens the inventory cache of the vCenter c is connected to and
// the datacenter dc, or returns nil if there is no cache directory. With
// refresh the cache starts empty (and is rewritten).
func openCache(c *vsphere.Client, dc string, refresh bool) *vsphere.DeviceCache {
	dir := os.Getenv(cacheDirEnv)
	if dir == "" {
		d, err := platform.CacheDir()
		if err != nil {
			return nil
		}
		dir = d
	}
	cache := vsphere.OpenDeviceCache(apply.CacheFile(dir, c, dc))
	if refresh {
		cache.Reset()
	}
	return cache
}

// style is how to render text: colour only on a terminal, and never with
// --no-color or NO_COLOR (https://no-color.org).
func (a *app) style(noColor bool) ui.Style {
	return ui.Style{Color: !noColor && platform.Color(a.stdout)}
}

// seedFromPlan is the inventory the simulator needs for p to apply as-is:
// the datacenter, its resource pools, and running sources (with their
// folders) with the NICs, networks, serial ports and datastores the plan
// edits. The clones' folders
// are left for apply to create, as it would on a real vCenter.
func seedFromPlan(p *plan.Plan) *sim.Seed {
	dc := p.Datacenter
	if dc == "" {
		dc = "DC0"
	}
	dc = strings.Trim(dc, "/")
	seed := &sim.Seed{Datacenter: dc}
	sources := map[string]*sim.SeedSource{}
	var order []string
	for _, g := range p.Groups {
		if pool := plan.ResolvePath("/"+dc, "host", g.ResourcePool); pool != "" && !slices.Contains(seed.ResourcePools, pool) {
			seed.ResourcePools = append(seed.ResourcePools, pool)
		}
		path := plan.ResolvePath("/"+dc, "vm", g.Source)
		s := sources[path]
		if s == nil {
			s = &sim.SeedSource{Path: path}
			sources[path] = s
			order = append(order, path)
		}
		for _, n := range g.NICs {
			s.NICs = append(s.NICs, sim.SeedNIC{Adapter: n.Adapter, Network: n.Network})
		}
		for _, sp := range g.Serial {
			s.SerialPorts = max(s.SerialPorts, sp.Port)
		}
		for _, c := range g.Clones {
			for _, sp := range c.Serial {
				if ds, _, err := macgen.ParseDatastorePath(sp.File); err == nil && !slices.Contains(s.Datastores, ds) {
					s.Datastores = append(s.Datastores, ds)
				}
			}
		}
	}
	for _, path := range order {
		seed.Sources = append(seed.Sources, *sources[path])
	}
	return seed
}
