package vsphere

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"path"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/iclone-plan/iclone-plan/internal/cloud"
	"github.com/iclone-plan/iclone-plan/internal/inventory"
)

// Ops are the narrow operations apply needs, in one datacenter. They are
// safe for concurrent use; lookups (folders, networks, source devices) are
// cached for the life of the Ops. *Ops is the executor's Cloud with no
// adapter: its requests are internal/cloud's types, and every error of
// those methods carries a *cloud.Fault (see classify).
type Ops struct {
	c      *Client
	dc     *object.Datacenter
	dcPath string
	// finder looks networks and pools up; finderMu makes it one lookup at
	// a time: govmomi's Finder caches the datacenter's folders without a
	// lock (concurrent first lookups race). Lookups are cached, so this
	// costs only the first of each.
	finderMu sync.Mutex
	finder   *find.Finder

	// The lookups, cached; concurrent misses of a key share one lookup.
	folders  lookups[string, *object.Folder] // by path; a missing folder is not cached
	networks lookups[string, types.BaseVirtualDeviceBackingInfo]
	pools    lookups[string, *object.ResourcePool]
	devices  lookups[string, object.VirtualDeviceList] // source ref -> its devices

	mu sync.Mutex
	// folderLocks serialize the creation of each folder path (folders of
	// different paths are made concurrently); under mu.
	folderLocks map[string]*sync.Mutex

	readyMu sync.Mutex
	waiter  *ReadyWaiter // made on the first WaitReady
}

// CloneSpec is one instant clone: the executor's request (internal/cloud),
// named as this package's tests and benchmarks know it.
type CloneSpec = cloud.CloneRequest

// NICEdit is the desired state of one NIC of a new clone.
type NICEdit = cloud.NICEdit

// SerialEdit is the desired backing file of one serial port of a new clone.
type SerialEdit = cloud.SerialEdit

// Ops returns the operations for the datacenter at path (as ReadInventory
// reported it).
func (c *Client) Ops(ctx context.Context, dcPath string) (*Ops, error) {
	finder := find.NewFinder(c.Vim, false)
	dc, err := finder.Datacenter(ctx, dcPath)
	if err != nil {
		return nil, fmt.Errorf("datacenter %s: %w", dcPath, err)
	}
	finder.SetDatacenter(dc)
	return &Ops{c: c, dc: dc, dcPath: dcPath, finder: finder,
		folders:     lookups[string, *object.Folder]{keep: func(f *object.Folder) bool { return f != nil }},
		folderLocks: map[string]*sync.Mutex{}}, nil
}

func (o *Ops) vm(ref string) *object.VirtualMachine {
	return object.NewVirtualMachine(o.c.Vim, types.ManagedObjectReference{Type: "VirtualMachine", Value: ref})
}

// folder returns the folder at path, or nil if it does not exist.
func (o *Ops) folder(ctx context.Context, p string) (*object.Folder, error) {
	return o.folders.get(ctx, p, func(ctx context.Context) (*object.Folder, error) {
		ref, err := object.NewSearchIndex(o.c.Vim).FindByInventoryPath(ctx, p)
		if err != nil || ref == nil {
			return nil, err
		}
		f, ok := ref.(*object.Folder)
		if !ok {
			return nil, fmt.Errorf("%s is a %s, not a folder", p, ref.Reference().Type)
		}
		f.InventoryPath = p
		return f, nil
	})
}

// EnsureFolder creates the VM folder at path and its missing parents, and
// reports whether it created the folder itself. It is safe for concurrent
// use: folders of different paths are made at the same time, a path once.
func (o *Ops) EnsureFolder(ctx context.Context, p string) (bool, error) {
	created, err := o.ensureFolder(ctx, p)
	return created, classify(err)
}

func (o *Ops) ensureFolder(ctx context.Context, p string) (bool, error) {
	// A folder's lock is taken before its parent's, never the other way.
	o.mu.Lock()
	l := o.folderLocks[p]
	if l == nil {
		l = &sync.Mutex{}
		o.folderLocks[p] = l
	}
	o.mu.Unlock()
	l.Lock()
	defer l.Unlock()
	if f, err := o.folder(ctx, p); err != nil || f != nil {
		return false, err
	}
	if root := o.dcPath + "/vm"; !strings.HasPrefix(p, root+"/") {
		return false, fmt.Errorf("folder %s is not under the datacenter's VM folder %s; fix the plan's folder", p, root)
	}
	if _, err := o.ensureFolder(ctx, path.Dir(p)); err != nil {
		return false, err
	}
	parent, err := o.folder(ctx, path.Dir(p))
	if err != nil {
		return false, err
	}
	f, err := parent.CreateFolder(ctx, path.Base(p))
	if err != nil {
		return false, sent(fmt.Errorf("creating folder %s: %w", p, err))
	}
	f.InventoryPath = p
	o.folders.put(p, f)
	return true, nil
}

// RemoveFolder destroys the folder at path if it exists and is empty.
func (o *Ops) RemoveFolder(ctx context.Context, p string) error {
	return classify(o.removeFolder(ctx, p))
}

func (o *Ops) removeFolder(ctx context.Context, p string) error {
	f, err := o.folder(ctx, p)
	if err != nil || f == nil {
		return err
	}
	var mf mo.Folder
	if err := o.c.withSession(ctx, func() error { return f.Properties(ctx, f.Reference(), []string{"childEntity"}, &mf) }); err != nil {
		return err
	}
	if len(mf.ChildEntity) > 0 {
		return nil
	}
	task, err := f.Destroy(ctx)
	if err == nil {
		err = o.waitTask(ctx, task, "destroyFolder")
	}
	o.folders.forget(p)
	return err
}

// sourceDevices returns the source VM's devices, read once.
func (o *Ops) sourceDevices(ctx context.Context, ref string) (object.VirtualDeviceList, error) {
	return o.devices.get(ctx, ref, func(ctx context.Context) (d object.VirtualDeviceList, err error) {
		err = o.c.withSession(ctx, func() (err error) {
			d, err = o.vm(ref).Device(ctx)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("reading the devices of source %s: %w", ref, err)
		}
		return d, nil
	})
}

func (o *Ops) networkBacking(ctx context.Context, name string) (types.BaseVirtualDeviceBackingInfo, error) {
	return o.networks.get(ctx, name, func(ctx context.Context) (b types.BaseVirtualDeviceBackingInfo, err error) {
		// Property reads: a session vCenter ended shows as NotAuthenticated
		// per property, which only withSession recovers from.
		err = o.c.withSession(ctx, func() error {
			o.finderMu.Lock()
			n, err := o.finder.Network(ctx, name)
			o.finderMu.Unlock()
			if err != nil {
				return err
			}
			b, err = n.EthernetCardBackingInfo(ctx)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("network %q: %w", name, err)
		}
		return b, nil
	})
}

func (o *Ops) pool(ctx context.Context, p string) (*object.ResourcePool, error) {
	return o.pools.get(ctx, p, func(ctx context.Context) (rp *object.ResourcePool, err error) {
		err = o.c.withSession(ctx, func() (err error) {
			o.finderMu.Lock()
			defer o.finderMu.Unlock()
			rp, err = o.finder.ResourcePool(ctx, p)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("resource pool %s: %w", p, err)
		}
		return rp, nil
	})
}

// ethernetCards returns the VM's NICs in adapter order (device key order),
// as ReadInventory numbers them.
func ethernetCards(devices object.VirtualDeviceList) []types.BaseVirtualEthernetCard {
	var cards []types.BaseVirtualEthernetCard
	for _, d := range sortedByKey(devices) {
		if c, ok := d.(types.BaseVirtualEthernetCard); ok {
			cards = append(cards, c)
		}
	}
	return cards
}

func serialPorts(devices object.VirtualDeviceList) []*types.VirtualSerialPort {
	var ports []*types.VirtualSerialPort
	for _, d := range sortedByKey(devices) {
		if p, ok := d.(*types.VirtualSerialPort); ok {
			ports = append(ports, p)
		}
	}
	return ports
}

func sortedByKey(devices object.VirtualDeviceList) object.VirtualDeviceList {
	out := slices.Clone(devices)
	slices.SortStableFunc(out, func(a, b types.BaseVirtualDevice) int {
		return cmp.Compare(a.GetVirtualDevice().Key, b.GetVirtualDevice().Key)
	})
	return out
}

// InstantClone runs InstantClone_Task for spec. started receives the task
// reference as soon as the task exists.
func (o *Ops) InstantClone(ctx context.Context, spec *CloneSpec, started func(task string)) (string, error) {
	vm, err := o.instantClone(ctx, spec, started)
	return vm, classify(err)
}

func (o *Ops) instantClone(ctx context.Context, spec *CloneSpec, started func(task string)) (string, error) {
	ics, err := o.instantCloneSpec(ctx, spec)
	if err != nil {
		return "", err
	}
	task, err := o.vm(spec.Source).InstantClone(ctx, *ics)
	if err != nil {
		return "", sent(err)
	}
	if started != nil {
		started(task.Reference().Value)
	}
	info, err := o.c.waitTask(ctx, task.Reference(), "instantClone")
	if err != nil {
		return "", err
	}
	ref, ok := info.Result.(types.ManagedObjectReference)
	if !ok {
		return "", fmt.Errorf("instant clone task %s returned %T, not a VM", task.Reference().Value, info.Result)
	}
	return ref.Value, nil
}

// instantCloneSpec is the InstantCloneSpec of spec: its location and its
// extraConfig, as InstantClone sends it (and CheckInstantClone checks it).
func (o *Ops) instantCloneSpec(ctx context.Context, spec *CloneSpec) (*types.VirtualMachineInstantCloneSpec, error) {
	loc, err := o.location(ctx, spec)
	if err != nil {
		return nil, err
	}
	ics := &types.VirtualMachineInstantCloneSpec{Name: spec.Name, Location: *loc}
	for _, k := range sortedKeys(spec.ExtraConfig) {
		ics.Config = append(ics.Config, &types.OptionValue{Key: k, Value: spec.ExtraConfig[k]})
	}
	return ics, nil
}

// location is the clone's relocate spec: its folder, its pool, and the
// edits of the source's devices.
func (o *Ops) location(ctx context.Context, spec *CloneSpec) (*types.VirtualMachineRelocateSpec, error) {
	devices, err := o.sourceDevices(ctx, spec.Source)
	if err != nil {
		return nil, err
	}
	folder, err := o.folder(ctx, spec.Folder)
	if err != nil {
		return nil, err
	}
	if folder == nil {
		return nil, fmt.Errorf("folder %s does not exist", spec.Folder)
	}
	loc := &types.VirtualMachineRelocateSpec{}
	fref := folder.Reference()
	loc.Folder = &fref
	if spec.Pool != "" {
		rp, err := o.pool(ctx, spec.Pool)
		if err != nil {
			return nil, err
		}
		pref := rp.Reference()
		loc.Pool = &pref
	}
	nics, err := o.nicEdits(ctx, spec, ethernetCards(devices))
	if err != nil {
		return nil, err
	}
	serial, err := serialEdits(spec, serialPorts(devices))
	if err != nil {
		return nil, err
	}
	loc.DeviceChange = append(nics, serial...)
	return loc, nil
}

// nicEdits are the edits of the source's NICs: the plan's MACs and
// networks, and with spec.Disconnected every NIC (edited or not) starting
// disconnected.
func (o *Ops) nicEdits(ctx context.Context, spec *CloneSpec, cards []types.BaseVirtualEthernetCard) ([]types.BaseVirtualDeviceConfigSpec, error) {
	var out []types.BaseVirtualDeviceConfigSpec
	edited := map[int]bool{}
	for _, n := range spec.NICs {
		if n.Adapter < 1 || n.Adapter > len(cards) {
			return nil, fmt.Errorf("source %s has no network adapter %d", spec.Source, n.Adapter)
		}
		edited[n.Adapter] = true
		card := copyCard(cards[n.Adapter-1])
		eth := card.GetVirtualEthernetCard()
		eth.MacAddress, eth.AddressType = n.MAC, string(types.VirtualEthernetCardMacTypeManual)
		if n.Network != "" {
			b, err := o.networkBacking(ctx, n.Network)
			if err != nil {
				return nil, err
			}
			eth.Backing = b
		}
		setConnectable(&eth.VirtualDevice, !spec.Disconnected)
		out = append(out, &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationEdit, Device: card.(types.BaseVirtualDevice)})
	}
	if spec.Disconnected {
		// NICs the plan does not edit must start disconnected too.
		for i, c := range cards {
			if edited[i+1] {
				continue
			}
			card := copyCard(c)
			setConnectable(&card.GetVirtualEthernetCard().VirtualDevice, false)
			out = append(out, &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationEdit, Device: card.(types.BaseVirtualDevice)})
		}
	}
	return out, nil
}

// serialEdits are the edits of the source's serial ports: file backings.
func serialEdits(spec *CloneSpec, ports []*types.VirtualSerialPort) ([]types.BaseVirtualDeviceConfigSpec, error) {
	var out []types.BaseVirtualDeviceConfigSpec
	for _, s := range spec.Serial {
		if s.Port < 1 || s.Port > len(ports) {
			return nil, fmt.Errorf("source %s has no serial port %d", spec.Source, s.Port)
		}
		p := *ports[s.Port-1]
		p.Backing = &types.VirtualSerialPortFileBackingInfo{VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: s.File}}
		out = append(out, &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationEdit, Device: &p})
	}
	return out, nil
}

// copyCard returns a shallow copy of a NIC device of the same concrete type.
func copyCard(c types.BaseVirtualEthernetCard) types.BaseVirtualEthernetCard {
	switch d := c.(type) {
	case *types.VirtualVmxnet3:
		x := *d
		return &x
	case *types.VirtualE1000:
		x := *d
		return &x
	case *types.VirtualE1000e:
		x := *d
		return &x
	case *types.VirtualVmxnet2:
		x := *d
		return &x
	case *types.VirtualPCNet32:
		x := *d
		return &x
	case *types.VirtualVmxnet3Vrdma:
		x := *d
		return &x
	case *types.VirtualSriovEthernetCard:
		x := *d
		return &x
	}
	return c
}

func setConnectable(d *types.VirtualDevice, connected bool) {
	c := types.VirtualDeviceConnectInfo{AllowGuestControl: true}
	if d.Connectable != nil {
		c = *d.Connectable
	}
	c.Connected, c.StartConnected = connected, connected
	d.Connectable = &c
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

// FindVM returns the VM called name in the folder at path and its markers,
// or "" if there is none.
func (o *Ops) FindVM(ctx context.Context, folderPath, name string) (string, map[string]string, error) {
	folder, err := o.folder(ctx, folderPath)
	if err != nil || folder == nil {
		return "", nil, classify(err)
	}
	ref, err := object.NewSearchIndex(o.c.Vim).FindChild(ctx, folder, name)
	if err != nil || ref == nil {
		return "", nil, classify(err)
	}
	markers, err := o.markers(ctx, ref.Reference())
	return ref.Reference().Value, markers, classify(err)
}

func (o *Ops) markers(ctx context.Context, ref types.ManagedObjectReference) (map[string]string, error) {
	var paths []string
	for _, k := range inventory.MarkerKeys {
		paths = append(paths, extraConfigPath(k))
	}
	var content []types.ObjectContent
	err := o.c.withSession(ctx, func() error {
		return property.DefaultCollector(o.c.Vim).RetrieveOne(ctx, ref, paths, &content)
	})
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, oc := range content {
		for _, p := range oc.PropSet {
			if ov := keyedOption(p.Val); ov != nil {
				out[ov.Key] = fmt.Sprint(ov.Value)
			}
		}
	}
	return out, nil
}

// Destroy powers the VM off if it is on and destroys it. A VM that is
// already gone is not an error.
func (o *Ops) Destroy(ctx context.Context, ref string) error {
	return classify(o.destroy(ctx, ref))
}

func (o *Ops) destroy(ctx context.Context, ref string) error {
	vm := o.vm(ref)
	state, err := vm.PowerState(ctx)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if state == types.VirtualMachinePowerStatePoweredOn || state == types.VirtualMachinePowerStateSuspended {
		task, err := vm.PowerOff(ctx)
		if err == nil {
			err = o.waitTask(ctx, task, "powerOff")
		}
		if err != nil && !isInvalidPowerState(err) {
			return fmt.Errorf("powering off %s: %w", ref, err)
		}
	}
	task, err := vm.Destroy(ctx)
	if err == nil {
		err = o.waitTask(ctx, task, "destroy")
	}
	if isNotFound(err) {
		return nil
	}
	return err
}

// Rename renames the VM.
func (o *Ops) Rename(ctx context.Context, ref, name string) error {
	task, err := o.vm(ref).Rename(ctx, name)
	if err == nil {
		err = o.waitTask(ctx, task, "rename")
	}
	return classify(err)
}

// Reconfigure sets the connection state of the VM's NICs (all of them when
// ch.Connect is set, else those in ch.Restore, by key) and extraConfig keys
// (an empty value removes a key).
func (o *Ops) Reconfigure(ctx context.Context, ref string, ch *cloud.VMChange) error {
	return classify(o.reconfigure(ctx, ref, ch.Connect, ch.Restore, ch.ExtraConfig))
}

// WaitGuest blocks until the VM's guest is ready as r says, or ctx ends
// (see WaitReady).
func (o *Ops) WaitGuest(ctx context.Context, vm string, r cloud.Ready) error {
	return classify(o.WaitReady(ctx, vm, ReadyCond{Tools: r.Tools, Key: r.Key, Value: r.Value}))
}

func (o *Ops) reconfigure(ctx context.Context, ref string, connect *bool, restore []inventory.NIC, extra map[string]string) error {
	vm := o.vm(ref)
	spec := types.VirtualMachineConfigSpec{}
	if connect != nil || len(restore) > 0 {
		devices, err := vm.Device(ctx)
		if err != nil {
			return err
		}
		want := map[int32]inventory.NIC{}
		for _, r := range restore {
			want[r.Key] = r
		}
		for _, c := range ethernetCards(devices) {
			card := copyCard(c)
			dev := &card.GetVirtualEthernetCard().VirtualDevice
			switch {
			case connect != nil:
				setConnectable(dev, *connect)
			default:
				st, ok := want[dev.Key]
				if !ok {
					continue
				}
				setConnectable(dev, st.Connected)
				dev.Connectable.StartConnected = st.StartConnected
			}
			spec.DeviceChange = append(spec.DeviceChange, &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationEdit, Device: card.(types.BaseVirtualDevice)})
		}
	}
	for _, k := range sortedKeys(extra) {
		spec.ExtraConfig = append(spec.ExtraConfig, &types.OptionValue{Key: k, Value: extra[k]})
	}
	if len(spec.DeviceChange) == 0 && len(spec.ExtraConfig) == 0 {
		return nil
	}
	task, err := vm.Reconfigure(ctx, spec)
	if err != nil {
		return err
	}
	return o.waitTask(ctx, task, "reconfigure")
}

// waitTask waits for a task with the shared poller (see taskPoller): one
// poll for every task in flight, not a property collector per task, and
// the wait survives a lost session or network. kind names the kind of
// task, whose durations the poller learns.
func (o *Ops) waitTask(ctx context.Context, t *object.Task, kind string) error {
	_, err := o.c.waitTask(ctx, t.Reference(), kind)
	return err
}

func isNotFound(err error) bool {
	if err == nil {
		return false
	}
	if soapFaultIs[types.ManagedObjectNotFound](err) {
		return true
	}
	return strings.Contains(err.Error(), "ManagedObjectNotFound") || strings.Contains(err.Error(), "has already been deleted")
}

func isInvalidPowerState(err error) bool {
	return err != nil && strings.Contains(err.Error(), "InvalidPowerState")
}

// WaitTasks waits until each task has ended (whatever its result). Tasks
// vCenter no longer knows are over. It is how a run waits out the tasks of a
// run that died before it reads the inventory.
func (c *Client) WaitTasks(ctx context.Context, refs []string) error {
	return c.waitEnded(ctx, refs)
}

// ResolveDatacenter returns the inventory path of the datacenter named name
// (a name or path; "" for the only one).
func (c *Client) ResolveDatacenter(ctx context.Context, name string) (string, error) {
	_, path, err := c.findDatacenter(ctx, name)
	return path, err
}

// classify wraps an error of a Cloud method in a *cloud.Fault that says
// whether retrying may help, the vSphere fault's name and whether a task
// ran to its end: the executor sees this, never govmomi's types.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var f *cloud.Fault
	if errors.As(err, &f) {
		return err
	}
	name := faultName(err)
	class := cloud.Permanent
	switch {
	case isNotFound(err):
		class = cloud.NotFound
	case transient(err, name):
		class = cloud.Transient
	}
	var te task.Error
	var pte *task.Error
	ended := errors.As(err, &te) || errors.As(err, &pte)
	var se *sentError
	var ne net.Error
	unanswered := errors.As(err, &se) && errors.As(err, &ne) && ne.Timeout()
	if name != "" && bareFaultText(err.Error(), name) {
		err = &detailedError{err: err, text: describeFault(err.Error(), name, vimFault(err))}
	}
	return &cloud.Fault{Class: class, Name: name, TaskEnded: ended, Unanswered: unanswered, Err: err}
}

// sentError is the error of a request that makes a change (it starts a
// task): if it is a timeout, the request went out and its answer did not
// come, and vCenter may carry it out all the same (cloud.Fault.Unanswered).
type sentError struct{ err error }

func (e *sentError) Error() string { return e.err.Error() }
func (e *sentError) Unwrap() error { return e.err }

// sent marks err as the error of a change request (see sentError).
func sent(err error) error {
	if err == nil {
		return nil
	}
	return &sentError{err}
}

// bareFaultText reports whether an error's text says nothing but the
// fault's type: vCenter (and vcsim) may send a fault without a message,
// which govmomi renders as "", "*types.InvalidArgument" or
// "ServerFaultCode: ".
func bareFaultText(text, name string) bool {
	t := strings.TrimSpace(text)
	if i := strings.LastIndex(t, ": "); i >= 0 && strings.HasSuffix(t[:i], "ServerFaultCode") {
		t = t[i+2:]
	}
	t = strings.TrimSuffix(strings.TrimSuffix(t, ":"), " ServerFaultCode")
	return t == "" || t == "ServerFaultCode" || t == name || t == "*types."+name || strings.HasSuffix(t, ": *types."+name) || strings.HasSuffix(t, ": "+name)
}

// describeFault names a message-less fault with the values it carries,
// e.g. "InvalidArgument: invalidProperty spec.name", after the text.
func describeFault(text, name string, f types.AnyType) string {
	var parts []string
	v := reflect.ValueOf(f)
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		v = v.Elem()
	}
	if v.Kind() == reflect.Struct {
		for i := 0; i < v.NumField(); i++ {
			fld := v.Type().Field(i)
			if fld.Anonymous || !fld.IsExported() {
				continue
			}
			val := v.Field(i)
			var s string
			switch {
			case val.Kind() == reflect.String:
				s = val.String()
			case val.Kind() >= reflect.Int && val.Kind() <= reflect.Int64 && val.Int() != 0:
				s = fmt.Sprint(val.Int())
			case val.Type() == reflect.TypeOf(types.ManagedObjectReference{}):
				s = val.Interface().(types.ManagedObjectReference).Value
			}
			if s != "" {
				parts = append(parts, strings.ToLower(fld.Name[:1])+fld.Name[1:]+" "+s)
			}
		}
	}
	d := name + ": vCenter gave no message"
	if len(parts) > 0 {
		d = name + ": " + strings.Join(parts, ", ")
	}
	if t := strings.TrimSpace(text); t != "" {
		return t + " (" + d + ")"
	}
	return d
}

// detailedError gives a message-less vSphere fault a text that says what
// it carries, keeping the fault reachable with errors.As.
type detailedError struct {
	err  error
	text string
}

func (e *detailedError) Error() string { return e.text }
func (e *detailedError) Unwrap() error { return e.err }

// vimFault returns the vSphere fault carried by err (a SOAP fault or a task
// error), or nil.
func vimFault(err error) types.AnyType {
	var te task.Error
	if errors.As(err, &te) && te.LocalizedMethodFault != nil {
		return te.LocalizedMethodFault.Fault
	}
	var pte *task.Error
	if errors.As(err, &pte) && pte.LocalizedMethodFault != nil {
		return pte.LocalizedMethodFault.Fault
	}
	// SOAP faults may be wrapped ("powering off vm-1: ...").
	for e := err; e != nil; e = errors.Unwrap(e) {
		if soap.IsSoapFault(e) {
			return soap.ToSoapFault(e).VimFault()
		}
		if soap.IsVimFault(e) {
			return soap.ToVimFault(e)
		}
	}
	return nil
}

// faultName returns the vSphere fault type of err, such as "DuplicateName",
// or "" when err is not a vSphere fault.
func faultName(err error) string {
	f := vimFault(err)
	if f == nil {
		return ""
	}
	t := reflect.TypeOf(f)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

// transientFaults are vSphere faults that may succeed when retried: the
// object was busy, a host or the network hiccupped, vCenter ran short.
var transientFaults = map[string]bool{
	"TaskInProgress":             true,
	"ResourceInUse":              true,
	"ConcurrentAccess":           true,
	"HostCommunication":          true,
	"HostNotReachable":           true,
	"NotAuthenticated":           true,
	"Timedout":                   true,
	"InsufficientResourcesFault": true,
}

// transient reports whether err (whose vSphere fault is name) is worth
// retrying: a transient vSphere fault or a network error (a deadline counts:
// context.DeadlineExceeded is a net.Error timeout). Faults about the request
// itself (DuplicateName, InvalidArgument, InvalidPowerState, NoPermission,
// ...) are not.
func transient(err error, name string) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if name != "" {
		return transientFaults[name]
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	return strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "connection refused")
}
