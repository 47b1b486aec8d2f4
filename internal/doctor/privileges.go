package doctor

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/iclone-plan/iclone-plan/internal/plan"
	"github.com/iclone-plan/iclone-plan/internal/vsphere"
)

// privilegeNames are the vSphere client's names of the privileges in the
// table of docs/operations.md, "vSphere privileges".
var privilegeNames = map[string]string{
	"System.View":                                 "System > View",
	"System.Read":                                 "System > Read",
	"VirtualMachine.Provisioning.Clone":           "Provisioning > Clone virtual machine",
	"VirtualMachine.Inventory.CreateFromExisting": "Edit inventory > Create from existing",
	"VirtualMachine.Inventory.Delete":             "Edit inventory > Remove",
	"VirtualMachine.Interact.PowerOn":             "Interaction > Power on",
	"VirtualMachine.Interact.PowerOff":            "Interaction > Power off",
	"VirtualMachine.Interact.DeviceConnection":    "Interaction > Device connection",
	"VirtualMachine.Config.EditDevice":            "Change configuration > Modify device settings",
	"VirtualMachine.Config.AdvancedConfig":        "Change configuration > Advanced configuration",
	"VirtualMachine.Config.Rename":                "Change configuration > Rename virtual machine",
	"Resource.AssignVMToPool":                     "Resource > Assign virtual machine to resource pool",
	"Datastore.AllocateSpace":                     "Datastore > Allocate space",
	"Network.Assign":                              "Network > Assign network",
	"Folder.Create":                               "Folder > Create folder",
	"Folder.Delete":                               "Folder > Delete folder",
	"Global.ManageCustomFields":                   "Global > Manage custom attributes",
	"Global.SetCustomField":                       "Global > Set custom attribute",
}

// need is the privileges the plan needs on one object, and why.
type need struct {
	ref   types.ManagedObjectReference
	path  string
	privs []string
	why   []string
}

// needs collects, per object, what the table of docs/operations.md says.
type needs struct {
	list []*need
}

func (n *needs) add(ref types.ManagedObjectReference, path, why string, privs ...string) {
	for _, x := range n.list {
		if x.ref == ref {
			for _, p := range privs {
				if !slices.Contains(x.privs, p) {
					x.privs = append(x.privs, p)
				}
			}
			if !slices.Contains(x.why, why) {
				x.why = append(x.why, why)
			}
			return
		}
	}
	n.list = append(n.list, &need{ref: ref, path: path, privs: slices.Clone(privs), why: []string{why}})
}

// clonePrivileges are what the clones need, granted on their folder (the
// clones inherit them): making, reconfiguring, renaming, destroying them.
var clonePrivileges = []string{
	"VirtualMachine.Inventory.CreateFromExisting", "VirtualMachine.Interact.PowerOn",
	"VirtualMachine.Interact.PowerOff", "VirtualMachine.Inventory.Delete",
	"VirtualMachine.Interact.DeviceConnection", "VirtualMachine.Config.EditDevice",
	"VirtualMachine.Config.AdvancedConfig", "VirtualMachine.Config.Rename",
}

// checkPrivileges asks the AuthorizationManager whether the session's user
// holds every privilege the plan needs, on every object it touches.
func (d *doctor) checkPrivileges(ctx context.Context) {
	var n needs
	dc := d.dcRef(ctx)
	n.add(dc, d.dcPath, "read the inventory", "System.View", "System.Read")
	for _, s := range d.sources {
		if s.vm == nil {
			continue
		}
		ref := types.ManagedObjectReference{Type: "VirtualMachine", Value: s.vm.Ref}
		n.add(ref, s.path, "source of group "+groupNames(s.groups), "VirtualMachine.Provisioning.Clone")
		for i, ds := range s.datastores {
			n.add(ds, "datastore "+s.dsNames[i], "the delta disks of clones of "+s.path, "Datastore.AllocateSpace")
		}
		if s.vm.PoolRef != "" {
			pool := types.ManagedObjectReference{Type: "ResourcePool", Value: s.vm.PoolRef}
			for _, g := range s.groups {
				if g.ResourcePool == "" {
					n.add(pool, "the resource pool of "+s.path, "clones of group "+g.Name, "Resource.AssignVMToPool")
				}
			}
		}
	}
	for _, f := range d.folders {
		exists, missing := d.nearestFolder(ctx, f)
		if exists == "" {
			continue
		}
		ref, err := d.lookup(ctx, exists)
		if err != nil || ref == nil {
			continue
		}
		n.add(*ref, exists, "the clones in "+f, clonePrivileges...)
		if len(missing) > 0 {
			n.add(*ref, exists, "create "+missing[0]+" (and remove it in a rollback)", "Folder.Create", "Folder.Delete")
		}
	}
	for _, g := range d.p.Groups {
		if p := plan.ResolvePath(d.dcPath, "host", g.ResourcePool); p != "" {
			if ref, err := d.lookup(ctx, p); err == nil && ref != nil {
				n.add(*ref, p, "clones of group "+g.Name, "Resource.AssignVMToPool")
			}
		}
		for _, nic := range g.NICs {
			if nic.Network == "" {
				continue
			}
			if net, err := d.finder.Network(ctx, nic.Network); err == nil {
				n.add(net.Reference(), "network "+nic.Network, "adapter "+fmt.Sprint(nic.Adapter)+" of group "+g.Name, "Network.Assign")
			}
		}
	}
	vmFolder := d.dcPath + "/vm"
	if ref, err := d.lookup(ctx, vmFolder); err == nil && ref != nil {
		n.add(*ref, vmFolder, "the plan's lease", "Folder.Create", "Folder.Delete", "Global.SetCustomField")
	}
	if !d.leaseFieldDefined(ctx) {
		n.add(d.c.Vim.ServiceContent.RootFolder, "/", "define the custom attribute "+vsphere.LeaseField+" (the first apply does)", "Global.ManageCustomFields")
	}

	facts := map[string]any{}
	granted, err := d.hasPrivileges(ctx, n.list)
	if err != nil {
		d.rep.add(Check{Name: "privileges", Subject: d.dcPath, Status: Warn, Detail: "the AuthorizationManager could not be asked: " + err.Error(),
			Fix: "check the account's role by hand against docs/operations.md#vsphere-privileges"})
		return
	}
	missing := 0
	for _, x := range n.list {
		var lacks []string
		for _, p := range x.privs {
			if !granted[x.ref][p] {
				lacks = append(lacks, p)
			}
		}
		facts[x.path] = map[string]any{"ref": x.ref.Value, "needs": x.privs, "missing": lacks, "for": x.why}
		if len(lacks) == 0 {
			continue
		}
		missing += len(lacks)
		var named []string
		for _, p := range lacks {
			if disp := privilegeNames[p]; disp != "" {
				named = append(named, fmt.Sprintf("%s (%s)", p, disp))
			} else {
				named = append(named, p)
			}
		}
		d.rep.add(Check{Name: "privileges", Subject: x.path, Status: Fail,
			Detail: fmt.Sprintf("missing %s, needed for %s", strings.Join(named, ", "), strings.Join(x.why, "; ")),
			Fix:    "grant them to the account's role on " + x.path + " (or a parent, propagated): docs/operations.md#vsphere-privileges",
			Facts:  map[string]any{"ref": x.ref.Value, "missing": lacks}})
	}
	if missing == 0 {
		d.rep.add(Check{Name: "privileges", Subject: d.dcPath, Status: OK,
			Detail: fmt.Sprintf("every privilege the plan needs, on all %d objects it touches", len(n.list)), Facts: facts})
	} else {
		d.rep.add(Check{Name: "privileges", Subject: d.dcPath, Status: Fail,
			Detail: fmt.Sprintf("%d privilege(s) missing (above)", missing), Facts: facts,
			Fix: "apply would fail with NoPermission: grant them, then run doctor again"})
	}
}

// hasPrivileges asks HasUserPrivilegeOnEntities for the session's user.
func (d *doctor) hasPrivileges(ctx context.Context, list []*need) (map[types.ManagedObjectReference]map[string]bool, error) {
	auth := d.c.Vim.ServiceContent.AuthorizationManager
	if auth == nil {
		return nil, fmt.Errorf("vCenter offers no AuthorizationManager")
	}
	us, err := session.NewManager(d.c.Vim).UserSession(ctx)
	if err != nil || us == nil {
		return nil, fmt.Errorf("reading the session's user: %v", err)
	}
	var refs []types.ManagedObjectReference
	var privs []string
	for _, x := range list {
		refs = append(refs, x.ref)
		for _, p := range x.privs {
			if !slices.Contains(privs, p) {
				privs = append(privs, p)
			}
		}
	}
	res, err := methods.HasUserPrivilegeOnEntities(ctx, d.c.Vim, &types.HasUserPrivilegeOnEntities{
		This: *auth, Entities: refs, UserName: us.UserName, PrivId: privs})
	if err != nil {
		return nil, err
	}
	out := map[types.ManagedObjectReference]map[string]bool{}
	for _, e := range res.Returnval {
		m := map[string]bool{}
		for _, a := range e.PrivAvailability {
			m[a.PrivId] = a.IsGranted
		}
		out[e.Entity] = m
	}
	return out, nil
}

// leaseFieldDefined reports whether the lease's custom attribute exists.
func (d *doctor) leaseFieldDefined(ctx context.Context) bool {
	m, err := object.GetCustomFieldsManager(d.c.Vim)
	if err != nil {
		return false
	}
	_, err = m.FindKey(ctx, vsphere.LeaseField)
	return err == nil
}
