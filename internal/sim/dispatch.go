package sim

import (
	"sync"
	"weak"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// How InstantClone_Task reaches our code.
//
// vcsim dispatches a SOAP method by reflection on the object that handles
// method.This. For a logged-in session that object is the session's own
// Registry entry if there is one, else the global one; Registry.Handler
// cannot override it. So, the first time a session calls InstantClone_Task
// on a VM, dispatch puts a wrapper into that session's Registry:
// vmWithInstantClone embeds the *simulator.VirtualMachine (same Self, same
// object lock, same fields) and adds InstantCloneTask. Race-detector
// builds also put it on a VM's first Destroy_Task, ReconfigVM_Task or
// Rename_Task, which it runs one at a time (see vmTask); other builds pass
// those through.
// Every other method resolves to the embedded VM's, the PropertyCollector
// digs the embedded mo type out of wrappers, and fault rules (AddFaultRule)
// still match type VirtualMachine and the VM's name. The global Registry keeps the real
// *simulator.VirtualMachine, which vcsim code type-asserts.
//
// A wrapper must not outlive its VM, or the session would still see a
// destroyed VM: hook.RemoveObject drops it from every session Registry it
// was put in. Putting and removing both happen under the VM's object lock,
// which vcsim also holds while it removes a VM (Destroy_Task,
// UnregisterVM), so a wrapper is never put for a VM already removed.

// vmWithInstantClone is a VirtualMachine that implements InstantClone_Task.
type vmWithInstantClone struct {
	*simulator.VirtualMachine
	sim *Simulator
}

// InstantCloneTask implements VirtualMachine.InstantClone_Task.
func (w *vmWithInstantClone) InstantCloneTask(ctx *simulator.Context, req *types.InstantClone_Task) soap.HasFault {
	ref, fault := w.sim.startInstantClone(ctx, w.VirtualMachine, req)
	if fault != nil {
		return &methods.InstantClone_TaskBody{Fault_: simulator.Fault(faultMessage(fault), fault)}
	}
	return &methods.InstantClone_TaskBody{Res: &types.InstantClone_TaskResponse{Returnval: ref}}
}

// DestroyTask implements VirtualMachine.Destroy_Task: it keeps the files
// other VMs' disks chain to (see files.go and vmTask).
func (w *vmWithInstantClone) DestroyTask(ctx *simulator.Context, req *types.Destroy_Task) soap.HasFault {
	if w.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOff {
		// vcsim refuses to destroy a VM that is not powered off, and the
		// call holds the VM's lock: the destroy goes ahead.
		w.sim.keepShared(ctx, w.VirtualMachine)
	}
	return w.sim.vmTask(ctx, func() soap.HasFault { return w.VirtualMachine.DestroyTask(ctx, req) })
}

// RenameTask implements VirtualMachine.Rename_Task (see renameTask).
func (w *vmWithInstantClone) RenameTask(ctx *simulator.Context, req *types.Rename_Task) soap.HasFault {
	return w.sim.renameTask(ctx, func() soap.HasFault { return w.VirtualMachine.RenameTask(ctx, req) })
}

// ReconfigVMTask implements VirtualMachine.ReconfigVM_Task (see vmTask).
func (w *vmWithInstantClone) ReconfigVMTask(ctx *simulator.Context, req *types.ReconfigVM_Task) soap.HasFault {
	return w.sim.vmTask(ctx, func() soap.HasFault { return w.VirtualMachine.ReconfigVMTask(ctx, req) })
}

// vmTaskMu makes vcsim's destroy, reconfiguration and rename tasks of VMs,
// and clone creations, run one at a time in race-detector builds (see
// vmTask and createClone). It is taken after VM locks, never before.
var vmTaskMu sync.Mutex

// vmTask starts a VM's destroy, reconfiguration or rename task. In
// race-detector builds it returns only when the task, and any file deletion
// vcsim runs meanwhile, has ended, and runs one such call at a time: vcsim
// reads datastore objects without their locks when it lays a VM's disks out
// (Datastore.resolve, from every reconfiguration and file deletion) while
// another VM's destroy updates them under their lock, and a rename reads
// its siblings' names without their locks while another rename writes one:
// races in vcsim itself (see lockCreateVM). Waiting here cannot deadlock on
// the VM's lock: the call holds it, and vcsim hands it to the task with the
// call's own locking identity.
func (s *Simulator) vmTask(ctx *simulator.Context, start func() soap.HasFault) soap.HasFault {
	if !raceBuild {
		return start()
	}
	vmTaskMu.Lock()
	defer vmTaskMu.Unlock()
	res := start()
	var ref *types.ManagedObjectReference
	switch b := res.(type) {
	case *methods.Destroy_TaskBody:
		if b.Res != nil {
			ref = &b.Res.Returnval
		}
	case *methods.ReconfigVM_TaskBody:
		if b.Res != nil {
			ref = &b.Res.Returnval
		}
	case *methods.Rename_TaskBody:
		if b.Res != nil {
			ref = &b.Res.Returnval
		}
	}
	if ref != nil {
		if t, ok := ctx.Map.Get(*ref).(*simulator.Task); ok {
			wait := *ctx // a locking identity of its own, as waitTask needs
			s.waitTask(&wait, t)
		}
	}
	// A destroy deletes the VM's files with tasks it does not wait for,
	// which read the datastores without their locks too.
	s.fileOps.wait()
	return res
}

// fileOps are the file and disk deletion tasks vcsim is running (race
// builds only): vmTask and createClone wait for none to run.
type fileOps struct {
	mu      sync.Mutex
	running map[types.ManagedObjectReference]bool
	idle    *sync.Cond // signalled when running empties
}

func (f *fileOps) init() {
	f.running = map[types.ManagedObjectReference]bool{}
	f.idle = sync.NewCond(&f.mu)
}

func (f *fileOps) start(ref types.ManagedObjectReference) {
	f.mu.Lock()
	f.running[ref] = true
	f.mu.Unlock()
}

func (f *fileOps) end(ref types.ManagedObjectReference) {
	f.mu.Lock()
	if f.running[ref] {
		delete(f.running, ref)
		if len(f.running) == 0 {
			f.idle.Broadcast()
		}
	}
	f.mu.Unlock()
}

// wait returns when no file deletion task runs.
func (f *fileOps) wait() {
	f.mu.Lock()
	for len(f.running) > 0 {
		f.idle.Wait()
	}
	f.mu.Unlock()
}

// dispatch is the Registry.Handler: it runs before every method call.
func (s *Simulator) dispatch(ctx *simulator.Context, m *simulator.Method) (mo.Reference, types.BaseMethodFault) {
	if m.Name == "CancelTask" && ctx.Session != nil {
		return nil, s.checkCancel(ctx, m.This)
	}
	if ctx.Session == nil || ctx.Session.Key == s.internalSession {
		// vcsim's in-process session is shared by every simulator in the
		// process, so a wrapper there could shadow another simulator's VM.
		return nil, nil
	}
	if len(s.denials) > 0 {
		if f := s.checkPrivileges(ctx, m); f != nil {
			return nil, f
		}
	}
	if m.Name == "SetField" {
		cfm := ctx.Map.CustomFieldsManager()
		wrapOnce(ctx, cfm, func() mo.Reference { return &customFieldsSafe{CustomFieldsManager: cfm} })
		return nil, nil
	}
	if m.This.Type == "ListView" && (m.Name == "ModifyListView" || m.Name == "ResetListView") {
		if lv, ok := ctx.Session.Get(m.This).(*simulator.ListView); ok {
			wrapOnce(ctx, lv, func() mo.Reference { return &listViewNotifyLater{ListView: lv, sim: s} })
		}
		return nil, nil
	}
	if raceBuild {
		switch m.Name {
		case "CreateContainerView":
			vm := ctx.Map.ViewManager()
			wrapOnce(ctx, vm, func() mo.Reference { return &viewManagerCreateVMSafe{ViewManager: vm} })
			return nil, nil
		case "FindChild", "FindByInventoryPath":
			si := ctx.Map.SearchIndex()
			wrapOnce(ctx, si, func() mo.Reference { return &searchIndexRenameSafe{SearchIndex: si} })
			return nil, nil
		}
	}
	if m.This.Type != "VirtualMachine" {
		return nil, nil
	}
	switch m.Name {
	case "InstantClone_Task", "Destroy_Task", "Rename_Task": // Rename_Task: see nameMu
	case "ReconfigVM_Task":
		if !raceBuild {
			return nil, nil
		}
	default:
		return nil, nil
	}
	vm, ok := ctx.Map.Get(m.This).(*simulator.VirtualMachine)
	if !ok {
		return nil, nil // vcsim answers ManagedObjectNotFound
	}
	reg := ctx.Session.Registry
	ctx.WithLock(vm, func() {
		if ctx.Map.Get(vm.Self) != vm {
			return // removed meanwhile
		}
		if _, ok := reg.Get(vm.Self).(*vmWithInstantClone); ok {
			return
		}
		s.wrapMu.Lock()
		defer s.wrapMu.Unlock()
		// Registry.Put, not Session.Put: the reference is already set.
		reg.Put(&vmWithInstantClone{VirtualMachine: vm, sim: s})
		s.wrapped[vm.Self] = append(s.wrapped[vm.Self], weak.Make(reg))
	})
	return nil, nil
}

// Race-detector builds only: wrappers of vcsim singletons whose methods
// read the inventory without the locks of what they read, a data race in
// vcsim itself that the race detector reports whenever a test meets it and
// that would hide races of this project's own code (see lockCreateVM).
// They are put into the session's Registry, as dispatch does for
// InstantClone_Task and for the same reason.

// viewManagerCreateVMSafe is a ViewManager whose CreateContainerView waits
// while a clone VM is being created: vcsim's walks the resource pools' vm
// lists without their locks, while CreateVM_Task appends the new VM to its
// pool's list under the pool's lock (an inventory read, a plan or a test's
// inventory sample, that starts while a clone is made).
type viewManagerCreateVMSafe struct {
	*simulator.ViewManager
}

// CreateContainerView implements ViewManager.CreateContainerView.
func (w *viewManagerCreateVMSafe) CreateContainerView(ctx *simulator.Context, req *types.CreateContainerView) soap.HasFault {
	createVMMu.Lock()
	defer createVMMu.Unlock()
	return w.ViewManager.CreateContainerView(ctx, req)
}

// searchIndexRenameSafe is a SearchIndex whose lookups by name hold every
// VM's lock (and wait while a clone VM is being created): vcsim's read each
// child's name without its lock, while a rename task writes it under the
// VM's lock (a clone looked up during another's swap).
type searchIndexRenameSafe struct {
	*simulator.SearchIndex
}

// FindChild implements SearchIndex.FindChild.
func (w *searchIndexRenameSafe) FindChild(ctx *simulator.Context, req *types.FindChild) soap.HasFault {
	defer lockCreateVM(ctx)()
	return w.SearchIndex.FindChild(ctx, req)
}

// FindByInventoryPath implements SearchIndex.FindByInventoryPath.
func (w *searchIndexRenameSafe) FindByInventoryPath(ctx *simulator.Context, req *types.FindByInventoryPath) soap.HasFault {
	defer lockCreateVM(ctx)()
	return w.SearchIndex.FindByInventoryPath(ctx, req)
}

// wrapOnce puts the wrapper of obj that wrap makes into the session's
// Registry, in place of obj itself if the session holds it (a list view),
// unless a wrapper is there already.
func wrapOnce(ctx *simulator.Context, obj mo.Reference, wrap func() mo.Reference) {
	reg := ctx.Session.Registry
	ctx.WithLock(obj, func() {
		if cur := reg.Get(obj.Reference()); cur == nil || cur == obj {
			reg.Put(wrap())
		}
	})
}

// checkCancel refuses to cancel a running instant clone with NotSupported,
// as vCenter does for a task that is not cancelable; a queued one may be
// cancelled (runInstantClone then never runs it). vcsim's CancelTask does not
// look at TaskInfo.cancelable, hence this check.
func (s *Simulator) checkCancel(ctx *simulator.Context, ref types.ManagedObjectReference) types.BaseMethodFault {
	v, ok := s.tasks.Load(ref)
	if !ok {
		return nil
	}
	t := v.(*simulator.Task)
	cancelable := false
	ctx.WithLock(t, func() { cancelable = t.Info.Cancelable })
	if !cancelable {
		return &types.NotSupported{}
	}
	return nil
}

// hook is registered with the global Registry: it hears of every object put,
// updated and removed.
type hook struct{ s *Simulator }

// Reference identifies the hook among the Registry's handlers.
func (h *hook) Reference() types.ManagedObjectReference { return h.s.self }

// PutObject notes, in race-detector builds, a file deletion task starting
// (see fileOps).
func (h *hook) PutObject(_ *simulator.Context, obj mo.Reference) {
	if !raceBuild {
		return
	}
	// Task.Run puts the task from the goroutine that made it, before the
	// task runs: its info is not being written.
	if t, ok := obj.(*simulator.Task); ok && t.Info.Entity != nil &&
		(t.Info.Entity.Type == "FileManager" || t.Info.Entity.Type == "VirtualDiskManager") {
		h.s.fileOps.start(t.Self)
	}
}

// UpdateObject wakes whoever waits for a vcsim task to finish (see waitTask).
// It runs on every property change in the inventory, so it is cheap.
func (h *hook) UpdateObject(_ *simulator.Context, obj mo.Reference, changes []types.PropertyChange) {
	t, ok := obj.(*mo.Task)
	if !ok {
		return
	}
	for _, c := range changes {
		if c.Name != "info.state" {
			continue
		}
		if st, _ := c.Val.(types.TaskInfoState); st == types.TaskInfoStateSuccess || st == types.TaskInfoStateError {
			h.s.waitMu.Lock()
			if ch, ok := h.s.waiters[t.Self]; ok {
				close(ch)
				delete(h.s.waiters, t.Self)
			}
			h.s.waitMu.Unlock()
			if raceBuild {
				h.s.fileOps.end(t.Self)
			}
		}
	}
}

// RemoveObject drops the dispatch wrappers of a removed VM, and deletes
// the files it alone still kept (see files.go).
func (h *hook) RemoveObject(ctx *simulator.Context, ref types.ManagedObjectReference) {
	if ref.Type != "VirtualMachine" {
		return
	}
	h.s.deleteOrphans(ctx, h.s.chains.remove(ref))
	h.s.wrapMu.Lock()
	regs := h.s.wrapped[ref]
	delete(h.s.wrapped, ref)
	h.s.wrapMu.Unlock()
	for _, w := range regs {
		if reg := w.Value(); reg != nil {
			reg.Remove(ctx, ref)
		}
	}
}

// waitTask blocks until a vcsim task (CreateVM_Task, PowerOnVM_Task) is done.
// simulator.Task.Wait polls every 10ms, which would dominate a clone.
func (s *Simulator) waitTask(ctx *simulator.Context, t *simulator.Task) {
	ch := make(chan struct{})
	s.waitMu.Lock()
	s.waiters[t.Self] = ch
	s.waitMu.Unlock()
	done := false
	ctx.WithLock(t, func() {
		done = t.Info.State == types.TaskInfoStateSuccess || t.Info.State == types.TaskInfoStateError
	})
	if !done {
		<-ch
		return
	}
	s.waitMu.Lock()
	delete(s.waiters, t.Self)
	s.waitMu.Unlock()
}
