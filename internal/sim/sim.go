// Package sim serves govmomi's vCenter simulator (vcsim) extended with a
// faithful InstantClone_Task, an optional timing model and fault hooks.
//
// vcsim has no InstantClone_Task. This package adds one without forking
// vcsim (dispatch.go explains the route), with the semantics that
// docs/design.md section 8 ("The simulator") describes (instantclone.go):
//
//   - the source must be powered on (InvalidPowerState otherwise); the clone
//     is powered on, on the source's host, in spec.location.folder or the
//     datacenter's VM folder, in spec.location.pool or the source's pool; a
//     name taken in the folder, or being cloned to, fails with DuplicateName;
//   - devices are copied; only edits of network adapters (MAC with
//     addressType manual, backing, connection) and of file-backed serial
//     and parallel ports are allowed, anything else fails with InvalidArgument; generated
//     MACs not given a manual one are regenerated (00:50:56:80-bf:xx:xx),
//     also for a frozen source's first clone (see frozen.go),
//     manual ones not edited are kept;
//   - spec.config is merged into the source's extraConfig; the BIOS UUID is
//     spec.biosUuid or new; the instance UUID is new;
//   - each source disk gets a new delta disk (disk-000001.vmdk, ...) and the
//     clone's disk is a delta whose backing parent is the source's previous
//     top; a source chain of MaxDeltaLevels deltas fails the clone
//     (SystemError "Launch failure", as in KB 67186);
//   - VmBeingClonedEvent, then VmClonedEvent or VmCloneFailedEvent, are
//     posted (no power-on events: the clone resumes, see powerOn); the
//     clone's Tools follow its source's (guest.go); the task's result is
//     the clone's reference. A queued task can be cancelled; a running one
//     cannot (NotSupported);
//   - each VM's files are in a directory of its own, and a destroy keeps
//     the disks other VMs chain to (files.go);
//   - faults carry vCenter's own messages (messages.go, faultstring.go);
//     CheckInstantClone_Task makes the clone's own checks (provcheck.go);
//     Options.DenyPrivileges takes privileges from the user (deny.go).
//
// Options add a timing model (Stun, Latency, HostLimit) and fault hooks
// (FailClone, FailLeaveVM, FailFault); vcsim's Service.AddFaultRule works on
// InstantClone_Task too. The zero Options serve vcsim's default VPX
// inventory; a Seed creates what a plan names instead: seeded source NICs
// are keyed 4000+ and labelled "Network adapter N", serial ports keyed 9000+
// and labelled "Serial port N", parallel ports keyed 10000+ and labelled
// "Parallel port N", as the vSphere client numbers them.
package sim

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/google/uuid"
	"net"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/types"
)

// Default credentials, as vcsim's.
const (
	DefaultUsername = "user"
	DefaultPassword = "pass"
)

// Options configure a Simulator. The zero value serves vcsim's default VPX
// model (its VMs powered on) on a free loopback port, with no timing model
// and no injected faults.
type Options struct {
	// Listen is the loopback address to serve on; "" means 127.0.0.1:0,
	// a free port. Non-loopback addresses are refused.
	Listen string
	// Username and Password are the only credentials accepted; empty means
	// DefaultUsername and DefaultPassword.
	Username, Password string
	// Hosts is the number of hosts in the cluster. 0 means 1 with a Seed and
	// vcsim's default (3) without. Seeded sources are spread round-robin.
	Hosts int
	// VMs is the number of extra plain, powered-on VMs to create in the
	// datacenter's VM folder (named extra-00001, ...), for scale tests.
	VMs int

	// Stun is how long each instant clone stuns its source. Stun phases of
	// clones of one source are serialized, as vSphere does.
	Stun time.Duration
	// Latency is the least time an instant clone task spends running
	// (including its stun phase).
	Latency time.Duration
	// HostLimit is the number of instant clone tasks a host runs at once;
	// further tasks stay queued (TaskInfo.state "queued") until a slot frees.
	// 0 means no limit.
	HostLimit int

	// FailClone makes the FailClone-th InstantClone_Task call (1-based,
	// counted over the simulator's life) fail as a task error. 0 disables.
	FailClone int
	// FailWhen, if set, is asked for every InstantClone_Task call n
	// (1-based, as FailClone counts) whether it fails as FailClone's does
	// (FailLeaveVM and FailFault apply). It may be called concurrently.
	// See SeededFaults for a random schedule.
	FailWhen func(n int64) bool
	// FailLeaveVM makes that failure leave the half-made clone behind,
	// powered off, as vSphere may when a clone fails at its very end.
	// Without it the failure is backed out: nothing changes.
	FailLeaveVM bool
	// FailFault is the fault of the injected failure; nil means a
	// SystemError naming the injection.
	FailFault types.BaseMethodFault

	// Seed, if set, replaces vcsim's default inventory with the one a plan
	// needs: see Seed.
	Seed *Seed
	// FrozenSources freezes every seeded source (see SeedSource.Frozen).
	FrozenSources bool
	// GuestReadyAfter is how long after power-on a clone's guest takes to
	// come up: then its Tools report running and, if it carries
	// guestinfo.iclone.name, it sets guestinfo.iclone.ready to that name,
	// as the example guest scripts do (see guest.go). 0: at once.
	GuestReadyAfter time.Duration
	// GuestNeverReady makes the guest of the GuestNeverReady-th instant
	// clone (1-based, as FailClone counts) never come up. 0 disables.
	GuestNeverReady int
	// DenyPrivileges takes privileges from the user: each is a privilege
	// ID, "PRIV" (denied everywhere) or "PRIV@PATH" (denied on the
	// inventory object at PATH and below it), e.g.
	// "VirtualMachine.Provisioning.Clone@/Lab/vm/golden". The
	// AuthorizationManager reports them missing and every method that
	// needs one fails with NoPermission (see deny.go).
	DenyPrivileges []string
	// ChainDepth starts every seeded source's disks at that many delta
	// levels (see SeedSource.ChainDepth), to test the 255-level limit
	// without hundreds of clones.
	ChainDepth int
}

// Simulator is a running vCenter simulator with InstantClone_Task.
// Close it when done.
type Simulator struct {
	opts   Options
	model  *simulator.Model
	server *simulator.Server
	url    *url.URL
	self   types.ManagedObjectReference // key of our RegisterObject hook

	internalSession string // key of vcsim's in-process session, never wrapped
	dsRoot          string // directory of the seeded datastores

	calls atomic.Int64 // InstantClone_Task calls that reached the implementation
	tasks sync.Map     // unfinished InstantClone_Task: ManagedObjectReference -> *simulator.Task
	macs  atomic.Uint32

	wrapMu   sync.Mutex
	wrapped  map[types.ManagedObjectReference][]weak.Pointer[simulator.Registry]
	waitMu   sync.Mutex
	waiters  map[types.ManagedObjectReference]chan struct{}
	namesMu  sync.Mutex
	names    map[types.ManagedObjectReference]map[string]bool // in-flight clone names per folder
	slotMu   sync.Mutex
	slots    map[types.ManagedObjectReference]chan struct{} // per host
	stunMu   sync.Mutex
	stunLock map[types.ManagedObjectReference]chan struct{} // per source
	stuns    []Stun

	refreshMu  sync.Mutex
	refreshing map[types.ManagedObjectReference]time.Time // sources with a storage refresh pending: their last delta
	refreshWG  sync.WaitGroup
	// background runs work a method hands off (see listViewNotifyLater);
	// Close waits for it once the server has stopped.
	background sync.WaitGroup
	closing    chan struct{} // closed by Close
	chains     chains        // which disk files clones chain to (see files.go)

	outage outage // Pause and Resume

	denials []denial                     // Options.DenyPrivileges, resolved; read-only once started
	root    types.ManagedObjectReference // the root folder, where Global privileges are held

	closeOnce sync.Once
}

// Stun records one stun phase of a source VM (recorded only when
// Options.Stun is set).
type Stun struct {
	Source     types.ManagedObjectReference // the source VM
	Task       types.ManagedObjectReference // the InstantClone_Task
	Start, End time.Time
}

// Start builds the inventory and serves it over HTTPS on loopback until
// Close. ctx bounds only the set-up.
func Start(ctx context.Context, opts Options) (*Simulator, error) {
	if opts.Username == "" {
		opts.Username = DefaultUsername
	}
	if opts.Password == "" {
		opts.Password = DefaultPassword
	}
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	if err := checkLoopback(opts.Listen); err != nil {
		return nil, err
	}
	switch {
	case opts.Hosts < 0, opts.VMs < 0, opts.HostLimit < 0, opts.FailClone < 0, opts.GuestNeverReady < 0, opts.ChainDepth < 0:
		return nil, errors.New("sim: hosts, vms, host limit, fail-clone, guest-never-ready and chain-depth must not be negative")
	case opts.Stun < 0, opts.Latency < 0, opts.GuestReadyAfter < 0:
		return nil, errors.New("sim: stun, latency and guest-ready-after must not be negative")
	}

	s := &Simulator{
		opts:       opts,
		self:       types.ManagedObjectReference{Type: "IclonePlanSim", Value: "instantclone"},
		wrapped:    make(map[types.ManagedObjectReference][]weak.Pointer[simulator.Registry]),
		waiters:    make(map[types.ManagedObjectReference]chan struct{}),
		names:      make(map[types.ManagedObjectReference]map[string]bool),
		slots:      make(map[types.ManagedObjectReference]chan struct{}),
		stunLock:   make(map[types.ManagedObjectReference]chan struct{}),
		refreshing: make(map[types.ManagedObjectReference]time.Time),
		closing:    make(chan struct{}),
	}
	s.chains.init()

	m := simulator.VPX()
	if opts.Seed != nil {
		// An empty vCenter; seed() builds the datacenter the plan names.
		m.Datacenter, m.Host, m.Cluster, m.ClusterHost, m.Machine, m.Portgroup, m.Datastore = 0, 0, 0, 0, 0, 0, 0
	} else if opts.Hosts > 0 {
		m.ClusterHost = opts.Hosts
	}
	if err := m.Create(); err != nil {
		return nil, fmt.Errorf("sim: create model: %w", err)
	}
	s.model = m
	// Every simulator is a vCenter of its own: vcsim derives the instance
	// UUID from the machine, the same for all of them.
	if si, ok := m.Map().Get(vim25.ServiceInstance).(*simulator.ServiceInstance); ok {
		si.Content.About = vCenterAbout(si.Content.About)
		si.Content.About.InstanceUuid = uuid.NewString()
	}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()

	c, err := vim25.NewClient(ctx, m.Service)
	if err != nil {
		return nil, fmt.Errorf("sim: in-process client: %w", err)
	}
	us, err := session.NewManager(c).UserSession(ctx)
	if err != nil || us == nil {
		return nil, fmt.Errorf("sim: in-process session: %v", err)
	}
	s.internalSession = us.Key

	// The hook must be in place before any instant clone exists: it releases
	// task waiters and drops dispatch wrappers of removed VMs.
	m.Map().AddHandler(&hook{s})
	m.Map().Put(&provChecker{VmProvisioningChecker: m.Map().VmProvisioningChecker(), s: s})
	m.Map().Handler = s.dispatch

	if opts.Seed != nil {
		if err := s.seed(ctx, c, opts.Seed); err != nil {
			return nil, err
		}
	} else {
		s.startDefaultTools()
	}
	if opts.VMs > 0 {
		if err := s.createExtraVMs(ctx, c, opts.VMs); err != nil {
			return nil, err
		}
	}
	if err := s.resolveDenials(ctx, c, opts.DenyPrivileges); err != nil {
		return nil, err
	}

	fillFaultStrings(m.Service)
	m.Service.TLS = new(tls.Config)
	m.Service.Listen = &url.URL{Host: opts.Listen, User: url.UserPassword(opts.Username, opts.Password)}
	if err := func() (err error) {
		// vcsim panics when it cannot listen.
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("sim: cannot listen on %s: %v", opts.Listen, r)
			}
		}()
		s.server = m.Service.NewServer()
		return nil
	}(); err != nil {
		return nil, err
	}
	u := *s.server.URL
	u.User = url.UserPassword(opts.Username, opts.Password)
	s.url = &u
	ok = true
	return s, nil
}

func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("sim: listen address %q: %v (want HOST:PORT, e.g. 127.0.0.1:8989)", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("sim: listen address %q is not loopback; the simulator serves only 127.0.0.1 or ::1", addr)
	}
	return nil
}

// URL returns the SDK URL, https://USER:PASS@127.0.0.1:PORT/sdk.
func (s *Simulator) URL() *url.URL {
	u := *s.url
	return &u
}

// CertificateFile returns the path of a PEM file holding the server's
// certificate (valid for 127.0.0.1 and ::1), for verified TLS
// (GOVC_TLS_CA_CERTS). The file is removed by Close.
func (s *Simulator) CertificateFile() (string, error) { return s.server.CertificateFile() }

// Model returns the underlying vcsim model, for direct inspection in tests.
func (s *Simulator) Model() *simulator.Model { return s.model }

// Service returns the vcsim service, for AddFaultRule and friends.
func (s *Simulator) Service() *simulator.Service { return s.model.Service }

// InstantClones returns how many InstantClone_Task calls have reached the
// simulator's implementation (calls failed by AddFaultRule rules do not).
func (s *Simulator) InstantClones() int { return int(s.calls.Load()) }

// Stuns returns the stun phases recorded so far (only with Options.Stun).
func (s *Simulator) Stuns() []Stun {
	s.stunMu.Lock()
	defer s.stunMu.Unlock()
	return append([]Stun(nil), s.stuns...)
}

// Close stops the server and removes the simulator's files. In-flight
// tasks are abandoned.
func (s *Simulator) Close() {
	s.closeOnce.Do(func() {
		if s.server != nil {
			s.outage.close()
			s.server.Close()
		}
		s.refreshMu.Lock() // no refresh starts after this (see refreshLater)
		close(s.closing)
		s.refreshMu.Unlock()
		s.refreshWG.Wait()
		s.background.Wait()
		s.model.Remove()
		if s.dsRoot != "" {
			_ = os.RemoveAll(s.dsRoot)
		}
	})
}
