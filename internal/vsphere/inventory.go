package vsphere

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/iclone-plan/iclone-plan/internal/inventory"
)

// vmProps are the properties read of every VM in the first pass: what the
// planner needs of any VM but its devices, the configuration version (see
// DeviceCache) and the ownership marker, read with a keyed path
// (config.extraConfig["iclone.plan"]) so that a VM's whole extraConfig
// never crosses the wire.
var vmProps = []string{
	"name", "parent", "resourcePool",
	"runtime.host", "runtime.powerState", "runtime.instantCloneFrozen",
	"config.template", "config.instanceUuid", "config.changeVersion",
	extraConfigPath(inventory.MarkerPlan),
}

// vmDetailProps are read in the second pass, of the VMs whose devices are
// needed afresh: the devices and every marker.
var vmDetailProps = func() []string {
	p := []string{"config.hardware.device"}
	for _, k := range inventory.MarkerKeys {
		p = append(p, extraConfigPath(k))
	}
	return p
}()

func extraConfigPath(key string) string { return `config.extraConfig["` + key + `"]` }

// viewTypes are the managed object types read from the datacenter's
// container view, with the properties wanted of each.
var viewTypes = []types.PropertySpec{
	{Type: "VirtualMachine", PathSet: vmProps},
	{Type: "Folder", PathSet: []string{"name", "parent"}},
	{Type: "HostSystem", PathSet: []string{"name", "runtime.connectionState", "runtime.inMaintenanceMode"}},
	{Type: "Network", PathSet: []string{"name"}},
	{Type: "Datastore", PathSet: []string{"name"}},
	{Type: "ComputeResource", PathSet: []string{"name", "parent"}},
	{Type: "ResourcePool", PathSet: []string{"name", "parent"}},
}

// ReadOptions tune ReadInventoryWith.
type ReadOptions struct {
	// Fresh, if not nil, returns (given the datacenter's inventory path)
	// the inventory paths of VMs whose devices are always read from
	// vCenter: a plan's sources, whose delta chains grow with every clone.
	Fresh func(datacenter string) []string
	// Cache, if not nil, supplies the devices of VMs that carry no
	// iclone-plan marker and whose configuration version is unchanged, and
	// is updated with those read. The caller saves it.
	Cache *DeviceCache
	// ExtraConfigKeys are extraConfig keys read, besides the markers, with
	// the devices (keyed paths, so only these keys cross the wire); they
	// land in inventory.VM.ExtraConfig.
	ExtraConfigKeys []string
}

// ReadInventory reads the datacenter's inventory, every VM's devices from
// vCenter: ReadInventoryWith without a cache.
func (c *Client) ReadInventory(ctx context.Context, datacenter string) (*inventory.Inventory, error) {
	return c.ReadInventoryWith(ctx, datacenter, ReadOptions{})
}

// ReadInventoryWith reads the datacenter's VMs, folders, hosts, networks and
// datastores with one container view and two paged property-collector
// retrievals, so the number of SOAP round trips does not grow with the
// number of VMs: five in all (datacenter lookup, view creation, the two
// retrievals, view destruction), plus continuation pages if vCenter pages
// a result. The first retrieval reads every object but the VMs' devices;
// the second the devices and markers of the VMs that need them: those with
// an iclone-plan marker, those opts.Fresh names, and the others unless
// opts.Cache holds them at their current configuration version.
//
// datacenter is a name or inventory path; empty means the only datacenter.
func (c *Client) ReadInventoryWith(ctx context.Context, datacenter string, opts ReadOptions) (*inventory.Inventory, error) {
	dcRef, dcPath, err := c.findDatacenter(ctx, datacenter)
	if err != nil {
		return nil, err
	}
	readAt := time.Now()

	content := c.Vim.ServiceContent
	kinds := make([]string, len(viewTypes))
	for i, t := range viewTypes {
		kinds[i] = t.Type
	}
	view, err := methods.CreateContainerView(ctx, c.Vim, &types.CreateContainerView{
		This:      *content.ViewManager,
		Container: dcRef,
		Type:      kinds,
		Recursive: true,
	})
	if err != nil {
		return nil, fmt.Errorf("reading the inventory of %s: %w", dcPath, err)
	}
	defer func() {
		// A view lives as long as the session; destroy it so long-lived
		// sessions don't accumulate them.
		_, _ = methods.DestroyView(context.WithoutCancel(ctx), c.Vim, &types.DestroyView{This: view.Returnval})
	}()

	objs, err := c.retrieve(ctx, types.RetrievePropertiesEx{
		This: content.PropertyCollector,
		SpecSet: []types.PropertyFilterSpec{{
			ObjectSet: []types.ObjectSpec{{
				Obj:  view.Returnval,
				Skip: types.NewBool(true),
				SelectSet: []types.BaseSelectionSpec{&types.TraversalSpec{
					Type: "ContainerView",
					Path: "view",
				}},
			}},
			PropSet: viewTypes,
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("reading the inventory of %s: %w", dcPath, err)
	}
	b := buildInventory(dcRef, dcPath, readAt, objs)
	if err := c.readDetails(ctx, b, opts); err != nil {
		return nil, fmt.Errorf("reading the inventory of %s: %w", dcPath, err)
	}
	return b.inv, nil
}

// readDetails reads the devices and markers of the VMs that need them (see
// ReadInventoryWith) in one retrieval and takes the others' devices from
// the cache. A VM removed since the first pass is dropped.
func (c *Client) readDetails(ctx context.Context, b *built, opts ReadOptions) error {
	if opts.Cache != nil {
		opts.Cache.begin(c.Vim.ServiceContent.About.InstanceUuid, b.inv.Datacenter+"|"+b.dcRef.Value)
	}
	b.extraKeys = opts.ExtraConfigKeys
	need, cached := b.fromCache(opts)
	gone, err := c.readNeeded(ctx, b, need, func(vm *inventory.VM) {
		if cached[vm.Ref] {
			opts.Cache.store(vm, b.versions[vm.Ref])
		}
	})
	if err != nil {
		return err
	}
	if len(gone) > 0 {
		b.inv.VMs = slices.DeleteFunc(b.inv.VMs, func(vm inventory.VM) bool { return gone[vm.Ref] })
	}
	return nil
}

// fromCache fills in, from opts.Cache, the devices of the VMs it holds at
// their current configuration version, and returns the VMs whose details
// must be read, and the refs of the VMs the cache may hold (no marker, not
// fresh); the cache drops the others.
func (b *built) fromCache(opts ReadOptions) (need map[types.ManagedObjectReference]*inventory.VM, cacheable map[string]bool) {
	fresh := map[string]bool{}
	if opts.Fresh != nil {
		for _, p := range opts.Fresh(b.inv.Datacenter) {
			fresh[p] = true
		}
	}
	cache := opts.Cache
	need = map[types.ManagedObjectReference]*inventory.VM{}
	cacheable = make(map[string]bool, len(b.inv.VMs))
	for i := range b.inv.VMs {
		vm := &b.inv.VMs[i]
		if cache != nil && len(vm.Markers) == 0 && !fresh[vm.Path] {
			cacheable[vm.Ref] = true
			if cache.lookup(vm, b.versions[vm.Ref]) {
				continue
			}
		}
		need[types.ManagedObjectReference{Type: "VirtualMachine", Value: vm.Ref}] = vm
	}
	if cache != nil {
		cache.keep(cacheable)
	}
	return need, cacheable
}

// readNeeded reads the devices and markers of the VMs need names in one
// retrieval, calling read for each VM read, and returns the refs of those
// that are gone. vCenter refuses the whole retrieval for a VM removed
// since the first pass: it is read again without it.
func (c *Client) readNeeded(ctx context.Context, b *built, need map[types.ManagedObjectReference]*inventory.VM, read func(*inventory.VM)) (gone map[string]bool, err error) {
	gone = map[string]bool{}
	for len(need) > 0 {
		set := make([]types.ObjectSpec, 0, len(need))
		for ref := range need {
			set = append(set, types.ObjectSpec{Obj: ref, Skip: types.NewBool(false)})
		}
		objs, err := c.retrieve(ctx, types.RetrievePropertiesEx{
			This: c.Vim.ServiceContent.PropertyCollector,
			SpecSet: []types.PropertyFilterSpec{{
				ObjectSet: set,
				PropSet:   []types.PropertySpec{{Type: "VirtualMachine", PathSet: b.detailProps()}},
			}},
		})
		if ref, ok := missingObject(err); ok && need[ref] != nil {
			gone[ref.Value] = true
			delete(need, ref)
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			vm := need[o.Obj]
			if vm == nil {
				continue
			}
			if err := b.applyDetails(vm, o); err != nil {
				return nil, err
			}
			delete(need, o.Obj)
			read(vm)
		}
		// Objects vCenter did not return are gone too.
		for ref := range need {
			gone[ref.Value] = true
		}
		break
	}
	return gone, nil
}

// detailProps are the properties of the second pass: vmDetailProps and the
// extraConfig keys asked for.
func (b *built) detailProps() []string {
	props := slices.Clone(vmDetailProps)
	for _, k := range b.extraKeys {
		if !slices.Contains(inventory.MarkerKeys, k) {
			props = append(props, extraConfigPath(k))
		}
	}
	return props
}

// applyDetails sets vm's devices and markers from its second-pass
// properties (vmDetailProps).
func (b *built) applyDetails(vm *inventory.VM, o types.ObjectContent) error {
	for _, m := range o.MissingSet {
		if m.Path == "config.hardware.device" {
			// Never plan without a VM's MACs.
			return fmt.Errorf("vCenter did not return the devices of VM %s (%s): %s", vm.Path, vm.Ref, m.Fault.LocalizedMessage)
		}
	}
	vm.Markers, vm.ExtraConfig = nil, nil
	if len(b.extraKeys) > 0 {
		vm.ExtraConfig = map[string]string{}
	}
	for _, p := range o.PropSet {
		if p.Name == "config.hardware.device" {
			if d, ok := p.Val.(types.ArrayOfVirtualDevice); ok {
				readDevices(vm, d.VirtualDevice, b.netNames)
			}
		} else {
			addMarker(vm, p.Val)
		}
	}
	return nil
}

// retrieve is a paged RetrievePropertiesEx that logs in again, once, when
// vCenter answers for want of a session per object (NotAuthenticated in the
// missing sets) rather than with a fault, so that no object comes back
// without its properties.
func (c *Client) retrieve(ctx context.Context, req types.RetrievePropertiesEx) ([]types.ObjectContent, error) {
	objs, err := mo.RetrievePropertiesEx(ctx, c.Vim, req)
	if err == nil && notAuthenticated(objs) {
		if err := c.relogin(ctx); err != nil {
			return nil, err
		}
		objs, err = mo.RetrievePropertiesEx(ctx, c.Vim, req)
		if err == nil && notAuthenticated(objs) {
			return nil, errors.New("vCenter refused the property read: not authenticated, even after logging in again")
		}
	}
	return objs, err
}

// built is an inventory from the first pass, with what the second needs.
type built struct {
	inv      *inventory.Inventory
	dcRef    types.ManagedObjectReference
	netNames map[string]string // portgroup key (ref value) -> name
	versions map[string]string // VM ref value -> config.changeVersion
	// extraKeys are the extraConfig keys read besides the markers
	// (ReadOptions.ExtraConfigKeys).
	extraKeys []string
}

// buildInventory turns the retrieved object contents into an Inventory:
// it sorts the objects by kind, then gives folders, pools and VMs their
// inventory paths from the folder tree.
func buildInventory(dcRef types.ManagedObjectReference, dcPath string, readAt time.Time, objs []types.ObjectContent) *built {
	b := &built{
		inv: &inventory.Inventory{
			Datacenter: dcPath,
			Hosts:      map[string]inventory.Host{},
			Networks:   map[string]bool{},
			Datastores: map[string]bool{},
			Folders:    map[string]bool{},
			Pools:      map[string]bool{},
			PoolPaths:  map[string]string{},
			ReadAt:     readAt,
		},
		dcRef:    dcRef,
		netNames: map[string]string{},
		versions: map[string]string{},
	}
	tree := newFolderTree(dcRef, dcPath)
	var vms []types.ObjectContent
	for _, o := range objs {
		switch o.Obj.Type {
		case "VirtualMachine":
			vms = append(vms, o)
		case "Folder", "ComputeResource", "ClusterComputeResource", "ResourcePool":
			tree.add(o)
		case "HostSystem":
			h := readHost(o)
			b.inv.Hosts[h.Ref] = h
		case "Datastore":
			b.inv.Datastores[propString(o, "name")] = true
		case "Network", "DistributedVirtualPortgroup", "OpaqueNetwork":
			name := propString(o, "name")
			b.inv.Networks[name] = true
			b.netNames[o.Obj.Value] = name
		}
	}
	b.addFolders(tree)
	b.addVMs(tree, vms)
	return b
}

// addFolders records the paths of the VM folders and resource pools.
func (b *built) addFolders(tree *folderTree) {
	for ref := range tree.nodes {
		if p := tree.path(ref); ref.Type == "Folder" && strings.HasPrefix(p, b.inv.Datacenter+"/vm") {
			b.inv.Folders[p] = true
		}
	}
	for _, ref := range tree.pools {
		if p := tree.path(ref); p != "" {
			b.inv.Pools[p] = true
			b.inv.PoolPaths[ref.Value] = p
		}
	}
}

// addVMs records the VMs, sorted by inventory path, and their
// configuration versions.
func (b *built) addVMs(tree *folderTree, vms []types.ObjectContent) {
	b.inv.VMs = make([]inventory.VM, 0, len(vms))
	for _, o := range vms {
		vm, parent, version := readVM(o)
		vm.Folder = tree.path(parent)
		vm.Path = vm.Folder + "/" + vm.Name
		b.versions[vm.Ref] = version
		b.inv.VMs = append(b.inv.VMs, vm)
	}
	sort.Slice(b.inv.VMs, func(i, j int) bool { return b.inv.VMs[i].Path < b.inv.VMs[j].Path })
}

// readHost reads a HostSystem's properties (see viewTypes).
func readHost(o types.ObjectContent) inventory.Host {
	h := inventory.Host{Ref: o.Obj.Value}
	for _, p := range o.PropSet {
		switch p.Name {
		case "name":
			h.Name, _ = p.Val.(string)
		case "runtime.connectionState":
			h.ConnectionState = fmt.Sprint(p.Val)
		case "runtime.inMaintenanceMode":
			h.InMaintenanceMode, _ = p.Val.(bool)
		}
	}
	return h
}

// readVM reads a VM's first-pass properties (vmProps): the VM without its
// folder and path, its parent folder and its configuration version.
func readVM(o types.ObjectContent) (vm inventory.VM, parent types.ManagedObjectReference, changeVersion string) {
	vm.Ref = o.Obj.Value
	for _, p := range o.PropSet {
		switch p.Name {
		case "name":
			vm.Name, _ = p.Val.(string)
		case "parent":
			parent, _ = p.Val.(types.ManagedObjectReference)
		case "resourcePool":
			if r, ok := p.Val.(types.ManagedObjectReference); ok {
				vm.PoolRef = r.Value
			}
		case "runtime.host":
			if r, ok := p.Val.(types.ManagedObjectReference); ok {
				vm.HostRef = r.Value
			}
		case "runtime.powerState":
			vm.PowerState = fmt.Sprint(p.Val)
		case "runtime.instantCloneFrozen":
			vm.Frozen, _ = p.Val.(bool)
		case "config.template":
			vm.Template, _ = p.Val.(bool)
		case "config.instanceUuid":
			vm.InstanceUUID, _ = p.Val.(string)
		case "config.changeVersion":
			changeVersion, _ = p.Val.(string)
		default:
			addMarker(&vm, p.Val)
		}
	}
	return vm, parent, changeVersion
}

// folderTree holds the named nodes whose parent chains give inventory
// paths: folders, compute resources and resource pools.
type folderTree struct {
	nodes map[types.ManagedObjectReference]treeNode
	pools []types.ManagedObjectReference
	paths map[types.ManagedObjectReference]string // memoized; the datacenter's is known
}

type treeNode struct {
	name   string
	parent types.ManagedObjectReference
}

func newFolderTree(dcRef types.ManagedObjectReference, dcPath string) *folderTree {
	return &folderTree{nodes: map[types.ManagedObjectReference]treeNode{}, paths: map[types.ManagedObjectReference]string{dcRef: dcPath}}
}

func (t *folderTree) add(o types.ObjectContent) {
	var n treeNode
	for _, p := range o.PropSet {
		switch p.Name {
		case "name":
			n.name, _ = p.Val.(string)
		case "parent":
			n.parent, _ = p.Val.(types.ManagedObjectReference)
		}
	}
	t.nodes[o.Obj] = n
	if o.Obj.Type == "ResourcePool" {
		t.pools = append(t.pools, o.Obj)
	}
}

// path is ref's inventory path, "" if its parent chain does not end at the
// datacenter.
func (t *folderTree) path(ref types.ManagedObjectReference) string { return t.pathAt(ref, 0) }

func (t *folderTree) pathAt(ref types.ManagedObjectReference, depth int) string {
	if p, ok := t.paths[ref]; ok {
		return p
	}
	n, ok := t.nodes[ref]
	if !ok || depth > 256 {
		return ""
	}
	parent := t.pathAt(n.parent, depth+1)
	if parent == "" {
		return ""
	}
	p := parent + "/" + n.name
	t.paths[ref] = p
	return p
}

// addMarker records the marker a keyed extraConfig path retrieved (val),
// if it retrieved one; another key asked for goes to vm.ExtraConfig.
func addMarker(vm *inventory.VM, val any) {
	if ov := keyedOption(val); ov != nil {
		if !slices.Contains(inventory.MarkerKeys, ov.Key) {
			if vm.ExtraConfig == nil {
				vm.ExtraConfig = map[string]string{}
			}
			vm.ExtraConfig[ov.Key] = fmt.Sprint(ov.Value)
			return
		}
		if vm.Markers == nil {
			vm.Markers = map[string]string{}
		}
		vm.Markers[ov.Key] = fmt.Sprint(ov.Value)
	}
}

// keyedOption returns the OptionValue a keyed extraConfig path
// (config.extraConfig["key"]) retrieves, or nil.
func keyedOption(val any) *types.OptionValue {
	switch v := val.(type) {
	case types.OptionValue:
		return &v
	case types.BaseOptionValue:
		return v.GetOptionValue()
	}
	return nil
}

func propString(o types.ObjectContent, name string) string {
	for _, p := range o.PropSet {
		if p.Name == name {
			s, _ := p.Val.(string)
			return s
		}
	}
	return ""
}

// readDevices extracts NICs, serial ports and disk chain depths. Adapters
// and ports are numbered by device key order, as the vSphere client labels
// them ("Network adapter 1", "Serial port 1").
func readDevices(vm *inventory.VM, devices []types.BaseVirtualDevice, netNames map[string]string) {
	sorted := append([]types.BaseVirtualDevice(nil), devices...)
	sort.SliceStable(sorted, func(i, j int) bool {
		return sorted[i].GetVirtualDevice().Key < sorted[j].GetVirtualDevice().Key
	})
	for _, d := range sorted {
		switch dev := d.(type) {
		case types.BaseVirtualEthernetCard:
			card := dev.GetVirtualEthernetCard()
			nic := inventory.NIC{
				Adapter:     len(vm.NICs) + 1,
				Key:         card.Key,
				MAC:         strings.ToLower(card.MacAddress),
				AddressType: card.AddressType,
			}
			if c := card.Connectable; c != nil {
				nic.Connected = c.Connected
				nic.StartConnected = c.StartConnected
			}
			switch b := card.Backing.(type) {
			case *types.VirtualEthernetCardNetworkBackingInfo:
				nic.Network = b.DeviceName
			case *types.VirtualEthernetCardDistributedVirtualPortBackingInfo:
				nic.Network = netNames[b.Port.PortgroupKey]
			case *types.VirtualEthernetCardOpaqueNetworkBackingInfo:
				nic.Network = b.OpaqueNetworkId
			}
			vm.NICs = append(vm.NICs, nic)
		case *types.VirtualSerialPort:
			sp := inventory.SerialPort{Port: len(vm.Serial) + 1, Key: dev.Key}
			if b, ok := dev.Backing.(*types.VirtualSerialPortFileBackingInfo); ok {
				sp.File = b.FileName
			}
			vm.Serial = append(vm.Serial, sp)
		case *types.VirtualDisk:
			vm.DiskChainDepth = append(vm.DiskChainDepth, chainDepth(dev.Backing))
		}
	}
}

// chainDepth counts the delta disks of a backing chain: the parents of the
// disk's backing, 0 for a flat disk.
func chainDepth(b types.BaseVirtualDeviceBackingInfo) int {
	n := -1
	for b != nil && n < 10000 {
		n++
		switch x := b.(type) {
		case *types.VirtualDiskFlatVer2BackingInfo:
			if x.Parent == nil {
				return n
			}
			b = x.Parent
		case *types.VirtualDiskSparseVer2BackingInfo:
			if x.Parent == nil {
				return n
			}
			b = x.Parent
		case *types.VirtualDiskSeSparseBackingInfo:
			if x.Parent == nil {
				return n
			}
			b = x.Parent
		default:
			return n
		}
	}
	return max(n, 0)
}

// findDatacenter resolves a datacenter name or path in one round trip. With
// an empty name it lists the datacenters and requires there to be one.
func (c *Client) findDatacenter(ctx context.Context, name string) (types.ManagedObjectReference, string, error) {
	if name != "" {
		path := name
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		res, err := methods.FindByInventoryPath(ctx, c.Vim, &types.FindByInventoryPath{
			This:          *c.Vim.ServiceContent.SearchIndex,
			InventoryPath: strings.TrimPrefix(path, "/"),
		})
		if err != nil {
			return types.ManagedObjectReference{}, "", fmt.Errorf("looking up datacenter %q: %w", name, err)
		}
		if res.Returnval != nil && res.Returnval.Type == "Datacenter" {
			return *res.Returnval, path, nil
		}
	}
	dcs, err := c.listDatacenters(ctx)
	if err != nil {
		return types.ManagedObjectReference{}, "", err
	}
	var names []string
	for path, ref := range dcs {
		if name == "" && len(dcs) == 1 {
			return ref, path, nil
		}
		names = append(names, path)
	}
	sort.Strings(names)
	switch {
	case len(dcs) == 0:
		return types.ManagedObjectReference{}, "", fmt.Errorf("vCenter %s has no datacenter", c.host)
	case name == "":
		return types.ManagedObjectReference{}, "", fmt.Errorf("vCenter %s has %d datacenters (%s): name one with `datacenter:` in the plan or GOVC_DATACENTER", c.host, len(dcs), strings.Join(names, ", "))
	default:
		return types.ManagedObjectReference{}, "", fmt.Errorf("datacenter %q not found on vCenter %s; it has: %s", name, c.host, strings.Join(names, ", "))
	}
}

// listDatacenters returns every datacenter by inventory path, in one
// property-collector traversal from the root folder.
func (c *Client) listDatacenters(ctx context.Context) (map[string]types.ManagedObjectReference, error) {
	root := c.Vim.ServiceContent.RootFolder
	objs, err := mo.RetrievePropertiesEx(ctx, c.Vim, types.RetrievePropertiesEx{
		This: c.Vim.ServiceContent.PropertyCollector,
		SpecSet: []types.PropertyFilterSpec{{
			ObjectSet: []types.ObjectSpec{{
				Obj: root,
				SelectSet: []types.BaseSelectionSpec{
					&types.TraversalSpec{
						SelectionSpec: types.SelectionSpec{Name: "folders"},
						Type:          "Folder",
						Path:          "childEntity",
						SelectSet:     []types.BaseSelectionSpec{&types.SelectionSpec{Name: "folders"}},
					},
				},
			}},
			PropSet: []types.PropertySpec{
				{Type: "Folder", PathSet: []string{"name", "parent"}},
				{Type: "Datacenter", PathSet: []string{"name", "parent"}},
			},
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("listing datacenters: %w", err)
	}
	type node struct {
		name   string
		parent *types.ManagedObjectReference
	}
	nodes := map[types.ManagedObjectReference]node{}
	for _, o := range objs {
		n := node{name: propString(o, "name")}
		for _, p := range o.PropSet {
			if p.Name == "parent" {
				if r, ok := p.Val.(types.ManagedObjectReference); ok {
					n.parent = &r
				}
			}
		}
		nodes[o.Obj] = n
	}
	out := map[string]types.ManagedObjectReference{}
	for ref := range nodes {
		if ref.Type != "Datacenter" {
			continue
		}
		var parts []string
		for r, depth := ref, 0; r != root && depth < 256; depth++ {
			n, ok := nodes[r]
			if !ok || n.parent == nil {
				break
			}
			parts = append([]string{n.name}, parts...)
			r = *n.parent
		}
		out["/"+strings.Join(parts, "/")] = ref
	}
	return out, nil
}
