package sim

import (
	"context"
	"fmt"
	"net"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/simulator/esx"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vmdk"
)

// MaxDeltaLevels is the number of delta disks (redo logs) a virtual disk's
// chain may have. Every instant clone adds one to its source's chain; once a
// source's chain has this many, instant clones of it fail (KB 67186).
const MaxDeltaLevels = 255

// cloneFault is the fault an instant clone task fails with. Its message is
// vCenter's for the fault (faultMessage): what the clone refused is in the
// fault's fields, as vCenter reports it (InvalidArgument.invalidProperty,
// DuplicateName.name, InvalidPowerState.existingState).
type cloneFault struct {
	fault types.BaseMethodFault
}

func failf(f types.BaseMethodFault) *cloneFault { return &cloneFault{fault: f} }

// invalidArgument is InvalidArgument naming the spec's property at fault,
// as vCenter's "A specified parameter was not correct: spec.location.pool".
func invalidArgument(prop string) *cloneFault {
	return failf(&types.InvalidArgument{InvalidProperty: prop})
}

// startInstantClone runs in the SOAP call, which holds the source VM's lock:
// it creates the task and hands the work to a goroutine.
func (s *Simulator) startInstantClone(ctx *simulator.Context, src *simulator.VirtualMachine, req *types.InstantClone_Task) (types.ManagedObjectReference, types.BaseMethodFault) {
	// Like vCenter, arguments naming missing objects fail the call itself.
	loc := req.Spec.Location
	for _, ref := range []*types.ManagedObjectReference{loc.Folder, loc.Pool, loc.Datastore, loc.Host} {
		if ref != nil && ctx.Map.Get(*ref) == nil {
			return types.ManagedObjectReference{}, &types.ManagedObjectNotFound{Obj: *ref}
		}
	}
	n := s.calls.Add(1)

	task := simulator.CreateTask(src, "instantCloneTask", nil) // Execute unused: we run it
	task.Info.EntityName = src.Name
	task.Info.Reason = &types.TaskReasonUser{UserName: ctx.Session.UserName}
	task.Info.Cancelable = true // while queued; see dispatch
	ctx.Map.Put(task)
	s.tasks.Store(task.Self, task)
	ctx.Map.AtomicUpdate(ctx, task, []types.PropertyChange{
		{Name: "info.key", Val: task.Self.Value},
		{Name: "info.task", Val: task.Self},
	})

	// The task gets its own Context: vcsim object locks are shared by
	// Context, and the task must wait for locks this call holds.
	bg := *ctx
	bg.Context = context.WithoutCancel(ctx.Context)
	go s.runInstantClone(&bg, task, src, req.Spec, n)
	return task.Self, nil
}

func (s *Simulator) runInstantClone(ctx *simulator.Context, task *simulator.Task, src *simulator.VirtualMachine, spec types.VirtualMachineInstantCloneSpec, n int64) {
	var host types.ManagedObjectReference
	ctx.WithLock(src, func() {
		if src.Runtime.Host != nil {
			host = *src.Runtime.Host
		}
	})
	release := s.acquireHostSlot(host) // the task stays queued until then

	// A task cancelled while queued (CancelTask) never runs; vcsim has
	// already marked it failed with RequestCanceled.
	cancelled := false
	started := time.Now()
	ctx.WithLock(task, func() {
		if cancelled = task.Info.Cancelled; !cancelled {
			info := task.Info
			info.StartTime = &started
			info.State = types.TaskInfoStateRunning
			info.Cancelable = false
			setTaskInfo(ctx, task, info)
		}
	})
	if cancelled {
		s.tasks.Delete(task.Self)
		release()
		return
	}

	// Latency is counted from the task's start, so that a task runs for
	// Latency when its work takes less.
	res, f := s.instantClone(ctx, task, src, spec, n, started.Add(s.opts.Latency))

	// Complete before releasing the slot, so a queued task never starts
	// before the one it waited for has completed.
	ctx.WithLock(task, func() {
		info := task.Info
		now := time.Now()
		info.CompleteTime = &now
		info.State, info.Result = types.TaskInfoStateSuccess, res
		if f != nil {
			info.State, info.Result = types.TaskInfoStateError, nil
			info.Error = &types.LocalizedMethodFault{Fault: f.fault, LocalizedMessage: faultMessage(f.fault)}
		}
		setTaskInfo(ctx, task, info)
	})
	s.tasks.Delete(task.Self)
	release()
}

// acquireHostSlot blocks until the host runs fewer than HostLimit instant
// clones. Blocked tasks are served in order (Go channel senders are FIFO).
func (s *Simulator) acquireHostSlot(host types.ManagedObjectReference) func() {
	if s.opts.HostLimit <= 0 {
		return func() {}
	}
	s.slotMu.Lock()
	ch, ok := s.slots[host]
	if !ok {
		ch = make(chan struct{}, s.opts.HostLimit)
		s.slots[host] = ch
	}
	s.slotMu.Unlock()
	ch <- struct{}{}
	return func() { <-ch }
}

// stun serializes the stun phases of clones of one source.
func (s *Simulator) stun(src types.ManagedObjectReference) func() {
	s.stunMu.Lock()
	ch, ok := s.stunLock[src]
	if !ok {
		ch = make(chan struct{}, 1)
		s.stunLock[src] = ch
	}
	s.stunMu.Unlock()
	ch <- struct{}{}
	return func() { <-ch }
}

// clonePlan is what prepare works out before anything changes.
type clonePlan struct {
	name      string
	srcName   string
	host      types.ManagedObjectReference
	pool      types.ManagedObjectReference
	folder    *simulator.Folder
	datastore string
	devices   []types.BaseVirtualDevice // the clone's devices, edits applied; disks filled in at stun
	connected map[int32]types.VirtualDeviceConnectInfo
	config    types.VirtualMachineConfigSpec
	event     types.VmEvent // of the source
	tools     bool          // the source's Tools run, so the clone's do
}

// instantClone does the work of one running task. It returns the clone's
// reference or the fault the task fails with.
func (s *Simulator) instantClone(ctx *simulator.Context, task *simulator.Task, src *simulator.VirtualMachine, spec types.VirtualMachineInstantCloneSpec, n int64, deadline time.Time) (types.AnyType, *cloneFault) {
	p, f := s.prepare(ctx, src, &spec)
	if f != nil {
		return nil, f
	}
	release, f := s.reserveName(ctx, p)
	if f != nil {
		return nil, f
	}
	defer release()

	s.postEvent(ctx, &types.VmBeingClonedEvent{
		VmCloneEvent: types.VmCloneEvent{VmEvent: p.event},
		DestFolder:   types.FolderEventArgument{Folder: p.folder.Self, EntityEventArgument: types.EntityEventArgument{Name: p.folder.Name}},
		DestName:     p.name,
		DestHost:     *p.event.Host,
	})
	fail := func(f *cloneFault) (types.AnyType, *cloneFault) {
		s.postEvent(ctx, &types.VmCloneFailedEvent{
			VmCloneEvent: types.VmCloneEvent{VmEvent: p.event},
			DestFolder:   types.FolderEventArgument{Folder: p.folder.Self, EntityEventArgument: types.EntityEventArgument{Name: p.folder.Name}},
			DestName:     p.name,
			DestHost:     *p.event.Host,
			Reason:       types.LocalizedMethodFault{Fault: f.fault, LocalizedMessage: faultMessage(f.fault)},
		})
		return nil, f
	}

	injected := s.injected(n)
	// Without FailLeaveVM the injected failure is backed out: it happens
	// before the source changes.
	mutate := !injected || s.opts.FailLeaveVM

	var deltas []string
	var frozen bool
	unstun := s.stun(src.Self)
	start := time.Now()
	time.Sleep(s.opts.Stun)
	ctx.WithLock(src, func() {
		if st := src.Runtime.PowerState; st != types.VirtualMachinePowerStatePoweredOn {
			f = failf(&types.InvalidPowerState{RequestedState: types.VirtualMachinePowerStatePoweredOn, ExistingState: st})
			return
		}
		// A frozen source's chain does not grow: its delta stays empty.
		frozen = isFrozen(src)
		deltas, f = s.addDeltas(ctx, src, p, mutate && !frozen)
	})
	if s.opts.Stun > 0 {
		s.stunMu.Lock()
		s.stuns = append(s.stuns, Stun{Source: src.Self, Task: task.Self, Start: start, End: time.Now()})
		s.stunMu.Unlock()
	}
	unstun()
	if f != nil {
		return fail(f)
	}
	if injected && !s.opts.FailLeaveVM {
		sleepUntil(deadline)
		return fail(s.injectedFault(n))
	}

	clone, f := s.createClone(ctx, p)
	if f != nil {
		s.removeDeltas(ctx, src, deltas)
		return fail(f)
	}
	if injected {
		// vSphere cannot back out in the last moments of a clone: the
		// half-made VM stays, powered off.
		sleepUntil(deadline)
		return fail(s.injectedFault(n))
	}
	s.powerOn(ctx, clone, p)
	s.bootGuest(ctx, clone, n, p.tools)

	ev := s.vmEvent(ctx, clone)
	s.postEvent(ctx, &types.VmClonedEvent{
		VmCloneEvent: types.VmCloneEvent{VmEvent: ev},
		SourceVm:     *p.event.Vm,
	})
	sleepUntil(deadline)
	return clone.Self, nil
}

// setTaskInfo replaces the whole info of an instant clone task; the caller
// holds the task's lock. One change of "info", not one per field: vcsim's
// WaitForUpdatesEx, when a change is below a watched property ("info.state"
// below the "info" that govmomi's task waits watch), reads the task's live
// info without its lock to report the whole property, racing with the
// task's next update. A change of "info" itself is reported as it is. The
// final update also names "info.state", which vcsim's task history
// watches: nothing writes the task after it.
func setTaskInfo(ctx *simulator.Context, task *simulator.Task, info types.TaskInfo) {
	changes := []types.PropertyChange{{Name: "info", Val: info}}
	if info.State == types.TaskInfoStateSuccess || info.State == types.TaskInfoStateError {
		changes = append(changes, types.PropertyChange{Name: "info.state", Val: info.State})
	}
	ctx.Update(task, changes)
}

func sleepUntil(t time.Time) {
	if d := time.Until(t); d > 0 {
		time.Sleep(d)
	}
}

func (s *Simulator) injectedFault(n int64) *cloneFault {
	msg := fmt.Sprintf("injected failure of instant clone #%d (simulator option fail-clone=%d)", n, s.opts.FailClone)
	if int64(s.opts.FailClone) != n {
		msg = fmt.Sprintf("injected failure of instant clone #%d (simulator option FailWhen)", n)
	}
	if s.opts.FailFault != nil {
		return failf(s.opts.FailFault)
	}
	return failf(&types.SystemError{Reason: msg})
}

var macRE = regexp.MustCompile(`^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$`)

// applyDeviceChanges applies the spec's device changes to the copied devices.
// Only edits of ethernet cards (MAC, backing, connection) and of file-backed
// serial and parallel ports (file, connection) are allowed. Generated MACs of cards not
// given a manual MAC are regenerated; manual MACs not edited are kept.
func (s *Simulator) applyDeviceChanges(ctx *simulator.Context, dc *simulator.Datacenter, devices []types.BaseVirtualDevice, changes []types.BaseVirtualDeviceConfigSpec, p *clonePlan) *cloneFault {
	list := object.VirtualDeviceList(devices)
	edited := make(map[int32]bool)
	for i, c := range changes {
		spec := c.GetVirtualDeviceConfigSpec()
		prop := fmt.Sprintf("spec.location.deviceChange[%d]", i)
		if spec.Device == nil {
			return invalidArgument(prop + ".device")
		}
		if spec.Operation != types.VirtualDeviceConfigSpecOperationEdit {
			return invalidArgument(prop + ".operation")
		}
		if spec.FileOperation != "" {
			return invalidArgument(prop + ".fileOperation")
		}
		key := spec.Device.GetVirtualDevice().Key
		old := list.FindByKey(key)
		if old == nil {
			return invalidArgument(prop + ".device.key")
		}
		od, nd := old.GetVirtualDevice(), spec.Device.GetVirtualDevice()
		switch o := old.(type) {
		case types.BaseVirtualEthernetCard:
			n, ok := spec.Device.(types.BaseVirtualEthernetCard)
			if !ok {
				return invalidArgument(prop + ".device")
			}
			oc, nc := o.GetVirtualEthernetCard(), n.GetVirtualEthernetCard()
			if nc.AddressType == string(types.VirtualEthernetCardMacTypeManual) {
				if !macRE.MatchString(nc.MacAddress) {
					return invalidArgument(prop + ".device.macAddress")
				}
				if hw, _ := net.ParseMAC(nc.MacAddress); hw[0]&1 == 1 {
					return invalidArgument(prop + ".device.macAddress")
				}
				oc.AddressType = nc.AddressType
				oc.MacAddress = strings.ToLower(nc.MacAddress)
				edited[key] = true
			}
			if nd.Backing != nil {
				if b, ok := nd.Backing.(*types.VirtualEthernetCardNetworkBackingInfo); ok {
					if ctx.Map.FindByName(b.DeviceName, dc.Network) == nil {
						return invalidArgument(prop + ".device.backing")
					}
				}
				od.Backing = nd.Backing
			}
		case *types.VirtualSerialPort:
			if _, ok := spec.Device.(*types.VirtualSerialPort); !ok {
				return invalidArgument(prop + ".device")
			}
			if _, ok := od.Backing.(*types.VirtualSerialPortFileBackingInfo); !ok {
				return invalidArgument(prop + ".device")
			}
			if nd.Backing != nil {
				b, ok := nd.Backing.(*types.VirtualSerialPortFileBackingInfo)
				if !ok {
					return invalidArgument(prop + ".device.backing")
				}
				if f := s.checkPortFile(ctx, p, b.FileName, prop); f != nil {
					return f
				}
				od.Backing = &types.VirtualSerialPortFileBackingInfo{
					VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: b.FileName},
				}
			}
		case *types.VirtualParallelPort:
			// The InstantCloneSpec reference allows edits of "filebacked
			// Serial/Parallel ports" alike.
			if _, ok := spec.Device.(*types.VirtualParallelPort); !ok {
				return invalidArgument(prop + ".device")
			}
			if _, ok := od.Backing.(*types.VirtualParallelPortFileBackingInfo); !ok {
				return invalidArgument(prop + ".device")
			}
			if nd.Backing != nil {
				b, ok := nd.Backing.(*types.VirtualParallelPortFileBackingInfo)
				if !ok {
					return invalidArgument(prop + ".device.backing")
				}
				if f := s.checkPortFile(ctx, p, b.FileName, prop); f != nil {
					return f
				}
				od.Backing = &types.VirtualParallelPortFileBackingInfo{
					VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: b.FileName},
				}
			}
		default:
			return invalidArgument(prop + ".device")
		}
		if nd.Connectable != nil {
			c := *nd.Connectable
			od.Connectable = &c
		}
		if nd.Backing != nil && od.DeviceInfo != nil {
			// vcsim writes a new summary (the network or file name).
			od.DeviceInfo.GetDescription().Summary = ""
		}
	}

	for _, d := range devices {
		vd := d.GetVirtualDevice()
		if vd.Connectable != nil {
			p.connected[vd.Key] = *vd.Connectable
		}
		if nic, ok := d.(types.BaseVirtualEthernetCard); ok && !edited[vd.Key] {
			c := nic.GetVirtualEthernetCard()
			if c.AddressType != string(types.VirtualEthernetCardMacTypeManual) {
				c.AddressType = string(types.VirtualEthernetCardMacTypeGenerated)
				c.MacAddress = s.NewMAC()
			}
		}
	}
	return nil
}

// checkPortFile checks the file a serial or parallel port edit names.
func (s *Simulator) checkPortFile(ctx *simulator.Context, p *clonePlan, file, prop string) *cloneFault {
	var dp object.DatastorePath
	if !dp.FromString(file) || dp.Path == "" {
		return invalidArgument(prop + ".device.backing.fileName")
	}
	if datastoreOnHost(ctx, dp.Datastore, p.host) == nil {
		return failf(&types.InvalidDatastorePath{InvalidDatastore: types.InvalidDatastore{Name: dp.Datastore}, DatastorePath: file})
	}
	return nil
}

// NewMAC returns a MAC address in vCenter's generated range
// (00:50:56:80:00:00 - 00:50:56:bf:ff:ff), unique within the simulator.
func (s *Simulator) NewMAC() string {
	n := s.macs.Add(1)
	return fmt.Sprintf("00:50:56:%02x:%02x:%02x", 0x80|(n>>16)&0x3f, (n>>8)&0xff, n&0xff)
}

// reserveName fails with DuplicateName when the folder has, or is getting,
// an entity of that name; else it reserves the name until release.
//
// The in-flight name is reserved first and the folder looked at after,
// without namesMu: the folder's lock is held by vcsim for as long as it
// creates a VM in it, and waiting for it under namesMu would make the
// clones of every folder wait for the slowest one.
func (s *Simulator) reserveName(ctx *simulator.Context, p *clonePlan) (func(), *cloneFault) {
	s.namesMu.Lock()
	inflight := s.names[p.folder.Self]
	if inflight[p.name] {
		s.namesMu.Unlock()
		return nil, failf(&types.DuplicateName{Name: p.name, Object: p.folder.Self})
	}
	if inflight == nil {
		inflight = make(map[string]bool)
		s.names[p.folder.Self] = inflight
	}
	inflight[p.name] = true
	s.namesMu.Unlock()
	release := func() {
		s.namesMu.Lock()
		delete(s.names[p.folder.Self], p.name)
		s.namesMu.Unlock()
	}

	if taken := findChild(ctx, p.folder, p.name); taken != nil {
		release()
		return nil, failf(&types.DuplicateName{Name: p.name, Object: taken.Reference()})
	}
	return release, nil
}

// nameTaken is reserveName's check without the reservation, for
// CheckInstantClone_Task.
func (s *Simulator) nameTaken(ctx *simulator.Context, p *clonePlan) *cloneFault {
	s.namesMu.Lock()
	inflight := s.names[p.folder.Self][p.name]
	s.namesMu.Unlock()
	if inflight {
		return failf(&types.DuplicateName{Name: p.name, Object: p.folder.Self})
	}
	if taken := findChild(ctx, p.folder, p.name); taken != nil {
		return failf(&types.DuplicateName{Name: p.name, Object: taken.Reference()})
	}
	return nil
}

// findChild returns the child of folder named name, if any, as vcsim's own
// CreateVM_Task looks it up (each child's name is read without the child's
// lock: a race in vcsim with a rename, which the client tests keep out of
// the race detector's view by serving the simulator from another process,
// internal/sim/simproc).
func findChild(ctx *simulator.Context, folder *simulator.Folder, name string) mo.Entity {
	var taken mo.Entity
	nameMu.Lock() // no VM without a name in the folder (see nameMu)
	defer nameMu.Unlock()
	ctx.WithLock(folder, func() { taken = ctx.Map.FindByName(name, folder.ChildEntity) })
	return taken
}

// addDeltas runs in the stun phase, under the source's lock. For each disk
// of the source it points the clone's disk at the current top of the chain
// and, if mutate, gives the source a new delta disk on top of it. It returns
// the datastore paths of the new source deltas.
func (s *Simulator) addDeltas(ctx *simulator.Context, src *simulator.VirtualMachine, p *clonePlan, mutate bool) ([]string, *cloneFault) {
	srcDevices := types.MustDeepCopy(types.ArrayOfVirtualDevice{VirtualDevice: src.Config.Hardware.Device}).VirtualDevice
	var created []string
	for _, d := range srcDevices {
		disk, ok := d.(*types.VirtualDisk)
		if !ok {
			continue
		}
		b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
		if !ok {
			return created, failf(&types.NotSupported{})
		}
		levels := 0
		for x := b.Parent; x != nil; x = x.Parent {
			levels++
		}
		if levels >= MaxDeltaLevels {
			// The fault of KB 67186: a SystemError "Launch failure" caused
			// by a GenericVmConfigFault "Unable to prepare migration.".
			const prep = "Unable to prepare migration."
			cause := &types.GenericVmConfigFault{Reason: prep}
			cause.FaultMessage = []types.LocalizableMessage{{Key: "msg.migrate.prepare.failed", Message: prep}}
			return created, failf(&types.SystemError{
				RuntimeFault: types.RuntimeFault{MethodFault: types.MethodFault{
					FaultCause: &types.LocalizedMethodFault{Fault: cause, LocalizedMessage: prep},
				}},
				Reason: "Launch failure",
			})
		}

		// The clone's disk: a new delta in the clone's directory (named
		// by createClone) whose parent is the source's top.
		for _, cd := range p.devices {
			if cd.GetVirtualDevice().Key != disk.Key {
				continue
			}
			cdisk := cd.(*types.VirtualDisk)
			cb := cdisk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
			cb.FileName = "[" + p.datastore + "]"
			cb.Uuid = ""
			cb.ChangeId = ""
			parent := types.MustDeepCopy(*b)
			cb.Parent = &parent
		}

		if !mutate {
			continue
		}
		name := deltaName(b.FileName, levels+1)
		if err := s.writeDelta(ctx, b.FileName, name); err != nil {
			s.deleteDisks(ctx, created)
			return nil, failf(&types.CannotCreateFile{FileFault: types.FileFault{File: name}})
		}
		created = append(created, name)
		parent := *b
		nb := *b
		nb.FileName = name
		nb.Parent = &parent
		nb.ChangeId = ""
		disk.Backing = &nb
	}
	if mutate && len(created) > 0 {
		setDevices(ctx, src, srcDevices)
		s.refreshLater(ctx, src)
	}
	return created, nil
}

// removeDeltas backs out the deltas addDeltas gave the source.
func (s *Simulator) removeDeltas(ctx *simulator.Context, src *simulator.VirtualMachine, deltas []string) {
	if len(deltas) == 0 {
		return
	}
	ctx.WithLock(src, func() {
		devices := types.MustDeepCopy(types.ArrayOfVirtualDevice{VirtualDevice: src.Config.Hardware.Device}).VirtualDevice
		for _, d := range devices {
			if disk, ok := d.(*types.VirtualDisk); ok {
				if b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok && b.Parent != nil && slices.Contains(deltas, b.FileName) {
					disk.Backing = b.Parent
				}
			}
		}
		setDevices(ctx, src, devices)
		s.deleteDisks(ctx, deltas)
		refreshStorage(ctx, src)
	})
}

var deltaSuffix = regexp.MustCompile(`-\d{6}$`)

// deltaName names level n of the chain of base like vSphere: disk1.vmdk,
// disk1-000001.vmdk, disk1-000002.vmdk, ...
func deltaName(top string, n int) string {
	base := strings.TrimSuffix(top, ".vmdk")
	base = deltaSuffix.ReplaceAllString(base, "")
	return fmt.Sprintf("%s-%06d.vmdk", base, n)
}

// localPath maps "[ds] path" to the datastore's local directory.
func localPath(ctx *simulator.Context, name string) (string, error) {
	var dp object.DatastorePath
	if !dp.FromString(name) {
		return "", fmt.Errorf("%q is not a datastore path", name)
	}
	for _, obj := range ctx.Map.All("Datastore") {
		if ds := obj.(*simulator.Datastore); ds.Name == dp.Datastore {
			return path.Join(ds.Summary.Url, dp.Path), nil
		}
	}
	return "", fmt.Errorf("datastore %q not found", dp.Datastore)
}

// writeDelta writes the descriptor (and empty extent) of a delta disk whose
// parent is parent, so vcsim can read its capacity like any disk's.
func (s *Simulator) writeDelta(ctx *simulator.Context, parent, name string) error {
	pp, err := localPath(ctx, parent)
	if err != nil {
		return err
	}
	np, err := localPath(ctx, name)
	if err != nil {
		return err
	}
	pf, err := os.Open(pp)
	if err != nil {
		return err
	}
	pd, err := vmdk.ParseDescriptor(pf)
	_ = pf.Close()
	if err != nil {
		return err
	}
	d := vmdk.NewDescriptor(vmdk.Extent{Size: pd.Extent[0].Size, Info: path.Base(simulator.VirtualDiskBackingFileName(np))})
	d.Type = "vmfsSparse"
	d.CID = vmdk.DiskContentID(uuid.New().ID())
	d.ParentCID = pd.CID
	d.DDB["parentFileNameHint"] = path.Base(pp)
	f, err := os.Create(np)
	if err != nil {
		return err
	}
	if err := d.Write(f); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.WriteFile(simulator.VirtualDiskBackingFileName(np), nil, 0o600)
}

func (s *Simulator) deleteDisks(ctx *simulator.Context, names []string) {
	for _, n := range names {
		if p, err := localPath(ctx, n); err == nil {
			_ = os.Remove(p)
			_ = os.Remove(simulator.VirtualDiskBackingFileName(p))
		}
	}
}

// createClone creates the clone VM, powered off, through vcsim's own
// CreateVM_Task so it is a real simulator VM.
func (s *Simulator) createClone(ctx *simulator.Context, p *clonePlan) (*simulator.VirtualMachine, *cloneFault) {
	// The clone's files go into a directory of its own (see files.go).
	dir, err := s.makeVMDir(ctx, p.datastore, p.name)
	if err != nil {
		return nil, failf(&types.CannotCreateFile{FileFault: types.FileFault{File: "[" + p.datastore + "] " + p.name}})
	}
	defaults := object.VirtualDeviceList(esx.VirtualDevice)
	config := p.config
	config.Files = &types.VirtualMachineFileInfo{VmPathName: dir + "/" + p.name + ".vmx"}
	ndisks := 0
	for _, d := range p.devices {
		if defaults.Find(object.VirtualDeviceList(p.devices).Name(d)) != nil {
			continue // CreateVM_Task adds the default devices itself
		}
		spec := &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationAdd, Device: d}
		if disk, ok := d.(*types.VirtualDisk); ok {
			spec.FileOperation = types.VirtualDeviceConfigSpecFileOperationCreate
			name := p.name + ".vmdk"
			if ndisks > 0 {
				name = fmt.Sprintf("%s_%d.vmdk", p.name, ndisks)
			}
			ndisks++
			disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo).FileName = dir + "/" + name
		}
		config.DeviceChange = append(config.DeviceChange, spec)
	}
	created := false
	defer func() {
		if !created {
			if local, err := localPath(ctx, dir); err == nil {
				_ = os.RemoveAll(local)
			}
		}
	}()

	sub := *ctx // each vcsim task gets its own locking identity
	unlockNames := lockNames()
	res := p.folder.CreateVMTask(&sub, &types.CreateVM_Task{This: p.folder.Self, Config: config, Pool: p.pool, Host: &p.host})
	body := res.(*methods.CreateVM_TaskBody)
	if body.Fault_ != nil {
		unlockNames()
		return nil, failf(body.Fault_.VimFault().(types.BaseMethodFault))
	}
	t := ctx.Map.Get(body.Res.Returnval).(*simulator.Task)
	s.waitTask(ctx, t)
	unlockNames()
	var info types.TaskInfo
	ctx.WithLock(t, func() { info = t.Info })
	if info.Error != nil {
		return nil, failf(info.Error.Fault)
	}
	created = true
	ref := info.Result.(types.ManagedObjectReference)
	clone, ok := ctx.Map.Get(ref).(*simulator.VirtualMachine)
	if !ok {
		// Destroyed by another client between its creation and now (a
		// cleanup that found it by name): the clone task fails as vCenter's
		// would on a VM gone under it, and the simulator stays up.
		return nil, failf(&types.ManagedObjectNotFound{Obj: ref})
	}
	ctx.WithLock(clone, func() { s.chains.add(clone.Self, clone.Config.Hardware.Device) })
	return clone, nil
}

// powerOn powers the clone on with the connection state its NICs and
// serial and parallel ports had in the source (or were given by the spec):
// an instant clone resumes the source's running state rather than booting.
// It sets the power state itself rather than run vcsim's PowerOnVM_Task,
// which would log VmStartingEvent and VmPoweredOnEvent for a power-on that
// never happened: the clone's events are VmBeingClonedEvent and
// VmClonedEvent (instantClone posts them).
func (s *Simulator) powerOn(ctx *simulator.Context, clone *simulator.VirtualMachine, p *clonePlan) {
	ctx.WithLock(clone, func() {
		devices := types.MustDeepCopy(types.ArrayOfVirtualDevice{VirtualDevice: clone.Config.Hardware.Device}).VirtualDevice
		for _, d := range devices {
			vd := d.GetVirtualDevice()
			if c, ok := p.connected[vd.Key]; ok && vd.Connectable != nil {
				vd.Connectable.Connected = c.Connected
				vd.Connectable.StartConnected = c.StartConnected
			}
		}
		now := time.Now()
		ctx.Update(clone, []types.PropertyChange{
			{Name: "runtime.powerState", Val: types.VirtualMachinePowerStatePoweredOn},
			{Name: "summary.runtime.powerState", Val: types.VirtualMachinePowerStatePoweredOn},
			{Name: "runtime.bootTime", Val: now},
			{Name: "summary.runtime.bootTime", Val: now},
		})
		setDevices(ctx, clone, devices)
	})
}

func (s *Simulator) postEvent(ctx *simulator.Context, ev types.BaseEvent) {
	em := ctx.Map.EventManager()
	ctx.WithLock(em, func() { em.PostEvent(ctx, &types.PostEvent{EventToPost: ev}) })
}

// vmEvent returns the arguments of an event about vm. Callers hold vm's lock
// or own vm.
func (s *Simulator) vmEvent(ctx *simulator.Context, vm *simulator.VirtualMachine) types.VmEvent {
	ev := types.VmEvent{Event: types.Event{Vm: &types.VmEventArgument{
		EntityEventArgument: types.EntityEventArgument{Name: vm.Name},
		Vm:                  vm.Self,
	}}}
	if dc := datacenterOf(ctx, vm); dc != nil {
		ev.Datacenter = &types.DatacenterEventArgument{Datacenter: dc.Self, EntityEventArgument: types.EntityEventArgument{Name: dc.Name}}
	}
	if vm.Runtime.Host != nil {
		if h, ok := ctx.Map.Get(*vm.Runtime.Host).(*simulator.HostSystem); ok {
			ev.Host = &types.HostEventArgument{Host: h.Self, EntityEventArgument: types.EntityEventArgument{Name: h.Name}}
			if cr, ok := ctx.Map.Get(*h.Parent).(mo.Entity); ok {
				ev.ComputeResource = &types.ComputeResourceEventArgument{ComputeResource: cr.Reference(), EntityEventArgument: types.EntityEventArgument{Name: cr.Entity().Name}}
			}
		}
	}
	if len(vm.Datastore) > 0 {
		if ds, ok := ctx.Map.Get(vm.Datastore[0]).(*simulator.Datastore); ok {
			ev.Ds = &types.DatastoreEventArgument{Datastore: ds.Self, EntityEventArgument: types.EntityEventArgument{Name: ds.Name}}
		}
	}
	return ev
}

// datacenterOf walks up from e to its datacenter.
func datacenterOf(ctx *simulator.Context, e mo.Entity) *simulator.Datacenter {
	for p := e.Entity().Parent; p != nil; {
		obj, ok := ctx.Map.Get(*p).(mo.Entity)
		if !ok {
			return nil
		}
		if dc, ok := obj.(*simulator.Datacenter); ok {
			return dc
		}
		p = obj.Entity().Parent
	}
	return nil
}

// poolServesHost reports whether pool belongs to the compute resource host is in.
func poolServesHost(ctx *simulator.Context, pool, host types.ManagedObjectReference) bool {
	h, ok := ctx.Map.Get(host).(*simulator.HostSystem)
	if !ok || h.Parent == nil {
		return false
	}
	obj, ok := ctx.Map.Get(pool).(mo.Entity)
	if !ok {
		return false
	}
	for p := obj.Entity().Parent; p != nil; {
		if *p == *h.Parent {
			return true
		}
		parent, ok := ctx.Map.Get(*p).(mo.Entity)
		if !ok {
			return false
		}
		p = parent.Entity().Parent
	}
	return false
}

// datastoreOnHost returns the datastore of that name mounted on host, or nil.
func datastoreOnHost(ctx *simulator.Context, name string, host types.ManagedObjectReference) *simulator.Datastore {
	h, ok := ctx.Map.Get(host).(*simulator.HostSystem)
	if !ok {
		return nil
	}
	if ds, ok := ctx.Map.FindByName(name, h.Datastore).(*simulator.Datastore); ok {
		return ds
	}
	return nil
}
