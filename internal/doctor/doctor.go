// Package doctor checks a vCenter against everything an apply of a plan
// depends on, before the first apply and after any vCenter upgrade: the
// connection, vCenter's version and its InstantClone_Task, the account's
// privileges on every object the plan touches, each source, the folders,
// port groups, datastores and pools the plan names, and the lease. With a
// canary it also makes one real instant clone per source with its group's
// rendered spec, compares what vCenter did with what iclone-plan assumes,
// and destroys it: the inventory afterwards is the one before, also when
// the clone fails or the run is interrupted.
//
// The package never prints (the command renders the Report); see
// docs/operations.md, "Before the first apply on a new vCenter".
package doctor

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/iclone-plan/iclone-plan/internal/inventory"
	"github.com/iclone-plan/iclone-plan/internal/plan"
	"github.com/iclone-plan/iclone-plan/internal/vsphere"
)

// Status is the outcome of one check.
type Status string

// Outcomes of a check. Only Fail makes the doctor fail.
const (
	OK      Status = "ok"
	Warn    Status = "warn"
	Fail    Status = "fail"
	Skipped Status = "skipped"
)

// Check is one check: what it looked at, what it saw and, unless it
// passed, what to do.
type Check struct {
	// Name says what is checked, e.g. "privileges" or "canary: MACs".
	Name string `json:"name"`
	// Subject is the object checked: an inventory path, a group, a host.
	Subject string `json:"subject,omitempty"`
	Status  Status `json:"status"`
	// Detail is what was observed, in one line.
	Detail string `json:"detail"`
	// Fix says what to do about a failure or a warning.
	Fix string `json:"fix,omitempty"`
	// Facts are every observed fact behind the check, for a bug report.
	Facts map[string]any `json:"facts,omitempty"`
}

// About is what vCenter says of itself (ServiceContent.about).
type About struct {
	Name         string `json:"name"`
	FullName     string `json:"fullName"`
	Version      string `json:"version"`
	Build        string `json:"build"`
	APIType      string `json:"apiType"`
	APIVersion   string `json:"apiVersion"`
	InstanceUUID string `json:"instanceUuid"`
	// InstantClone reports InstantClone_Task (API 6.7 or later).
	InstantClone bool `json:"instantClone"`
	// CheckInstantClone reports the provisioning checker, whose
	// CheckInstantClone_Task plan uses.
	CheckInstantClone bool `json:"checkInstantClone"`
}

// ReportFormat identifies doctor's JSON document.
const ReportFormat = "iclone-plan/doctor"

// Report is the outcome of a doctor run: every check, in order.
type Report struct {
	Format     string    `json:"format"`
	Plan       string    `json:"plan"`
	File       string    `json:"file"`
	VCenter    string    `json:"vcenter,omitempty"`
	Datacenter string    `json:"datacenter,omitempty"`
	Canary     bool      `json:"canary"`
	Started    time.Time `json:"started"`
	Finished   time.Time `json:"finished"`
	About      *About    `json:"about,omitempty"`
	Checks     []Check   `json:"checks"`
	// Interrupted is set when the run was interrupted (its canaries were
	// cleaned up).
	Interrupted bool `json:"interrupted,omitempty"`
	// Passed is set when no check failed.
	Passed bool `json:"passed"`
}

func (r *Report) add(c Check) { r.Checks = append(r.Checks, c) }

// Counts returns the number of checks of each status.
func (r *Report) Counts() map[Status]int {
	n := map[Status]int{}
	for _, c := range r.Checks {
		n[c.Status]++
	}
	return n
}

// Failed returns the checks that failed.
func (r *Report) Failed() []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Status == Fail {
			out = append(out, c)
		}
	}
	return out
}

// Options say how to run the doctor.
type Options struct {
	// Canary makes one real instant clone per source (see package doc).
	Canary bool
	// TLS says how the connection verified vCenter's certificate, for the
	// connection check; Insecure makes that check warn.
	TLS      string
	Insecure bool
	// RunID names the canaries' run (iclone.run); "" makes one.
	RunID string
	// Progress, if set, is told of each canary step as it starts.
	Progress func(msg string)
	// ToolsWait bounds the wait for a canary's VMware Tools; 0 means 30s.
	ToolsWait time.Duration
}

// NewReport starts the report of plan p at file against vCenter host.
func NewReport(p *plan.Plan, file, host string, canary bool) *Report {
	r := &Report{Format: ReportFormat, File: file, VCenter: host, Canary: canary, Started: time.Now().UTC()}
	if p != nil {
		r.Plan = p.Name
	}
	return r
}

// ConnectFailed records a failed connection (the error says what to do)
// and ends the report.
func (r *Report) ConnectFailed(err error) {
	r.add(Check{Name: "connection", Subject: r.VCenter, Status: Fail, Detail: err.Error(),
		Fix: "see the message; the connection is made exactly as apply makes it (GOVC_URL, GOVC_TLS_CA_CERTS, GOVC_TLS_KNOWN_HOSTS, --url, --insecure)"})
	r.add(Check{Name: "everything else", Status: Skipped, Detail: "not connected"})
	r.finish()
}

func (r *Report) finish() {
	r.Finished = time.Now().UTC()
	r.Passed = len(r.Failed()) == 0 && !r.Interrupted
}

// doctor is one run's state.
type doctor struct {
	c      *vsphere.Client
	p      *plan.Plan
	opts   Options
	rep    *Report
	dcPath string
	ops    *vsphere.Ops
	inv    *inventory.Inventory
	finder *find.Finder
	// sources in plan order, by resolved path.
	sources []*source
	// folders: every folder path the plan's clones go in.
	folders []string
}

// source is one source VM of the plan and the groups cloning it.
type source struct {
	path   string
	vm     *inventory.VM
	groups []*plan.Group
	// usable: it exists and can be cloned (canary and check run on it).
	usable     bool
	datastores []types.ManagedObjectReference
	dsNames    []string
}

// Run checks the vCenter c is connected to against plan p, read from file,
// and returns the report (the command renders it and sets the exit
// status). With an interrupted ctx the canaries are cleaned up, with a
// context of their own, before Run returns.
func Run(ctx context.Context, c *vsphere.Client, p *plan.Plan, file string, opts Options) *Report {
	d := &doctor{c: c, p: p, opts: opts, rep: NewReport(p, file, c.Host(), opts.Canary)}
	if d.opts.ToolsWait <= 0 {
		d.opts.ToolsWait = 30 * time.Second
	}
	defer d.rep.finish()
	d.connection()
	if !d.vcenter() {
		d.skipRest("vCenter has no InstantClone_Task")
		return d.rep
	}
	if !d.read(ctx) {
		d.skipRest("the inventory could not be read")
		return d.rep
	}
	d.checkSources(ctx)
	d.checkPlacement(ctx)
	d.checkPrivileges(ctx)
	d.checkLease(ctx)
	d.checkSpecs(ctx)
	if opts.Canary {
		d.canaries(ctx)
	} else {
		d.rep.add(Check{Name: "canary", Status: Skipped, Detail: "not asked for: --canary makes one real instant clone per source, checks it and destroys it"})
	}
	if ctx.Err() != nil {
		d.rep.Interrupted = true
	}
	return d.rep
}

func (d *doctor) skipRest(why string) {
	d.rep.add(Check{Name: "everything else", Status: Skipped, Detail: why})
}

// connection: connected, and how the certificate was verified.
func (d *doctor) connection() {
	ch := Check{Name: "connection", Subject: d.c.Host(), Status: OK, Facts: map[string]any{"tls": d.opts.TLS, "insecure": d.opts.Insecure}}
	ch.Detail = "logged in; TLS " + d.opts.TLS
	if d.opts.Insecure {
		ch.Status = Warn
		ch.Detail = "logged in without verifying vCenter's certificate (--insecure / GOVC_INSECURE)"
		ch.Fix = "trust vCenter's certificate instead: GOVC_TLS_CA_CERTS (its CA) or GOVC_TLS_KNOWN_HOSTS (its thumbprint); see the README, \"Against a real vCenter\""
	}
	d.rep.add(ch)
}

// vcenter: version, build, and InstantClone_Task (API 6.7 or later).
func (d *doctor) vcenter() bool {
	sc := d.c.Vim.ServiceContent
	a := sc.About
	about := &About{Name: a.Name, FullName: a.FullName, Version: a.Version, Build: a.Build, APIType: a.ApiType,
		APIVersion: a.ApiVersion, InstanceUUID: a.InstanceUuid, CheckInstantClone: sc.VmProvisioningChecker != nil}
	about.InstantClone = apiAtLeast(a.ApiVersion, 6, 7)
	d.rep.About = about
	facts := map[string]any{"fullName": a.FullName, "version": a.Version, "build": a.Build, "apiType": a.ApiType, "apiVersion": a.ApiVersion}
	ch := Check{Name: "vCenter version", Subject: a.FullName, Status: OK, Facts: facts,
		Detail: fmt.Sprintf("%s %s build %s, API %s: InstantClone_Task offered", a.Name, a.Version, a.Build, a.ApiVersion)}
	switch {
	case !about.InstantClone:
		ch.Status, ch.Detail = Fail, fmt.Sprintf("%s %s build %s, API %s: no InstantClone_Task (it came with API 6.7)", a.Name, a.Version, a.Build, a.ApiVersion)
		ch.Fix = "upgrade vCenter and the hosts to vSphere 6.7 or later"
	case a.ApiType != "VirtualCenter":
		ch.Status = Warn
		ch.Detail += fmt.Sprintf("; but this is a %s, not a vCenter", a.ApiType)
		ch.Fix = "point GOVC_URL at the vCenter that manages the hosts, not at an ESXi host"
	case !about.CheckInstantClone:
		ch.Status = Warn
		ch.Detail += "; but no provisioning checker (CheckInstantClone_Task): plan cannot pre-check sources"
		ch.Fix = "nothing to do: apply works, plan relies on its own checks"
	}
	d.rep.add(ch)
	return about.InstantClone
}

// apiAtLeast reports whether the API version v ("6.7.3", "8.0.3.0") is at
// least major.minor.
func apiAtLeast(v string, major, minor int) bool {
	parts := strings.Split(v, ".")
	if len(parts) == 0 {
		return false
	}
	ma, err := strconv.Atoi(parts[0])
	if err != nil {
		return false
	}
	mi := 0
	if len(parts) > 1 {
		mi, _ = strconv.Atoi(parts[1])
	}
	return ma > major || ma == major && mi >= minor
}

// read resolves the datacenter and reads the inventory as apply does
// (every VM afresh).
func (d *doctor) read(ctx context.Context) bool {
	dcPath, err := d.c.ResolveDatacenter(ctx, d.c.Datacenter())
	if err != nil {
		d.rep.add(Check{Name: "datacenter", Subject: d.c.Datacenter(), Status: Fail, Detail: err.Error(),
			Fix: "set the plan's datacenter: (or GOVC_DATACENTER) to a datacenter of this vCenter"})
		return false
	}
	d.dcPath, d.rep.Datacenter = dcPath, dcPath
	if d.ops, err = d.c.Ops(ctx, dcPath); err == nil {
		d.inv, err = d.c.ReadInventoryWith(ctx, dcPath, vsphere.ReadOptions{Fresh: sourcePaths(d.p)})
	}
	if err != nil {
		d.rep.add(Check{Name: "inventory", Subject: dcPath, Status: Fail, Detail: err.Error(),
			Fix: "the account must read the datacenter (System.View, System.Read); see docs/operations.md#vsphere-privileges"})
		return false
	}
	d.finder = find.NewFinder(d.c.Vim, false)
	d.finder.SetDatacenter(object.NewDatacenter(d.c.Vim, d.dcRef(ctx)))
	d.rep.add(Check{Name: "inventory", Subject: dcPath, Status: OK,
		Detail: fmt.Sprintf("read %d VMs, %d hosts, %d networks, %d datastores, %d folders, %d pools",
			len(d.inv.VMs), len(d.inv.Hosts), len(d.inv.Networks), len(d.inv.Datastores), len(d.inv.Folders), len(d.inv.Pools)),
		Facts: map[string]any{"vms": len(d.inv.VMs), "hosts": d.inv.Hosts, "networks": len(d.inv.Networks),
			"datastores": len(d.inv.Datastores), "folders": len(d.inv.Folders), "pools": len(d.inv.Pools)}})
	return true
}

func sourcePaths(p *plan.Plan) func(dc string) []string {
	return func(dc string) []string {
		var out []string
		for _, g := range p.Groups {
			out = append(out, plan.ResolvePath(dc, "vm", g.Source))
		}
		return out
	}
}

// dcRef is the datacenter's reference (looked up by path).
func (d *doctor) dcRef(ctx context.Context) types.ManagedObjectReference {
	ref, err := d.lookup(ctx, d.dcPath)
	if err != nil || ref == nil {
		return types.ManagedObjectReference{Type: "Datacenter"}
	}
	return *ref
}

// lookup finds the inventory object at path, or nil.
func (d *doctor) lookup(ctx context.Context, path string) (*types.ManagedObjectReference, error) {
	ref, err := object.NewSearchIndex(d.c.Vim).FindByInventoryPath(ctx, path)
	if err != nil || ref == nil {
		return nil, err
	}
	r := ref.Reference()
	return &r, nil
}

// vmByPath finds a VM of the inventory by its path.
func (d *doctor) vmByPath(path string) *inventory.VM {
	for i := range d.inv.VMs {
		if d.inv.VMs[i].Path == path {
			return &d.inv.VMs[i]
		}
	}
	return nil
}

// groupNames lists the groups' names.
func groupNames(gs []*plan.Group) string {
	var names []string
	for _, g := range gs {
		names = append(names, g.Name)
	}
	return strings.Join(names, ", ")
}

// at is a plan position for messages: "file:line:col".
func (d *doctor) at(g *plan.Group) string {
	return fmt.Sprintf("%s:%d:%d", g.Pos.File, g.Pos.Line, g.Pos.Col)
}

// cloneFolders are the folders of the plan's clones, in plan order.
func cloneFolders(dc string, p *plan.Plan) []string {
	var out []string
	for _, g := range p.Groups {
		for i := range g.Clones {
			if f := plan.CloneFolder(dc, &g.Clones[i]); !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	return out
}
