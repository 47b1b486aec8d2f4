package sim

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// Denied privileges (Options.DenyPrivileges).
//
// A denial takes a privilege from the user on an entity and everything
// below it, as a vCenter role without the privilege would, granted there:
// the AuthorizationManager reports the privilege missing
// (HasUserPrivilegeOnEntities, FetchUserPrivilegeOnEntities,
// HasPrivilegeOnEntities, HasPrivilegeOnEntity), and every method that
// needs it there fails with NoPermission naming the privilege and the
// object (see requiredPrivileges). Without a path the privilege is denied
// everywhere. Reads (System.View, System.Read) are never denied.

// denial is a privilege denied on an entity and its descendants; a zero
// entity means the root folder, everywhere.
type denial struct {
	priv   string
	entity types.ManagedObjectReference
}

// resolveDenials parses Options.DenyPrivileges ("PRIV" or "PRIV@PATH")
// against the inventory, once the seed exists.
func (s *Simulator) resolveDenials(ctx context.Context, c *vim25.Client, specs []string) error {
	if len(specs) == 0 {
		return nil
	}
	s.root = c.ServiceContent.RootFolder
	base := s.model.Service.Context
	auth := base.Map.Get(*c.ServiceContent.AuthorizationManager).(*simulator.AuthorizationManager)
	// vcsim's Admin role has every privilege it knows.
	known := object.AuthorizationRoleList(auth.RoleList).ByName("Admin").Privilege
	si := object.NewSearchIndex(c)
	for _, spec := range specs {
		priv, path, _ := strings.Cut(spec, "@")
		if !slices.Contains(known, priv) {
			return fmt.Errorf("sim: deny privilege %q: no such privilege (e.g. VirtualMachine.Provisioning.Clone, Folder.Create)", priv)
		}
		d := denial{priv: priv, entity: s.root}
		if path != "" {
			ref, err := si.FindByInventoryPath(ctx, path)
			if err != nil {
				return fmt.Errorf("sim: deny privilege %s: %w", spec, err)
			}
			if ref == nil {
				return fmt.Errorf("sim: deny privilege %s: no inventory object at %q (want e.g. /DC/vm/FOLDER or /DC/vm/FOLDER/VM)", spec, path)
			}
			d.entity = ref.Reference()
		}
		s.denials = append(s.denials, d)
	}
	s.model.Map().Put(&authManager{AuthorizationManager: auth, s: s})
	return nil
}

// missing reports whether priv is denied on ref (or an ancestor of it).
// It takes each ancestor's lock in turn, never two at once.
func (s *Simulator) missing(ctx *simulator.Context, priv string, ref types.ManagedObjectReference) bool {
	var on []types.ManagedObjectReference
	for _, d := range s.denials {
		if d.priv == priv {
			on = append(on, d.entity)
		}
	}
	if len(on) == 0 {
		return false
	}
	for seen := 0; seen < 100; seen++ {
		if slices.Contains(on, ref) {
			return true
		}
		obj, ok := ctx.Map.Get(ref).(mo.Entity)
		if !ok {
			return false
		}
		var parent *types.ManagedObjectReference
		ctx.WithLock(obj, func() { parent = obj.Entity().Parent })
		if parent == nil {
			return false
		}
		ref = *parent
	}
	return false
}

// required is a privilege a method needs on an object.
type required struct {
	priv string
	on   types.ManagedObjectReference
}

// checkPrivileges is dispatch's check of a call against the denials: the
// NoPermission fault of the first privilege the call needs and lacks.
func (s *Simulator) checkPrivileges(ctx *simulator.Context, m *simulator.Method) types.BaseMethodFault {
	for _, r := range s.requiredPrivileges(ctx, m) {
		if s.missing(ctx, r.priv, r.on) {
			on := r.on
			return &types.NoPermission{Object: &on, PrivilegeId: r.priv}
		}
	}
	return nil
}

// requiredPrivileges lists what method m needs, after the vSphere API
// reference's "Required privileges" of each method and the privileges
// table of docs/operations.md.
func (s *Simulator) requiredPrivileges(ctx *simulator.Context, m *simulator.Method) []required {
	this := m.This
	need := func(priv string, on types.ManagedObjectReference) required { return required{priv, on} }
	switch req := m.Body.(type) {
	case *types.InstantClone_Task:
		return instantClonePrivileges(ctx, this, req.Spec)
	case *types.Destroy_Task:
		switch this.Type {
		case "VirtualMachine":
			// Remove is checked on the VM and on its parent folder.
			out := []required{need("VirtualMachine.Inventory.Delete", this)}
			if p := parentOf(ctx, this); p != nil {
				out = append(out, need("VirtualMachine.Inventory.Delete", *p))
			}
			return out
		case "Folder":
			return []required{need("Folder.Delete", this)}
		}
	case *types.Rename_Task:
		switch this.Type {
		case "VirtualMachine":
			return []required{need("VirtualMachine.Config.Rename", this)}
		case "Folder":
			return []required{need("Folder.Rename", this)}
		}
	case *types.ReconfigVM_Task:
		return reconfigPrivileges(this, req.Spec)
	case *types.PowerOnVM_Task:
		return []required{need("VirtualMachine.Interact.PowerOn", this)}
	case *types.PowerOffVM_Task:
		return []required{need("VirtualMachine.Interact.PowerOff", this)}
	case *types.CreateFolder:
		return []required{need("Folder.Create", this)}
	case *types.CreateVM_Task:
		return []required{need("VirtualMachine.Inventory.Create", this)}
	case *types.SetCustomValue:
		return []required{need("Global.SetCustomField", this)}
	case *types.SetField:
		return []required{need("Global.SetCustomField", req.Entity)}
	case *types.AddCustomFieldDef, *types.RemoveCustomFieldDef:
		return []required{need("Global.ManageCustomFields", s.root)}
	}
	return nil
}

// instantClonePrivileges: VirtualMachine.Provisioning.Clone on the source;
// VirtualMachine.Inventory.CreateFromExisting and
// VirtualMachine.Interact.PowerOn on the target folder;
// Resource.AssignVMToPool on the pool; Datastore.AllocateSpace on the
// datastore (the spec's, else the source's).
func instantClonePrivileges(ctx *simulator.Context, src types.ManagedObjectReference, spec types.VirtualMachineInstantCloneSpec) []required {
	out := []required{{"VirtualMachine.Provisioning.Clone", src}}
	vm, ok := ctx.Map.Get(src).(*simulator.VirtualMachine)
	if !ok {
		return out
	}
	loc := spec.Location
	folder, pool, ds := loc.Folder, loc.Pool, loc.Datastore
	ctx.WithLock(vm, func() {
		if pool == nil && vm.ResourcePool != nil {
			p := *vm.ResourcePool
			pool = &p
		}
		if ds == nil && len(vm.Datastore) > 0 {
			d := vm.Datastore[0]
			ds = &d
		}
	})
	if folder == nil {
		if dc := datacenterOf(ctx, vm); dc != nil {
			f := dc.VmFolder
			folder = &f
		}
	}
	if folder != nil {
		out = append(out, required{"VirtualMachine.Inventory.CreateFromExisting", *folder}, required{"VirtualMachine.Interact.PowerOn", *folder})
	}
	if pool != nil {
		out = append(out, required{"Resource.AssignVMToPool", *pool})
	}
	if ds != nil {
		out = append(out, required{"Datastore.AllocateSpace", *ds})
	}
	return out
}

// reconfigPrivileges: what a reconfiguration changes, each its
// VirtualMachine.Config privilege; a device's connection state also needs
// VirtualMachine.Interact.DeviceConnection, a NIC's network
// Network.Assign (on the VM here: the network is named by backing).
func reconfigPrivileges(vm types.ManagedObjectReference, spec types.VirtualMachineConfigSpec) []required {
	var out []required
	add := func(priv string) {
		if !slices.ContainsFunc(out, func(r required) bool { return r.priv == priv }) {
			out = append(out, required{priv, vm})
		}
	}
	if spec.Name != "" {
		add("VirtualMachine.Config.Rename")
	}
	if spec.Annotation != "" {
		add("VirtualMachine.Config.Annotation")
	}
	if len(spec.ExtraConfig) > 0 {
		add("VirtualMachine.Config.AdvancedConfig")
	}
	if spec.NumCPUs != 0 {
		add("VirtualMachine.Config.CPUCount")
	}
	if spec.MemoryMB != 0 {
		add("VirtualMachine.Config.Memory")
	}
	for _, c := range spec.DeviceChange {
		dc := c.GetVirtualDeviceConfigSpec()
		switch dc.Operation {
		case types.VirtualDeviceConfigSpecOperationEdit:
			add("VirtualMachine.Config.EditDevice")
		default:
			add("VirtualMachine.Config.AddRemoveDevice")
		}
		if dc.Device != nil && dc.Device.GetVirtualDevice().Connectable != nil {
			add("VirtualMachine.Interact.DeviceConnection")
		}
	}
	return out
}

// parentOf returns ref's parent, read under ref's lock.
func parentOf(ctx *simulator.Context, ref types.ManagedObjectReference) *types.ManagedObjectReference {
	obj, ok := ctx.Map.Get(ref).(mo.Entity)
	if !ok {
		return nil
	}
	var p *types.ManagedObjectReference
	ctx.WithLock(obj, func() {
		if e := obj.Entity().Parent; e != nil {
			c := *e
			p = &c
		}
	})
	return p
}

// authManager is vcsim's AuthorizationManager reporting the denied
// privileges missing. It replaces the singleton in the registry (vcsim
// never type-asserts it), as provChecker does.
type authManager struct {
	*simulator.AuthorizationManager
	s *Simulator
}

// HasUserPrivilegeOnEntities implements AuthorizationManager's.
func (m *authManager) HasUserPrivilegeOnEntities(ctx *simulator.Context, req *types.HasUserPrivilegeOnEntities) soap.HasFault {
	return &methods.HasUserPrivilegeOnEntitiesBody{Res: &types.HasUserPrivilegeOnEntitiesResponse{
		Returnval: m.availability(ctx, req.Entities, req.PrivId)}}
}

// HasPrivilegeOnEntities implements AuthorizationManager's.
func (m *authManager) HasPrivilegeOnEntities(ctx *simulator.Context, req *types.HasPrivilegeOnEntities) soap.HasFault {
	return &methods.HasPrivilegeOnEntitiesBody{Res: &types.HasPrivilegeOnEntitiesResponse{
		Returnval: m.availability(ctx, req.Entity, req.PrivId)}}
}

// HasPrivilegeOnEntity implements AuthorizationManager's.
func (m *authManager) HasPrivilegeOnEntity(ctx *simulator.Context, req *types.HasPrivilegeOnEntity) soap.HasFault {
	granted := make([]bool, len(req.PrivId))
	for i, p := range req.PrivId {
		granted[i] = !m.s.missing(ctx, p, req.Entity)
	}
	return &methods.HasPrivilegeOnEntityBody{Res: &types.HasPrivilegeOnEntityResponse{Returnval: granted}}
}

// FetchUserPrivilegeOnEntities implements AuthorizationManager's: the
// Admin role's privileges (vcsim's answer) less the denied ones.
func (m *authManager) FetchUserPrivilegeOnEntities(ctx *simulator.Context, req *types.FetchUserPrivilegeOnEntities) soap.HasFault {
	admin := object.AuthorizationRoleList(m.RoleList).ByName("Admin").Privilege
	var out []types.UserPrivilegeResult
	for _, e := range req.Entities {
		var privs []string
		for _, p := range admin {
			if !m.s.missing(ctx, p, e) {
				privs = append(privs, p)
			}
		}
		out = append(out, types.UserPrivilegeResult{Entity: e, Privileges: privs})
	}
	return &methods.FetchUserPrivilegeOnEntitiesBody{Res: &types.FetchUserPrivilegeOnEntitiesResponse{Returnval: out}}
}

func (m *authManager) availability(ctx *simulator.Context, entities []types.ManagedObjectReference, privs []string) []types.EntityPrivilege {
	var out []types.EntityPrivilege
	for _, e := range entities {
		ep := types.EntityPrivilege{Entity: e}
		for _, p := range privs {
			ep.PrivAvailability = append(ep.PrivAvailability, types.PrivilegeAvailability{PrivId: p, IsGranted: !m.s.missing(ctx, p, e)})
		}
		out = append(out, ep)
	}
	return out
}
