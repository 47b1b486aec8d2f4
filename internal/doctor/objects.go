package doctor

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/iclone-plan/iclone-plan/internal/macgen"
	"github.com/iclone-plan/iclone-plan/internal/plan"
)

// checkSources: each source exists, is powered on or frozen, its host is
// connected and not in maintenance, and its delta chain has room for the
// plan's clones.
func (d *doctor) checkSources(ctx context.Context) {
	byPath := map[string]*source{}
	for _, g := range d.p.Groups {
		p := plan.ResolvePath(d.dcPath, "vm", g.Source)
		s := byPath[p]
		if s == nil {
			s = &source{path: p, vm: d.vmByPath(p)}
			byPath[p] = s
			d.sources = append(d.sources, s)
		}
		s.groups = append(s.groups, g)
	}
	for _, s := range d.sources {
		g := s.groups[0]
		subject := s.path
		if s.vm == nil {
			d.rep.add(Check{Name: "source", Subject: subject, Status: Fail, Detail: "no VM at this path (group " + groupNames(s.groups) + ")",
				Fix: fmt.Sprintf("fix source: at %s, or create the source VM there", d.at(g))})
			continue
		}
		vm := s.vm
		host := d.inv.Hosts[vm.HostRef]
		facts := map[string]any{"ref": vm.Ref, "powerState": vm.PowerState, "frozen": vm.Frozen, "host": host.Name,
			"hostConnectionState": host.ConnectionState, "hostInMaintenanceMode": host.InMaintenanceMode,
			"diskChainDepth": vm.DiskChainDepth, "nics": len(vm.NICs), "serialPorts": len(vm.Serial), "groups": groupNames(s.groups)}
		ch := Check{Name: "source", Subject: subject, Status: OK, Facts: facts}
		state := "powered on"
		if vm.Frozen {
			state = "frozen"
		}
		switch {
		case vm.Template:
			ch.Status, ch.Detail, ch.Fix = Fail, "is a template, which cannot be instant-cloned", "convert it to a VM and power it on, or point source: at "+d.at(g)+" at a running VM"
		case vm.PowerState != string(types.VirtualMachinePowerStatePoweredOn):
			ch.Status, ch.Detail, ch.Fix = Fail, "is "+vm.PowerState+": instant clones need a running (or frozen) source", "power the source on (and freeze it, for unlimited rebuilds: docs/operations.md)"
		case host.ConnectionState != "" && host.ConnectionState != string(types.HostSystemConnectionStateConnected):
			ch.Status, ch.Detail, ch.Fix = Fail, fmt.Sprintf("%s, on host %s which is %s", state, host.Name, host.ConnectionState), "reconnect the host, or move the source to a connected host"
		case host.InMaintenanceMode:
			ch.Status, ch.Detail, ch.Fix = Fail, fmt.Sprintf("%s, on host %s which is in maintenance mode", state, host.Name), "take the host out of maintenance mode, or move the source"
		default:
			ch.Detail = fmt.Sprintf("%s, on host %s (connected)", state, host.Name)
			s.usable = true
		}
		for _, g := range s.groups {
			for _, n := range g.NICs {
				if n.Adapter > len(vm.NICs) {
					s.usable = false
					ch.Status, ch.Detail = Fail, fmt.Sprintf("has %d network adapter(s); group %s edits adapter %d", len(vm.NICs), g.Name, n.Adapter)
					ch.Fix = "fix the nics: of the group at " + d.at(g) + ", or add the adapter to the source"
				}
			}
			for _, sp := range g.Serial {
				if sp.Port > len(vm.Serial) {
					s.usable = false
					ch.Status, ch.Detail = Fail, fmt.Sprintf("has %d serial port(s); group %s edits port %d", len(vm.Serial), g.Name, sp.Port)
					ch.Fix = "fix the serial: of the group at " + d.at(g) + ", or add the port to the source"
				}
			}
		}
		d.rep.add(ch)
		d.checkChain(s)
		if s.usable {
			s.datastores, s.dsNames = d.sourceDatastores(ctx, vm.Ref)
		}
	}
}

// checkChain: the source's delta chain now and after a full rebuild of
// its clones, against vSphere's limit.
func (d *doctor) checkChain(s *source) {
	depth := slices.Max(append([]int{0}, s.vm.DiskChainDepth...))
	clones := 0
	for _, g := range s.groups {
		clones += g.Count
	}
	ch := Check{Name: "source chain", Subject: s.path, Status: OK,
		Facts: map[string]any{"depth": depth, "limit": plan.MaxChainDepth, "clonesPerRebuild": clones, "frozen": s.vm.Frozen}}
	switch {
	case s.vm.Frozen:
		ch.Detail = fmt.Sprintf("%d/%d delta levels; frozen: its clones do not grow the chain", depth, plan.MaxChainDepth)
	case depth+clones > plan.MaxChainDepth:
		ch.Status = Fail
		ch.Detail = fmt.Sprintf("%d/%d delta levels; a full rebuild of its %d clones would pass vSphere's limit", depth, plan.MaxChainDepth, clones)
		ch.Fix = "freeze the source, or recreate it (a full clone consolidates its disks): docs/operations.md, \"Source VMs and their delta-disk chains\""
	default:
		runs := (plan.MaxChainDepth - depth) / max(clones, 1)
		ch.Detail = fmt.Sprintf("%d/%d delta levels; %d full rebuild(s) of its %d clones fit", depth, plan.MaxChainDepth, runs, clones)
		ch.Facts["rebuildsLeft"] = runs
		if depth+clones > plan.DefaultChainWarning {
			ch.Status = Warn
			ch.Fix = "plan the source's recreation, or freeze it: docs/operations.md, \"Source VMs and their delta-disk chains\""
		}
	}
	d.rep.add(ch)
}

// sourceDatastores are the datastores of a source's files.
func (d *doctor) sourceDatastores(ctx context.Context, ref string) ([]types.ManagedObjectReference, []string) {
	var vm mo.VirtualMachine
	mor := types.ManagedObjectReference{Type: "VirtualMachine", Value: ref}
	if err := property.DefaultCollector(d.c.Vim).RetrieveOne(ctx, mor, []string{"datastore"}, &vm); err != nil {
		return nil, nil
	}
	var names []string
	for _, ds := range vm.Datastore {
		var m mo.Datastore
		if err := property.DefaultCollector(d.c.Vim).RetrieveOne(ctx, ds, []string{"name"}, &m); err == nil {
			names = append(names, m.Name)
		}
	}
	return vm.Datastore, names
}

// checkPlacement: the folders (existing, or creatable under an existing
// parent), port groups, serial-file datastores and pools the plan names.
func (d *doctor) checkPlacement(ctx context.Context) {
	d.folders = cloneFolders(d.dcPath, d.p)
	for _, f := range d.folders {
		ch := Check{Name: "folder", Subject: f, Status: OK}
		exists, missing := d.nearestFolder(ctx, f)
		switch {
		case exists == "":
			ch.Status, ch.Detail = Fail, "neither it nor a parent is a folder of "+d.dcPath+"/vm"
			ch.Fix = "put the group's folder: under " + d.dcPath + "/vm"
		case len(missing) == 0:
			ch.Detail = "exists"
		default:
			ch.Detail = fmt.Sprintf("missing; apply creates it (%d level(s)) under %s", len(missing), exists)
		}
		ch.Facts = map[string]any{"existingAncestor": exists, "toCreate": missing}
		d.rep.add(ch)
	}
	networks := map[string]*plan.Group{}
	datastores := map[string]*plan.Group{}
	pools := map[string]*plan.Group{}
	var order []string
	for _, g := range d.p.Groups {
		for _, n := range g.NICs {
			if n.Network != "" && networks[n.Network] == nil {
				networks[n.Network] = g
				order = append(order, "network\x00"+n.Network)
			}
		}
		for _, c := range g.Clones {
			for _, sp := range c.Serial {
				if ds, _, err := macgen.ParseDatastorePath(sp.File); err == nil && datastores[ds] == nil {
					datastores[ds] = g
					order = append(order, "datastore\x00"+ds)
				}
			}
		}
		if p := plan.ResolvePath(d.dcPath, "host", g.ResourcePool); p != "" && pools[p] == nil {
			pools[p] = g
			order = append(order, "pool\x00"+p)
		}
	}
	for _, k := range order {
		kind, name, _ := strings.Cut(k, "\x00")
		var ok bool
		var g *plan.Group
		switch kind {
		case "network":
			ok, g = d.inv.Networks[name], networks[name]
		case "datastore":
			ok, g = d.inv.Datastores[name], datastores[name]
		case "pool":
			ok, g = d.inv.Pools[name], pools[name]
		}
		ch := Check{Name: kind, Subject: name, Status: OK, Detail: "exists"}
		if !ok {
			ch.Status, ch.Detail = Fail, fmt.Sprintf("no %s %q in %s (group %s)", kind, name, d.dcPath, g.Name)
			ch.Fix = fmt.Sprintf("fix the group at %s, or create the %s", d.at(g), kind)
		}
		d.rep.add(ch)
	}
}

// nearestFolder returns the deepest existing folder on the way to p, and
// the paths below it that are missing (top down).
func (d *doctor) nearestFolder(ctx context.Context, p string) (string, []string) {
	root := d.dcPath + "/vm"
	var missing []string
	for cur := p; ; cur = path.Dir(cur) {
		if !strings.HasPrefix(cur+"/", root+"/") {
			return "", nil
		}
		if d.inv.Folders[cur] || cur == root {
			slices.Reverse(missing)
			return cur, missing
		}
		ref, err := d.lookup(ctx, cur)
		if err == nil && ref != nil && ref.Type == "Folder" {
			slices.Reverse(missing)
			return cur, missing
		}
		missing = append(missing, cur)
	}
}

// errText is an error's text, or "".
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
