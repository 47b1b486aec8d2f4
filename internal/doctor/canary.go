package doctor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/iclone-plan/iclone-plan/internal/cloud"
	"github.com/iclone-plan/iclone-plan/internal/plan"
	"github.com/iclone-plan/iclone-plan/internal/vsphere"
)

// cleanupTimeout bounds a canary's cleanup, which runs with a context of
// its own so that an interrupt does not leave the canary behind.
const cleanupTimeout = 10 * time.Minute

func (d *doctor) progress(format string, args ...any) {
	if d.opts.Progress != nil {
		d.opts.Progress(fmt.Sprintf(format, args...))
	}
}

// canaries makes one canary per usable source, under the plan's lease, and
// checks that the inventory afterwards is the one before.
func (d *doctor) canaries(ctx context.Context) {
	type job struct {
		s *source
		g *plan.Group
	}
	var jobs []job
	for _, s := range d.sources {
		if !s.usable {
			d.rep.add(Check{Name: "canary", Subject: s.path, Status: Skipped, Detail: "the source cannot be cloned (above)"})
			continue
		}
		for _, g := range s.groups {
			if g.Count > 0 {
				jobs = append(jobs, job{s, g})
				break
			}
		}
	}
	if len(jobs) == 0 {
		d.rep.add(Check{Name: "canary", Status: Skipped, Detail: "no source with clones to make"})
		return
	}
	run := d.opts.RunID
	if run == "" {
		run = newRunID()
	}
	cctx := context.WithoutCancel(ctx)
	before, err := d.snapshot(ctx)
	if err != nil {
		d.rep.add(Check{Name: "canary", Status: Fail, Detail: "reading the inventory before the canaries: " + err.Error(), Fix: "run doctor again"})
		return
	}
	leaseSubject := d.dcPath + "/vm/" + vsphere.LeaseFolderPrefix + d.p.Name
	d.progress("taking the lease of plan %q", d.p.Name)
	lease, err := d.ops.AcquireLease(ctx, vsphere.LocalHolder(d.p.Name, run), 2*time.Minute)
	if err != nil {
		ch := Check{Name: "lease: take", Subject: leaseSubject, Status: Fail, Detail: err.Error(),
			Fix: "the canaries run under the plan's lease, as apply does; see the message"}
		var held *vsphere.LeaseHeldError
		if errors.As(err, &held) {
			ch.Fix = "an apply of this plan holds the lease: run doctor --canary when it has ended"
		}
		d.rep.add(ch)
		d.rep.add(Check{Name: "canary", Status: Skipped, Detail: "no lease"})
		return
	}
	d.rep.add(Check{Name: "lease: take", Subject: leaseSubject, Status: OK, Detail: "created the lease folder and recorded the holder in " + vsphere.LeaseField})
	for _, j := range jobs {
		if ctx.Err() != nil {
			d.rep.add(Check{Name: "canary", Subject: j.s.path, Status: Skipped, Detail: "interrupted"})
			continue
		}
		d.canary(ctx, j.s, j.g, run)
	}
	rctx, cancel := context.WithTimeout(cctx, cleanupTimeout)
	defer cancel()
	if err := lease.Release(rctx); err != nil {
		d.rep.add(Check{Name: "lease: release", Subject: leaseSubject, Status: Fail, Detail: err.Error(),
			Fix: "delete the lease folder by hand once no apply runs (it expires by itself in 2 minutes)"})
	} else if d.leaseFolder(rctx) != nil {
		d.rep.add(Check{Name: "lease: release", Subject: leaseSubject, Status: Fail, Detail: "the lease folder is still there after it was removed",
			Fix: "vCenter did not remove the folder: delete it by hand; report this with doctor --json"})
	} else {
		d.rep.add(Check{Name: "lease: release", Subject: leaseSubject, Status: OK, Detail: "removed the lease folder"})
	}
	after, err := d.snapshot(rctx)
	ch := Check{Name: "inventory unchanged", Subject: d.dcPath, Status: OK, Detail: "every VM and folder as before the canaries"}
	if err != nil {
		ch.Status, ch.Detail, ch.Fix = Fail, "reading the inventory after the canaries: "+err.Error(), "look for VMs named *~doctor-* and remove them"
	} else if diff := diffSnapshots(before, after); len(diff) > 0 {
		ch.Status, ch.Detail = Fail, strings.Join(diff, "; ")
		ch.Fix = "remove what the canaries left (their names end in ~doctor-...; they carry the plan's markers, so the next apply destroys them as debris); report this with doctor --json"
		ch.Facts = map[string]any{"differences": diff}
	}
	d.rep.add(ch)
}

// snapshot is the datacenter's VMs (by path: reference, power state,
// markers, NICs) and folders, as the canaries must leave them. The
// sources' disk chains are not in it: a canary of a running source adds a
// delta level, as every clone does.
func (d *doctor) snapshot(ctx context.Context) (map[string]string, error) {
	inv, err := d.c.ReadInventory(ctx, d.dcPath)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, vm := range inv.VMs {
		var nics []string
		for _, n := range vm.NICs {
			nics = append(nics, fmt.Sprintf("%s/%v", n.MAC, n.Connected))
		}
		var marks []string
		for _, k := range slices.Sorted(maps.Keys(vm.Markers)) {
			marks = append(marks, k+"="+vm.Markers[k])
		}
		out["VM "+vm.Path] = fmt.Sprintf("%s %s %v %v", vm.Ref, vm.PowerState, nics, marks)
	}
	for f := range inv.Folders {
		out["folder "+f] = "exists"
	}
	return out, nil
}

func diffSnapshots(before, after map[string]string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(before)) {
		if a, ok := after[k]; !ok {
			out = append(out, k+" is gone")
		} else if a != before[k] {
			out = append(out, fmt.Sprintf("%s changed: %s -> %s", k, before[k], a))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(after)) {
		if _, ok := before[k]; !ok {
			out = append(out, k+" is new")
		}
	}
	return out
}

// canaryState is what one canary made, for its cleanup.
type canaryState struct {
	folder  string
	name    string
	folders []string // folders it created, top down
	vms     []string // VMs it made
	tasks   []string // clone tasks whose end was not seen
}

// canary makes one instant clone of s with group g's rendered spec,
// checks it, provokes a DuplicateName, and destroys it; the cleanup runs
// whatever happens, with a context of its own.
func (d *doctor) canary(ctx context.Context, s *source, g *plan.Group, run string) {
	c := &g.Clones[0]
	st := &canaryState{folder: plan.CloneFolder(d.dcPath, c), name: canaryName(c.Name, run)}
	subject := st.folder + "/" + st.name
	defer d.cleanup(ctx, st, subject)

	_, missing := d.nearestFolder(ctx, st.folder)
	for _, f := range missing {
		d.progress("canary: creating folder %s", f)
		made, err := d.ops.EnsureFolder(ctx, f)
		if made {
			st.folders = append(st.folders, f)
		}
		if err != nil {
			d.rep.add(Check{Name: "canary: folder", Subject: f, Status: Fail, Detail: "creating it: " + err.Error(),
				Fix: "apply would fail the same way: check Folder.Create on its parent"})
			return
		}
	}
	req := d.request(s, g, st.name, st.folder, run)
	d.progress("canary: instant clone of %s to %s", s.path, subject)
	var task string
	vm, err := d.ops.InstantClone(ctx, req, func(t string) { task = t })
	if err != nil {
		if ctx.Err() != nil {
			if task != "" {
				st.tasks = append(st.tasks, task)
			}
			d.rep.add(Check{Name: "canary: clone", Subject: subject, Status: Skipped, Detail: "interrupted"})
			return
		}
		f := cloud.Classify(err)
		if task != "" && !f.TaskEnded {
			// Its end was not seen: it may still make the canary.
			st.tasks = append(st.tasks, task)
		}
		ch := Check{Name: "canary: clone", Subject: subject, Status: Fail,
			Detail: fmt.Sprintf("vCenter refused the clone apply would make (%s): %v", orUnknown(f.Name), err),
			Fix:    "apply would fail the same way: fix what the fault names (the group at " + d.at(g) + ", the source, or a privilege)",
			Facts:  map[string]any{"fault": f.Name, "message": err.Error(), "task": task}}
		if priv, obj, ok := missingPrivilege(err); ok {
			obj = d.pathOf(obj)
			ch.Detail = fmt.Sprintf("vCenter refused the clone apply would make: NoPermission, %s missing on %s (%v)", priv, obj, err)
			ch.Fix = "grant " + priv + " to the account's role on " + obj + ": docs/operations.md#vsphere-privileges"
			ch.Facts["privilege"], ch.Facts["object"] = priv, obj
		}
		d.rep.add(ch)
		return
	}
	st.vms = append(st.vms, vm)
	d.rep.add(Check{Name: "canary: clone", Subject: subject, Status: OK, Detail: "made " + vm + " with group " + g.Name + "'s rendered spec",
		Facts: map[string]any{"vm": vm, "task": task, "source": s.path, "group": g.Name}})
	if ctx.Err() != nil {
		return
	}
	d.observe(ctx, s, g, req, vm, subject)
	if ctx.Err() != nil {
		return
	}
	d.progress("canary: a second clone of the same name, to record vCenter's DuplicateName")
	task = ""
	dup, err := d.ops.InstantClone(ctx, req, func(t string) { task = t })
	ch := Check{Name: "canary: DuplicateName", Subject: subject}
	f := cloud.Classify(err)
	if err != nil && task != "" && !f.TaskEnded && ctx.Err() == nil {
		st.tasks = append(st.tasks, task)
	}
	switch {
	case err == nil:
		st.vms = append(st.vms, dup)
		ch.Status, ch.Detail = Fail, "vCenter made a second VM of the same name in the same folder ("+dup+")"
		ch.Fix = "iclone-plan relies on DuplicateName to find half-made clones; report this with doctor --json"
	case ctx.Err() != nil:
		if task != "" {
			st.tasks = append(st.tasks, task)
		}
		ch.Status, ch.Detail = Skipped, "interrupted"
	case f.Name == "DuplicateName":
		ch.Status, ch.Detail = OK, fmt.Sprintf("%s: %v", f.Name, err)
	default:
		ch.Status, ch.Detail = Warn, fmt.Sprintf("%s, not DuplicateName: %v", orUnknown(f.Name), err)
		ch.Fix = "iclone-plan treats a taken name as DuplicateName; report this with doctor --json"
	}
	ch.Facts = map[string]any{"fault": f.Name, "message": errText(err), "class": f.Class.String()}
	d.rep.add(ch)
}

func orUnknown(s string) string {
	if s == "" {
		return "no vSphere fault"
	}
	return s
}

// cleanup destroys what the canary made and removes the folders it
// created, then checks that nothing of it is left.
func (d *doctor) cleanup(ctx context.Context, st *canaryState, subject string) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	var problems []string
	if len(st.tasks) > 0 {
		d.progress("canary: waiting for %d clone task(s) to end", len(st.tasks))
		if err := d.c.WaitTasks(cctx, st.tasks); err != nil {
			problems = append(problems, "waiting for its tasks: "+err.Error())
		}
	}
	d.progress("canary: destroying %s", subject)
	for _, vm := range st.vms {
		if err := d.ops.Destroy(cctx, vm); err != nil {
			problems = append(problems, fmt.Sprintf("destroying %s: %v", vm, err))
		}
	}
	// A clone whose end was not seen, or a half-made VM of a failed one.
	for range 3 {
		ref, _, err := d.ops.FindVM(cctx, st.folder, st.name)
		if err != nil || ref == "" {
			break
		}
		if err := d.ops.Destroy(cctx, ref); err != nil {
			problems = append(problems, fmt.Sprintf("destroying %s: %v", ref, err))
			break
		}
	}
	for _, f := range slices.Backward(st.folders) {
		if err := d.ops.RemoveFolder(cctx, f); err != nil {
			problems = append(problems, fmt.Sprintf("removing folder %s: %v", f, err))
		}
	}
	if ref, _, err := d.ops.FindVM(cctx, st.folder, st.name); err == nil && ref != "" {
		problems = append(problems, subject+" ("+ref+") is still there")
	}
	for _, f := range st.folders {
		if ref, err := d.lookup(cctx, f); err == nil && ref != nil {
			problems = append(problems, "folder "+f+" is still there")
		}
	}
	ch := Check{Name: "canary: cleanup", Subject: subject, Status: OK, Facts: map[string]any{"vms": st.vms, "folders": st.folders}}
	ch.Detail = fmt.Sprintf("destroyed %d VM(s), removed %d folder(s) it created", len(st.vms), len(st.folders))
	if len(problems) > 0 {
		ch.Status, ch.Detail = Fail, strings.Join(problems, "; ")
		ch.Fix = "remove them by hand (they carry the plan's markers as pending: the next apply destroys them as debris)"
	}
	d.rep.add(ch)
}

// observe compares what vCenter made with what iclone-plan assumes.
func (d *doctor) observe(ctx context.Context, s *source, g *plan.Group, req *vsphere.CloneSpec, vm, subject string) {
	pc := property.DefaultCollector(d.c.Vim)
	props := []string{"runtime.powerState", "runtime.host", "config.hardware.device", "config.extraConfig", "guest.toolsRunningStatus", "config.instanceUuid"}
	var clone, src mo.VirtualMachine
	if err := pc.RetrieveOne(ctx, types.ManagedObjectReference{Type: "VirtualMachine", Value: vm}, props, &clone); err != nil {
		d.rep.add(Check{Name: "canary: read", Subject: subject, Status: Fail, Detail: err.Error(), Fix: "run doctor again"})
		return
	}
	if err := pc.RetrieveOne(ctx, types.ManagedObjectReference{Type: "VirtualMachine", Value: s.vm.Ref}, props, &src); err != nil {
		d.rep.add(Check{Name: "canary: read", Subject: s.path, Status: Fail, Detail: err.Error(), Fix: "run doctor again"})
		return
	}

	// Powered on, on the source's host.
	ch := Check{Name: "canary: power", Subject: subject, Status: OK, Detail: "powered on", Facts: map[string]any{"powerState": clone.Runtime.PowerState}}
	if clone.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
		ch.Status, ch.Detail = Fail, "is "+string(clone.Runtime.PowerState)+", not powered on"
		ch.Fix = "iclone-plan assumes an instant clone starts powered on; report this with doctor --json"
	}
	d.rep.add(ch)
	ch = Check{Name: "canary: host", Subject: subject, Status: OK, Facts: map[string]any{"host": refValue(clone.Runtime.Host), "sourceHost": refValue(src.Runtime.Host)}}
	ch.Detail = "on the source's host " + d.hostName(refValue(clone.Runtime.Host))
	if refValue(clone.Runtime.Host) != refValue(src.Runtime.Host) {
		ch.Status, ch.Detail = Fail, fmt.Sprintf("on host %s, the source on %s", d.hostName(refValue(clone.Runtime.Host)), d.hostName(refValue(src.Runtime.Host)))
		ch.Fix = "iclone-plan's perHost limit assumes clones run on their source's host; report this with doctor --json"
	}
	d.rep.add(ch)

	// MACs as planned (manual) or regenerated, and every NIC disconnected
	// as requested.
	cloneNICs, srcNICs := nics(clone), nics(src)
	planned := map[int]string{}
	for _, n := range req.NICs {
		planned[n.Adapter] = strings.ToLower(n.MAC)
	}
	var macFacts, macBad, connBad []string
	for i, n := range cloneNICs {
		adapter := i + 1
		mac := strings.ToLower(n.MacAddress)
		srcMAC := ""
		if i < len(srcNICs) {
			srcMAC = strings.ToLower(srcNICs[i].MacAddress)
		}
		want, edited := planned[adapter]
		macFacts = append(macFacts, fmt.Sprintf("adapter %d: %s (%s; source %s; planned %s)", adapter, mac, n.AddressType, srcMAC, orNone(want)))
		switch {
		case edited && mac != want:
			macBad = append(macBad, fmt.Sprintf("adapter %d has %s, planned %s", adapter, mac, want))
		case !edited && mac == srcMAC:
			macBad = append(macBad, fmt.Sprintf("adapter %d kept the source's MAC %s", adapter, mac))
		}
		if c := n.Connectable; c == nil || c.Connected || c.StartConnected {
			connBad = append(connBad, fmt.Sprintf("adapter %d connected", adapter))
		}
	}
	ch = Check{Name: "canary: MACs", Subject: subject, Status: OK, Detail: "as planned where the plan sets them, newly generated elsewhere",
		Facts: map[string]any{"nics": macFacts}}
	if len(cloneNICs) != len(srcNICs) {
		macBad = append(macBad, fmt.Sprintf("%d adapters, the source has %d", len(cloneNICs), len(srcNICs)))
	}
	if len(macBad) > 0 {
		ch.Status, ch.Detail = Fail, strings.Join(macBad, "; ")
		ch.Fix = "iclone-plan's MAC collision checks assume this; report it with doctor --json"
	}
	d.rep.add(ch)
	ch = Check{Name: "canary: NIC connection", Subject: subject, Status: OK, Detail: "every NIC started disconnected, as requested"}
	if len(connBad) > 0 {
		ch.Status, ch.Detail = Fail, strings.Join(connBad, "; ")+": requested disconnected"
		ch.Fix = "replacements rely on starting disconnected (no two connected NICs share a MAC); report this with doctor --json"
	}
	d.rep.add(ch)

	// Markers and guestinfo in extraConfig.
	extra := map[string]string{}
	for _, o := range clone.Config.ExtraConfig {
		if ov := o.GetOptionValue(); ov != nil {
			extra[ov.Key] = fmt.Sprint(ov.Value)
		}
	}
	var lost []string
	for _, k := range slices.Sorted(maps.Keys(req.ExtraConfig)) {
		if extra[k] != req.ExtraConfig[k] {
			lost = append(lost, fmt.Sprintf("%s=%q (want %q)", k, extra[k], req.ExtraConfig[k]))
		}
	}
	ch = Check{Name: "canary: extraConfig", Subject: subject, Status: OK,
		Detail: fmt.Sprintf("all %d keys (markers, guestinfo) as set in the spec", len(req.ExtraConfig)), Facts: map[string]any{"keys": len(req.ExtraConfig)}}
	if len(lost) > 0 {
		ch.Status, ch.Detail = Fail, strings.Join(lost, "; ")
		ch.Fix = "ownership and guest customization rely on extraConfig set in the InstantCloneSpec; report this with doctor --json"
	}
	d.rep.add(ch)

	// A delta disk whose parent is in the source's chain.
	chain := map[string]bool{}
	for _, disk := range disks(src) {
		for _, f := range chainFiles(disk.Backing) {
			chain[f] = true
		}
	}
	var diskFacts, diskBad []string
	for _, disk := range disks(clone) {
		files := chainFiles(disk.Backing)
		diskFacts = append(diskFacts, strings.Join(files, " <- "))
		if len(files) < 2 || !chain[files[1]] {
			diskBad = append(diskBad, fmt.Sprintf("disk %s has parent %v, not a file of the source's chain", orNone(first(files)), files[1:]))
		}
	}
	ch = Check{Name: "canary: disk", Subject: subject, Status: OK, Detail: "a delta disk over the source's chain", Facts: map[string]any{"chains": diskFacts}}
	if len(diskBad) > 0 {
		ch.Status, ch.Detail = Fail, strings.Join(diskBad, "; ")
		ch.Fix = "the chain budget assumes this; report it with doctor --json"
	}
	d.rep.add(ch)

	d.checkTools(ctx, g, vm, subject, src.Guest)
}

// checkTools: a clone's Tools follow its source's; ready: tools needs them.
func (d *doctor) checkTools(ctx context.Context, g *plan.Group, vm, subject string, srcGuest *types.GuestInfo) {
	srcTools := ""
	if srcGuest != nil {
		srcTools = srcGuest.ToolsRunningStatus
	}
	needs := g.Ready != nil && g.Ready.Tools
	ch := Check{Name: "canary: Tools", Subject: subject, Status: OK, Facts: map[string]any{"sourceTools": srcTools, "readyNeedsTools": needs}}
	running := string(types.VirtualMachineToolsRunningStatusGuestToolsRunning)
	if srcTools != running {
		ch.Detail = "the source's VMware Tools are " + orNone(srcTools) + ": its clones have none running"
		if needs {
			ch.Status = Fail
			ch.Fix = "the group waits for Tools (ready: at " + d.at(g) + "): install and start VMware Tools in the source"
		}
		d.rep.add(ch)
		return
	}
	d.progress("canary: waiting up to %s for VMware Tools in %s", d.opts.ToolsWait, subject)
	wctx, cancel := context.WithTimeout(ctx, d.opts.ToolsWait)
	defer cancel()
	err := d.ops.WaitGuest(wctx, vm, cloud.Ready{Tools: true})
	switch {
	case err == nil:
		ch.Detail = "VMware Tools running, as in the source"
	case ctx.Err() != nil:
		ch.Status, ch.Detail = Skipped, "interrupted"
	default:
		ch.Status, ch.Detail = Warn, fmt.Sprintf("VMware Tools not running within %s: %v", d.opts.ToolsWait, err)
		ch.Fix = "if the group waits for Tools (ready:), raise its timeout to what a clone's guest takes"
	}
	ch.Facts["error"] = errText(err)
	d.rep.add(ch)
}

func (d *doctor) hostName(ref string) string {
	if h, ok := d.inv.Hosts[ref]; ok && h.Name != "" {
		return h.Name
	}
	return ref
}

func refValue(r *types.ManagedObjectReference) string {
	if r == nil {
		return ""
	}
	return r.Value
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// nics are a VM's ethernet cards, in device order (as "Network adapter N").
func nics(vm mo.VirtualMachine) []*types.VirtualEthernetCard {
	if vm.Config == nil {
		return nil
	}
	var out []*types.VirtualEthernetCard
	for _, dev := range object.VirtualDeviceList(vm.Config.Hardware.Device) {
		if c, ok := dev.(types.BaseVirtualEthernetCard); ok {
			out = append(out, c.GetVirtualEthernetCard())
		}
	}
	return out
}

func disks(vm mo.VirtualMachine) []*types.VirtualDisk {
	if vm.Config == nil {
		return nil
	}
	var out []*types.VirtualDisk
	for _, dev := range vm.Config.Hardware.Device {
		if disk, ok := dev.(*types.VirtualDisk); ok {
			out = append(out, disk)
		}
	}
	return out
}

// chainFiles are a disk's file and its parents' files, top down.
func chainFiles(b types.BaseVirtualDeviceBackingInfo) []string {
	var out []string
	for b != nil && len(out) < 10000 {
		switch x := b.(type) {
		case *types.VirtualDiskFlatVer2BackingInfo:
			out = append(out, x.FileName)
			if x.Parent == nil {
				return out
			}
			b = x.Parent
		case *types.VirtualDiskSparseVer2BackingInfo:
			out = append(out, x.FileName)
			if x.Parent == nil {
				return out
			}
			b = x.Parent
		case *types.VirtualDiskSeSparseBackingInfo:
			out = append(out, x.FileName)
			if x.Parent == nil {
				return out
			}
			b = x.Parent
		default:
			return out
		}
	}
	return out
}

// missingPrivilege is the privilege and object a NoPermission fault in
// err names, if it is one: vCenter's message does not name them.
func missingPrivilege(err error) (priv, object string, ok bool) {
	var fault types.AnyType
	var te task.Error
	var pte *task.Error
	switch {
	case errors.As(err, &te) && te.LocalizedMethodFault != nil:
		fault = te.LocalizedMethodFault.Fault
	case errors.As(err, &pte) && pte.LocalizedMethodFault != nil:
		fault = pte.LocalizedMethodFault.Fault
	default:
		for e := err; e != nil; e = errors.Unwrap(e) {
			if soap.IsSoapFault(e) {
				fault = soap.ToSoapFault(e).VimFault()
				break
			}
			if soap.IsVimFault(e) {
				fault = soap.ToVimFault(e)
				break
			}
		}
	}
	var np *types.NoPermission
	switch f := fault.(type) {
	case *types.NoPermission:
		np = f
	case types.NoPermission:
		np = &f
	default:
		return "", "", false
	}
	if np.Object != nil {
		object = np.Object.Value
	}
	return np.PrivilegeId, object, true
}

// pathOf is the inventory path of the VM or folder with reference value
// ref, or ref itself.
func (d *doctor) pathOf(ref string) string {
	for _, vm := range d.inv.VMs {
		if vm.Ref == ref {
			return vm.Path
		}
	}
	return ref
}
