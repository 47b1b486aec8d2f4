package sim

import (
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// sourceState is what an instant clone copies from its source, read under
// the source's lock.
type sourceState struct {
	name    string
	power   types.VirtualMachinePowerState
	host    *types.ManagedObjectReference
	pool    *types.ManagedObjectReference
	cfg     types.VirtualMachineConfigInfo
	vmx     object.DatastorePath
	devices []types.BaseVirtualDevice // deep copies
	extra   []types.BaseOptionValue   // deep copies
	event   types.VmEvent
	tools   bool // the guest's Tools run
}

func (s *Simulator) readSource(ctx *simulator.Context, src *simulator.VirtualMachine) sourceState {
	var st sourceState
	ctx.WithLock(src, func() {
		st.name = src.Name
		st.power = src.Runtime.PowerState
		if src.Runtime.Host != nil {
			h := *src.Runtime.Host
			st.host = &h
		}
		if src.ResourcePool != nil {
			p := *src.ResourcePool
			st.pool = &p
		}
		st.cfg = *src.Config
		st.vmx.FromString(src.Config.Files.VmPathName)
		st.devices = types.MustDeepCopy(types.ArrayOfVirtualDevice{VirtualDevice: src.Config.Hardware.Device}).VirtualDevice
		st.extra = types.MustDeepCopy(types.ArrayOfOptionValue{OptionValue: src.Config.ExtraConfig}).OptionValue
		st.event = s.vmEvent(ctx, src)
		st.tools = toolsRunning(src.Guest)
	})
	return st
}

// sourceFault is the fault an instant clone of a source in state st fails
// with before looking at the spec: it must be powered on (or frozen,
// which vSphere reports powered on) and on a host.
func sourceFault(st sourceState) *cloneFault {
	if st.power != types.VirtualMachinePowerStatePoweredOn {
		return failf(&types.InvalidPowerState{RequestedState: types.VirtualMachinePowerStatePoweredOn, ExistingState: st.power})
	}
	if st.host == nil {
		return failf(&types.InvalidState{})
	}
	return nil
}

// prepare validates the spec against the source and works out the clone's
// placement, devices and configuration.
func (s *Simulator) prepare(ctx *simulator.Context, src *simulator.VirtualMachine, spec *types.VirtualMachineInstantCloneSpec) (*clonePlan, *cloneFault) {
	st := s.readSource(ctx, src)
	if f := sourceFault(st); f != nil {
		return nil, f
	}
	return s.plan(ctx, src, st, spec)
}

// planner holds what the steps of plan share.
type planner struct {
	s    *Simulator
	ctx  *simulator.Context
	src  *simulator.VirtualMachine
	st   sourceState
	spec *types.VirtualMachineInstantCloneSpec
	dc   *simulator.Datacenter
	p    *clonePlan
}

// plan works out the clone of a source in state st (on a host) in steps,
// each refusing the spec with the fault vCenter gives. CheckInstantClone
// runs it too, so the check refuses exactly what the clone refuses.
func (s *Simulator) plan(ctx *simulator.Context, src *simulator.VirtualMachine, st sourceState, spec *types.VirtualMachineInstantCloneSpec) (*clonePlan, *cloneFault) {
	pl := &planner{s: s, ctx: ctx, src: src, st: st, spec: spec, p: &clonePlan{
		name:      spec.Name,
		srcName:   st.name,
		host:      *st.host,
		event:     st.event,
		tools:     st.tools,
		connected: make(map[int32]types.VirtualDeviceConnectInfo),
	}}
	for _, step := range []func() *cloneFault{
		pl.checkName,
		pl.checkLocation,
		pl.placeFolder,
		pl.placePool,
		pl.placeDatastore,
		pl.editDevices,
		pl.configure,
	} {
		if f := step(); f != nil {
			return nil, f
		}
	}
	return pl.p, nil
}

// checkName: vSphere names are 1 to 80 characters.
func (pl *planner) checkName() *cloneFault {
	if strings.TrimSpace(pl.spec.Name) == "" || len(pl.spec.Name) > 80 {
		return invalidArgument("spec.name")
	}
	return nil
}

// checkLocation refuses what an instant clone cannot do: another host,
// disk placement, a disk move type, another vCenter.
func (pl *planner) checkLocation() *cloneFault {
	loc := pl.spec.Location
	switch {
	case loc.Host != nil && *loc.Host != pl.p.host:
		return invalidArgument("spec.location.host")
	case len(loc.Disk) > 0:
		return invalidArgument("spec.location.disk")
	case loc.DiskMoveType != "":
		return invalidArgument("spec.location.diskMoveType")
	case loc.Service != nil:
		return invalidArgument("spec.location.service")
	}
	if pl.dc = datacenterOf(pl.ctx, pl.src); pl.dc == nil {
		return failf(&types.InvalidState{})
	}
	return nil
}

// placeFolder: the spec's folder, else the datacenter's VM folder; a VM
// folder of the source's datacenter.
func (pl *planner) placeFolder() *cloneFault {
	ref := pl.dc.VmFolder
	if pl.spec.Location.Folder != nil {
		ref = *pl.spec.Location.Folder
	}
	folder, ok := pl.ctx.Map.Get(ref).(*simulator.Folder)
	if !ok || !slices.Contains(folder.ChildType, "VirtualMachine") {
		return invalidArgument("spec.location.folder")
	}
	if d := datacenterOf(pl.ctx, folder); d == nil || d.Self != pl.dc.Self {
		return invalidArgument("spec.location.folder")
	}
	pl.p.folder = folder
	return nil
}

// placePool: the spec's pool, else the source's; it must belong to the
// compute resource of the source's host.
func (pl *planner) placePool() *cloneFault {
	pool := pl.st.pool
	if pl.spec.Location.Pool != nil {
		pool = pl.spec.Location.Pool
	}
	if pool == nil || !poolServesHost(pl.ctx, *pool, pl.p.host) {
		return invalidArgument("spec.location.pool")
	}
	pl.p.pool = *pool
	return nil
}

// placeDatastore: the spec's datastore, else the source's; it must be
// mounted on the source's host.
func (pl *planner) placeDatastore() *cloneFault {
	pl.p.datastore = pl.st.vmx.Datastore
	if ref := pl.spec.Location.Datastore; ref != nil {
		ds, ok := pl.ctx.Map.Get(*ref).(*simulator.Datastore)
		if !ok {
			return invalidArgument("spec.location.datastore")
		}
		pl.p.datastore = ds.Name
	}
	if datastoreOnHost(pl.ctx, pl.p.datastore, pl.p.host) == nil {
		return invalidArgument("spec.location.datastore")
	}
	return nil
}

// editDevices: copies of the source's devices, with the allowed edits
// applied.
func (pl *planner) editDevices() *cloneFault {
	devices := pl.st.devices
	if f := pl.s.applyDeviceChanges(pl.ctx, pl.dc, devices, pl.spec.Location.DeviceChange, pl.p); f != nil {
		return f
	}
	pl.p.devices = devices
	return nil
}

// configure works out the clone's configuration: the source's, with
// spec.config merged into its extraConfig, the BIOS UUID spec.biosUuid or
// new, a new instance UUID.
func (pl *planner) configure() *cloneFault {
	bios := pl.spec.BiosUuid
	if bios == "" {
		bios = uuid.NewString()
	} else if _, err := uuid.Parse(bios); err != nil {
		return invalidArgument("spec.biosUuid")
	}
	extra := pl.st.extra
	for _, o := range pl.spec.Config {
		ov := o.GetOptionValue()
		i := slices.IndexFunc(extra, func(e types.BaseOptionValue) bool { return e.GetOptionValue().Key == ov.Key })
		if i >= 0 {
			extra[i] = &types.OptionValue{Key: ov.Key, Value: ov.Value}
		} else {
			extra = append(extra, &types.OptionValue{Key: ov.Key, Value: ov.Value})
		}
	}
	cfg := pl.st.cfg
	pl.p.config = types.VirtualMachineConfigSpec{
		Name:              pl.spec.Name,
		Version:           cfg.Version,
		GuestId:           cfg.GuestId,
		Annotation:        cfg.Annotation,
		Firmware:          cfg.Firmware,
		Uuid:              bios,
		InstanceUuid:      uuid.NewString(),
		NumCPUs:           cfg.Hardware.NumCPU,
		NumCoresPerSocket: cfg.Hardware.NumCoresPerSocket,
		MemoryMB:          int64(cfg.Hardware.MemoryMB),
		ExtraConfig:       extra,
		Files:             &types.VirtualMachineFileInfo{VmPathName: "[" + pl.p.datastore + "]"},
	}
	return nil
}
