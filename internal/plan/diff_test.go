package plan

import (
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iclone-plan/iclone-plan/internal/inventory"
	"github.com/iclone-plan/iclone-plan/internal/ownership"
)

var diffNow = time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)

const diffPlan = `version: 1
name: lab
datacenter: DC0
defaults:
  folder: /DC0/vm/lab
groups:
  - name: web
    source: /DC0/vm/golden/web
    count: 3
    cloneName: "lab-web-{index:02}"
    maxAge: 24h
    nics:
      - adapter: 1
        mac: "00:50:56:10:01:{index:02x}"
        network: Lab-Net
    serial:
      - port: 1
        file: "[datastore1] serial/{name}.log"
    guestinfo:
      hostname: "{name}"
  - name: db
    source: /DC0/vm/golden/db
    count: 1
    cloneName: "lab-db-{index}"
    resourcePool: /DC0/host/Cluster/Resources/db
`

func mustParse(t testing.TB, src string) *Plan {
	t.Helper()
	p, err := Parse("lab.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// baseInventory holds the two running sources on a connected host, the
// networks, datastores and folders the plan needs, and nothing else.
func baseInventory() *inventory.Inventory {
	src := func(name, uuid string) inventory.VM {
		return inventory.VM{Ref: "vm-" + name, Name: name, Path: "/DC0/vm/golden/" + name, Folder: "/DC0/vm/golden",
			HostRef: "host-1", PoolRef: "pool-1", PowerState: "poweredOn", InstanceUUID: uuid,
			NICs:   []inventory.NIC{{Adapter: 1, MAC: "00:50:56:aa:00:0" + name[:1], AddressType: "generated", Network: "VM Network", Connected: true}},
			Serial: []inventory.SerialPort{{Port: 1, File: "[datastore1] src.log"}}, DiskChainDepth: []int{3}}
	}
	// Source MACs are outside the plan's; the planner must not confuse them.
	return &inventory.Inventory{
		Datacenter: "/DC0",
		VMs:        []inventory.VM{src("web", "uuid-web"), src("db", "uuid-db")},
		Hosts:      map[string]inventory.Host{"host-1": {Ref: "host-1", Name: "esx1", ConnectionState: "connected"}},
		Networks:   map[string]bool{"VM Network": true, "Lab-Net": true},
		Datastores: map[string]bool{"datastore1": true},
		Folders:    map[string]bool{"/DC0/vm": true, "/DC0/vm/lab": true, "/DC0/vm/golden": true},
		ReadAt:     diffNow,
	}
}

// cloneVM is the VM a successful apply leaves for clone (group, index).
func cloneVM(t testing.TB, p *Plan, group string, index int, created time.Time) inventory.VM {
	t.Helper()
	g := p.Group(group)
	c := &g.Clones[index-1]
	vm := inventory.VM{Ref: fmt.Sprintf("vm-%s-%d", group, index), Name: c.Name, Folder: CloneFolder("/DC0", c),
		HostRef: "host-1", PowerState: "poweredOn",
		Markers: ownership.Markers{Plan: p.Name, Group: c.Group, Index: c.Index, Spec: c.SpecHash(), Run: "run-1", Created: created, Source: "uuid-" + group}.ExtraConfig()}
	vm.Path = vm.Folder + "/" + vm.Name
	for _, n := range c.NICs {
		vm.NICs = append(vm.NICs, inventory.NIC{Adapter: n.Adapter, MAC: n.MAC, AddressType: "manual", Network: n.Network, Connected: true})
	}
	if len(vm.NICs) == 0 {
		vm.NICs = []inventory.NIC{{Adapter: 1, MAC: fmt.Sprintf("00:50:56:20:00:%02x", index), AddressType: "generated", Connected: true}}
	}
	return vm
}

// fullInventory is baseInventory plus every clone of p, created an hour ago.
func fullInventory(t testing.TB, p *Plan) *inventory.Inventory {
	inv := baseInventory()
	for c := range p.Clones() {
		inv.VMs = append(inv.VMs, cloneVM(t, p, c.Group, c.Index, diffNow.Add(-time.Hour)))
	}
	return inv
}

func vmNamed(inv *inventory.Inventory, name string) *inventory.VM {
	for i := range inv.VMs {
		if inv.VMs[i].Name == name {
			return &inv.VMs[i]
		}
	}
	panic("no VM " + name)
}

// summary renders the changes one per line: "symbol name (reason)", and
// " [debris]" for what the executor destroys first (Change.Debris).
func summary(ch *Changes) string {
	var lines []string
	for _, it := range ch.Items {
		l := it.Action.Symbol() + " " + it.Name
		if it.Reason != "" {
			l += " (" + it.Reason + ")"
		}
		if it.Debris {
			l += " [debris]"
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n")
}

func TestDiff(t *testing.T) {
	p := mustParse(t, diffPlan)
	tests := []struct {
		name  string
		inv   func() *inventory.Inventory
		opts  Options
		want  string
		dirty bool // HasChanges
	}{
		{
			name: "empty inventory creates everything",
			inv:  baseInventory,
			want: "+ lab-web-01\n+ lab-web-02\n+ lab-web-03\n+ lab-db-1", dirty: true,
		},
		{
			name: "everything in place is a no-op",
			inv:  func() *inventory.Inventory { return fullInventory(t, p) },
			want: "  lab-web-01\n  lab-web-02\n  lab-web-03\n  lab-db-1",
		},
		{
			name: "spec changed",
			inv: func() *inventory.Inventory {
				inv := fullInventory(t, p)
				vmNamed(inv, "lab-web-02").Markers[inventory.MarkerSpec] = "0000000000000000"
				return inv
			},
			want: "  lab-web-01\n-/+ lab-web-02 (spec changed)\n  lab-web-03\n  lab-db-1", dirty: true,
		},
		{
			name: "name template changed",
			inv: func() *inventory.Inventory {
				inv := fullInventory(t, p)
				vm := vmNamed(inv, "lab-db-1")
				vm.Name, vm.Path = "lab-db-01", "/DC0/vm/lab/lab-db-01"
				return inv
			},
			want: "  lab-web-01\n  lab-web-02\n  lab-web-03\n-/+ lab-db-1 (name changed (was lab-db-01))", dirty: true,
		},
		{
			name: "source recreated",
			inv: func() *inventory.Inventory {
				inv := fullInventory(t, p)
				vmNamed(inv, "db").InstanceUUID = "uuid-db-new"
				return inv
			},
			want: "  lab-web-01\n  lab-web-02\n  lab-web-03\n-/+ lab-db-1 (source changed)", dirty: true,
		},
		{
			name: "powered off clone",
			inv: func() *inventory.Inventory {
				inv := fullInventory(t, p)
				vmNamed(inv, "lab-web-01").PowerState = "poweredOff"
				return inv
			},
			want: "-/+ lab-web-01 (powered off)\n  lab-web-02\n  lab-web-03\n  lab-db-1", dirty: true,
		},
		{
			name: "older than maxAge, only in the group that sets it",
			inv: func() *inventory.Inventory {
				inv := fullInventory(t, p)
				for _, n := range []string{"lab-web-03", "lab-db-1"} {
					vmNamed(inv, n).Markers[inventory.MarkerCreated] = diffNow.Add(-24 * time.Hour).Format(time.RFC3339)
				}
				vmNamed(inv, "lab-web-02").Markers[inventory.MarkerCreated] = diffNow.Add(-23 * time.Hour).Format(time.RFC3339)
				return inv
			},
			want: "  lab-web-01\n  lab-web-02\n-/+ lab-web-03 (older than maxAge (1d))\n  lab-db-1", dirty: true,
		},
		{
			name: "MAC set by hand to another clone's: a replace, not in sync",
			inv: func() *inventory.Inventory {
				inv := fullInventory(t, p)
				vmNamed(inv, "lab-web-02").NICs[0].MAC = "00:50:56:10:01:01"
				return inv
			},
			want: "  lab-web-01\n-/+ lab-web-02 (adapter 1 MAC 00:50:56:10:01:01 set outside the plan; expected 00:50:56:10:01:02)\n  lab-web-03\n  lab-db-1", dirty: true,
		},
		{
			name: "MAC set by hand to the one a clone about to be created gets",
			inv: func() *inventory.Inventory {
				inv := fullInventory(t, p)
				inv.VMs = slices.DeleteFunc(inv.VMs, func(vm inventory.VM) bool { return vm.Name == "lab-web-03" })
				vmNamed(inv, "lab-web-01").NICs[0].MAC = "00:50:56:10:01:03"
				return inv
			},
			want: "-/+ lab-web-01 (adapter 1 MAC 00:50:56:10:01:03 set outside the plan; expected 00:50:56:10:01:01)\n  lab-web-02\n+ lab-web-03\n  lab-db-1", dirty: true,
		},
		{
			name: "an adapter the plan does not edit set by hand to a planned MAC",
			inv: func() *inventory.Inventory {
				inv := fullInventory(t, p)
				vmNamed(inv, "lab-db-1").NICs[0].MAC = "00:50:56:10:01:02"
				return inv
			},
			want: "  lab-web-01\n  lab-web-02\n  lab-web-03\n-/+ lab-db-1 (adapter 1 MAC 00:50:56:10:01:02 set outside the plan; it is the MAC of lab-web-02 adapter 1)", dirty: true,
		},
		{
			name: "network changed by hand",
			inv: func() *inventory.Inventory {
				inv := fullInventory(t, p)
				vmNamed(inv, "lab-web-03").NICs[0].Network = "VM Network"
				return inv
			},
			want: "  lab-web-01\n  lab-web-02\n-/+ lab-web-03 (adapter 1 network VM Network set outside the plan; expected Lab-Net)\n  lab-db-1", dirty: true,
		},
		{
			name: "disconnected by hand",
			inv: func() *inventory.Inventory {
				inv := fullInventory(t, p)
				vmNamed(inv, "lab-web-01").NICs[0].Connected = false
				return inv
			},
			want: "-/+ lab-web-01 (adapter 1 disconnected outside the plan; expected connected)\n  lab-web-02\n  lab-web-03\n  lab-db-1", dirty: true,
		},
		{
			name: "moved to another folder",
			inv: func() *inventory.Inventory {
				inv := fullInventory(t, p)
				vm := vmNamed(inv, "lab-web-02")
				vm.Folder, vm.Path = "/DC0/vm/other", "/DC0/vm/other/lab-web-02"
				return inv
			},
			want: "  lab-web-01\n-/+ lab-web-02 (moved from /DC0/vm/other)\n  lab-web-03\n  lab-db-1", dirty: true,
		},
		{
			name: "missing source: its clones are blocked, not destroyed",
			inv: func() *inventory.Inventory {
				inv := fullInventory(t, p)
				inv.VMs = slices.DeleteFunc(inv.VMs, func(vm inventory.VM) bool { return vm.Name == "web" })
				return inv
			},
			want: "! /DC0/vm/golden/web (source VM /DC0/vm/golden/web of group \"web\" does not exist in /DC0; fix the group's source path or create the VM)\n" +
				"  lab-web-01 (blocked: source VM /DC0/vm/golden/web is missing)\n" +
				"  lab-web-02 (blocked: source VM /DC0/vm/golden/web is missing)\n" +
				"  lab-web-03 (blocked: source VM /DC0/vm/golden/web is missing)\n  lab-db-1",
		},
		{
			name: "a full clone of a clone, markers copied, outside the plan's folders: a conflict, never debris",
			inv: func() *inventory.Inventory {
				inv := fullInventory(t, p)
				cp := cloneVM(t, p, "web", 2, diffNow.Add(-time.Hour))
				cp.Ref, cp.Name, cp.Folder, cp.Path = "vm-copy", "web2-copy", "/DC0/vm/scratch", "/DC0/vm/scratch/web2-copy"
				inv.VMs = append(inv.VMs, cp)
				return inv
			},
			want: "! web2-copy (VM /DC0/vm/scratch/web2-copy (vm-copy) carries plan \"lab\"'s markers for clone lab-web-02 but no run of the plan made it there (a full clone of a clone copies its extraConfig); if it is not the plan's, remove its iclone.* extraConfig keys, else delete it; nothing was changed)\n" +
				"  lab-web-01\n  lab-web-02\n  lab-web-03\n  lab-db-1",
		},
		{
			name: "a copy of a pending replacement outside the plan's folders",
			inv: func() *inventory.Inventory {
				inv := fullInventory(t, p)
				cp := cloneVM(t, p, "web", 3, diffNow)
				cp.Markers[inventory.MarkerIndex] = "9"
				cp.Ref, cp.Name, cp.Folder, cp.Path = "vm-copy", "copy", "/DC0/vm/scratch", "/DC0/vm/scratch/copy"
				cp.Markers[inventory.MarkerState] = "pending"
				inv.VMs = append(inv.VMs, cp)
				return inv
			},
			want: "! copy (VM /DC0/vm/scratch/copy (vm-copy) carries plan \"lab\"'s markers for group \"web\" index 9 but no run of the plan made it there (a full clone of a clone copies its extraConfig); if it is not the plan's, remove its iclone.* extraConfig keys, else delete it; nothing was changed)\n" +
				"  lab-web-01\n  lab-web-02\n  lab-web-03\n  lab-db-1",
		},
		{
			name: "--replace-all",
			inv:  func() *inventory.Inventory { return fullInventory(t, p) },
			opts: Options{ReplaceAll: true},
			want: "-/+ lab-web-01 (--replace-all)\n-/+ lab-web-02 (--replace-all)\n-/+ lab-web-03 (--replace-all)\n-/+ lab-db-1 (--replace-all)", dirty: true,
		},
		{
			name: "count lowered and group removed",
			inv: func() *inventory.Inventory {
				inv := fullInventory(t, p)
				big := mustParse(t, strings.Replace(diffPlan, "count: 3", "count: 4", 1)+"  - name: old\n    source: /DC0/vm/golden/db\n    count: 1\n")
				inv.VMs = append(inv.VMs, cloneVM(t, big, "web", 4, diffNow), cloneVM(t, big, "old", 1, diffNow))
				return inv
			},
			want: "  lab-web-01\n  lab-web-02\n  lab-web-03\n  lab-db-1\n- lab-web-04 (not in plan: index 4 beyond count 3)\n- lab-old-01 (not in plan: group \"old\" removed)", dirty: true,
		},
		{
			name: "debris of an interrupted run",
			inv: func() *inventory.Inventory {
				inv := fullInventory(t, p)
				pending := cloneVM(t, p, "web", 2, diffNow)
				pending.Ref, pending.Name, pending.Path = "vm-pending", "lab-web-02.iclone-new", "/DC0/vm/lab/lab-web-02.iclone-new"
				pending.Folder = "/DC0/vm/lab"
				pending.Markers[inventory.MarkerState] = "pending"
				broken := inventory.VM{Ref: "vm-broken", Name: "half", Path: "/DC0/vm/lab/half", Folder: "/DC0/vm/lab", Markers: map[string]string{inventory.MarkerPlan: "lab"}}
				inv.VMs = append(inv.VMs, pending, broken)
				return inv
			},
			want: "  lab-web-01\n  lab-web-02\n  lab-web-03\n  lab-db-1\n- lab-web-02.iclone-new (left by an interrupted run) [debris]\n- half (left by an interrupted run (its iclone markers are incomplete)) [debris]", dirty: true,
		},
		{
			name: "decoy with a clone's name is a conflict and is never touched",
			inv: func() *inventory.Inventory {
				inv := baseInventory()
				inv.VMs = append(inv.VMs, inventory.VM{Ref: "vm-decoy", Name: "lab-web-02", Path: "/DC0/vm/lab/lab-web-02", PowerState: "poweredOn"})
				return inv
			},
			want: "! lab-web-02 (name taken: VM /DC0/vm/lab/lab-web-02 (vm-decoy) is not owned by this plan (no iclone-plan marker); rename or remove that VM, or change cloneName)\n+ lab-web-01\n+ lab-web-03\n+ lab-db-1", dirty: true,
		},
		{
			name: "a clone of another plan is not ours either",
			inv: func() *inventory.Inventory {
				inv := baseInventory()
				other := cloneVM(t, p, "db", 1, diffNow)
				other.Markers[inventory.MarkerPlan] = "other"
				inv.VMs = append(inv.VMs, other)
				return inv
			},
			want: "! lab-db-1 (name taken: VM /DC0/vm/lab/lab-db-1 (vm-db-1) is not owned by this plan (it belongs to plan \"other\"); rename or remove that VM, or change cloneName)\n+ lab-web-01\n+ lab-web-02\n+ lab-web-03", dirty: true,
		},
		{
			name: "MAC used by an unowned VM",
			inv: func() *inventory.Inventory {
				inv := baseInventory()
				inv.VMs = append(inv.VMs, inventory.VM{Ref: "vm-x", Name: "x", Path: "/DC0/vm/x",
					NICs: []inventory.NIC{{Adapter: 2, MAC: "00:50:56:10:01:03"}}})
				return inv
			},
			want: "! lab-web-03 (MAC 00:50:56:10:01:03 of lab-web-03 adapter 1 is already used by VM /DC0/vm/x adapter 2; change that VM's MAC, or give this adapter an explicit mac template that is free)\n+ lab-web-01\n+ lab-web-02\n+ lab-db-1", dirty: true,
		},
		{
			name: "missing source",
			inv: func() *inventory.Inventory {
				inv := baseInventory()
				inv.VMs = inv.VMs[1:] // drop web's source
				return inv
			},
			want: "! /DC0/vm/golden/web (source VM /DC0/vm/golden/web of group \"web\" does not exist in /DC0; fix the group's source path or create the VM)\n+ lab-db-1", dirty: true,
		},
		{
			name: "powered-off source",
			inv: func() *inventory.Inventory {
				inv := baseInventory()
				vmNamed(inv, "db").PowerState = "poweredOff"
				return inv
			},
			want: "! /DC0/vm/golden/db (source VM /DC0/vm/golden/db of group \"db\" is poweredOff; instant clone needs a running (or frozen) source: power it on)\n+ lab-web-01\n+ lab-web-02\n+ lab-web-03", dirty: true,
		},
		{
			name: "source host in maintenance, missing network and datastore",
			inv: func() *inventory.Inventory {
				inv := baseInventory()
				inv.Hosts["host-1"] = inventory.Host{Ref: "host-1", Name: "esx1", ConnectionState: "connected", InMaintenanceMode: true}
				return inv
			},
			want: "! /DC0/vm/golden/web (host esx1 of source VM /DC0/vm/golden/web is in maintenance mode; take it out of maintenance or move the source)\n! /DC0/vm/golden/db (host esx1 of source VM /DC0/vm/golden/db is in maintenance mode; take it out of maintenance or move the source)", dirty: false,
		},
		{
			name: "missing port group",
			inv: func() *inventory.Inventory {
				inv := baseInventory()
				delete(inv.Networks, "Lab-Net")
				return inv
			},
			want: "! /DC0/vm/golden/web (network \"Lab-Net\" of group \"web\" adapter 1 does not exist in /DC0; fix the name or create the port group)\n+ lab-db-1", dirty: true,
		},
		{
			name: "missing datastore",
			inv: func() *inventory.Inventory {
				inv := baseInventory()
				delete(inv.Datastores, "datastore1")
				return inv
			},
			want: "! /DC0/vm/golden/web (datastore \"datastore1\" of group \"web\" serial port 1 does not exist in /DC0; fix the serial file template)\n+ lab-db-1", dirty: true,
		},
		{
			name: "missing resource pool",
			inv: func() *inventory.Inventory {
				inv := baseInventory()
				inv.Pools = map[string]bool{"/DC0/host/Cluster/Resources": true}
				return inv
			},
			want: "! /DC0/vm/golden/db (resource pool /DC0/host/Cluster/Resources/db of group \"db\" does not exist in /DC0; fix the path or create the pool)\n+ lab-web-01\n+ lab-web-02\n+ lab-web-03", dirty: true,
		},
		{
			name: "source without the edited adapter",
			inv: func() *inventory.Inventory {
				inv := baseInventory()
				vmNamed(inv, "web").NICs = nil
				return inv
			},
			want: "! /DC0/vm/golden/web (group \"web\" edits network adapter 1 but source VM /DC0/vm/golden/web has 0; remove the edit or add the adapter to the source)\n+ lab-db-1", dirty: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := tt.inv()
			ch := Diff(p, inv, tt.opts)
			if got := summary(ch); got != tt.want {
				t.Errorf("changes:\n%s\nwant:\n%s", got, tt.want)
			}
			if ch.HasChanges() != tt.dirty {
				t.Errorf("HasChanges = %v, want %v", ch.HasChanges(), tt.dirty)
			}
			if (len(ch.Conflicts()) > 0) != (ch.Err() != nil) {
				t.Errorf("Err() = %v with %d conflicts", ch.Err(), len(ch.Conflicts()))
			}
			// A VM without this plan's marker is never replaced or destroyed.
			for _, it := range ch.Items {
				if it.Current != nil && !it.Current.Owned("lab") {
					t.Errorf("%s %s acts on VM %s which the plan does not own", it.Action, it.Name, it.Current.Path)
				}
			}
			// The diff does not depend on the order of the inventory.
			shuffled := *inv
			shuffled.VMs = append([]inventory.VM(nil), inv.VMs...)
			rand.New(rand.NewSource(1)).Shuffle(len(shuffled.VMs), func(i, j int) { shuffled.VMs[i], shuffled.VMs[j] = shuffled.VMs[j], shuffled.VMs[i] })
			again := Diff(p, &shuffled, tt.opts)
			if summary(again) != summary(ch) || again.Fingerprint != ch.Fingerprint {
				t.Errorf("diff depends on inventory order:\n%s\nvs\n%s", summary(again), summary(ch))
			}
		})
	}
}

func TestDiffFoldersAndSources(t *testing.T) {
	p := mustParse(t, strings.Replace(diffPlan, "folder: /DC0/vm/lab", "folder: /DC0/vm/lab/new", 1))
	ch := Diff(p, baseInventory(), Options{})
	if len(ch.Folders) != 1 || ch.Folders[0] != "/DC0/vm/lab/new" {
		t.Errorf("folders to create = %v", ch.Folders)
	}
	src, ok := ch.Sources["/DC0/vm/golden/web"]
	if !ok || src.Ref != "vm-web" || src.HostName != "esx1" || src.ChainDepth != 3 || src.InstanceUUID != "uuid-web" {
		t.Errorf("source = %+v", src)
	}
}

func TestDiffFingerprint(t *testing.T) {
	p := mustParse(t, diffPlan)
	base := Diff(p, fullInventory(t, p), Options{}).Fingerprint

	unrelated := fullInventory(t, p)
	unrelated.VMs = append(unrelated.VMs, inventory.VM{Ref: "vm-z", Name: "z", Path: "/DC0/vm/z", NICs: []inventory.NIC{{MAC: "00:50:56:00:00:99"}}})
	if got := Diff(p, unrelated, Options{}).Fingerprint; got != base {
		t.Error("an unrelated VM changed the fingerprint")
	}
	for name, mutate := range map[string]func(*inventory.Inventory){
		"clone powered off":    func(inv *inventory.Inventory) { vmNamed(inv, "lab-web-01").PowerState = "poweredOff" },
		"clone NIC unplugged":  func(inv *inventory.Inventory) { vmNamed(inv, "lab-web-01").NICs[0].Connected = false },
		"source moved host":    func(inv *inventory.Inventory) { vmNamed(inv, "web").HostRef = "host-2" },
		"decoy took a name":    func(inv *inventory.Inventory) { vmNamed(inv, "lab-db-1").Markers = nil },
		"clone destroyed":      func(inv *inventory.Inventory) { inv.VMs = inv.VMs[:len(inv.VMs)-1] },
		"spec marker changed":  func(inv *inventory.Inventory) { vmNamed(inv, "lab-web-03").Markers[inventory.MarkerSpec] = "x" },
		"source re-created":    func(inv *inventory.Inventory) { vmNamed(inv, "db").InstanceUUID = "new" },
		"folder removed":       func(inv *inventory.Inventory) { delete(inv.Folders, "/DC0/vm/lab") },
		"foreign MAC appeared": func(inv *inventory.Inventory) { vmNamed(inv, "web").NICs[0].MAC = "00:50:56:10:01:01" },
	} {
		inv := fullInventory(t, p)
		mutate(inv)
		if got := Diff(p, inv, Options{}).Fingerprint; got == base {
			t.Errorf("%s: fingerprint unchanged", name)
		}
	}
}

// Relative source paths resolve against the datacenter, as govc does
// (folders must be absolute: the loader rejects relative ones).
func TestDiffRelativePaths(t *testing.T) {
	rel := strings.NewReplacer("source: /DC0/vm/golden/web", "source: golden/web").Replace(diffPlan)
	p := mustParse(t, rel)
	ch := Diff(p, baseInventory(), Options{})
	if len(ch.Conflicts()) != 0 || len(ch.Folders) != 0 || ch.Count(Create) != 4 {
		t.Fatalf("relative paths: %s\nfolders %v", summary(ch), ch.Folders)
	}
	if got := CloneFolder("/DC0", &p.Group("web").Clones[0]); got != "/DC0/vm/lab" {
		t.Errorf("CloneFolder = %q", got)
	}
}

// The delta-chain budget: every clone of a running source adds a level;
// past 255 the plan is refused with the numbers, past the threshold it
// warns; a frozen source's chain does not grow; no-ops cost nothing.
func TestDiffChainBudget(t *testing.T) {
	// connectAfterReady, so that the only warnings are the chain's (clones
	// of running sources that come up connected warn too).
	p := mustParse(t, strings.Replace(diffPlan, "defaults:\n", "defaults:\n  ready: true\n  connectAfterReady: true\n", 1))
	tests := []struct {
		name     string
		inv      func() *inventory.Inventory
		opts     Options
		conflict string
		warning  string
		after    int
	}{
		{name: "fresh source", inv: baseInventory, after: 6},
		{name: "past the warning threshold", after: 103,
			inv: func() *inventory.Inventory {
				inv := baseInventory()
				vmNamed(inv, "web").DiskChainDepth = []int{100}
				return inv
			},
			warning: "source VM /DC0/vm/golden/web will have a delta chain of 103 levels after this apply (vSphere fails instant clones past 255; 50 more runs of 3 clones fit)"},
		{name: "threshold from options", after: 6, opts: Options{ChainWarning: 5},
			inv:     baseInventory,
			warning: "will have a delta chain of 6 levels"},
		{name: "exactly at the limit", after: 255,
			inv: func() *inventory.Inventory {
				inv := baseInventory()
				vmNamed(inv, "web").DiskChainDepth = []int{252, 3}
				return inv
			},
			warning: "255 levels after this apply (vSphere fails instant clones past 255; 0 more runs of 3 clones fit)"},
		{name: "past the limit",
			inv: func() *inventory.Inventory {
				inv := baseInventory()
				vmNamed(inv, "web").DiskChainDepth = []int{253}
				return inv
			},
			conflict: "source VM /DC0/vm/golden/web has a delta chain of 253 levels and this plan makes 3 clones of it, which would take it to 256, past vSphere's limit of 255 (KB 67186): 2 more clone(s) fit. Freeze the source"},
		{name: "frozen source at the limit", after: 255,
			inv: func() *inventory.Inventory {
				inv := baseInventory()
				vmNamed(inv, "web").DiskChainDepth, vmNamed(inv, "web").Frozen = []int{255}, true
				return inv
			}},
		{name: "clones in place cost nothing", after: 200,
			inv: func() *inventory.Inventory {
				inv := fullInventory(t, p)
				vmNamed(inv, "web").DiskChainDepth = []int{200}
				return inv
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := Diff(p, tt.inv(), tt.opts)
			var conflicts []string
			for _, c := range ch.Conflicts() {
				conflicts = append(conflicts, c.Reason)
			}
			if got := strings.Join(conflicts, "\n"); (tt.conflict == "") != (got == "") || !strings.Contains(got, tt.conflict) {
				t.Errorf("conflicts %q, want %q", got, tt.conflict)
			}
			if got := strings.Join(ch.Warnings, "\n"); (tt.warning == "") != (got == "") || !strings.Contains(got, tt.warning) {
				t.Errorf("warnings %q, want %q", got, tt.warning)
			}
			if tt.conflict == "" {
				if got := ch.Sources["/DC0/vm/golden/web"].After; got != tt.after {
					t.Errorf("depth after = %d, want %d", got, tt.after)
				}
			}
		})
	}
}

// TestDiffFields checks that a replace says what changed, field by field,
// old → new, from the live values the inventory read.
func TestDiffFields(t *testing.T) {
	p := mustParse(t, diffPlan)
	tests := []struct {
		name   string
		plan   string // diffPlan with the first ("old", "new") replaced, if set
		edit   func(inv *inventory.Inventory)
		clone  string
		kind   Kind
		fields []FieldChange
	}{
		{
			name: "MAC template, guestinfo and serial file changed",
			plan: strings.NewReplacer(`mac: "00:50:56:10:01:{index:02x}"`, `mac: "00:50:56:10:09:{index:02x}"`, `hostname: "{name}"`, `hostname: "{name}.lab"`, "serial/{name}", "console/{name}").Replace(diffPlan),
			edit: func(inv *inventory.Inventory) {
				vmNamed(inv, "lab-web-01").ExtraConfig = map[string]string{"guestinfo.hostname": "lab-web-01"}
			},
			clone: "lab-web-01", kind: KindSpec,
			fields: []FieldChange{
				{"adapter 1 MAC", "00:50:56:10:01:01", "00:50:56:10:09:01"},
				{"serial port 1 file", "[datastore1] serial/lab-web-01.log", "[datastore1] console/lab-web-01.log"},
				{"guestinfo.hostname", "lab-web-01", "lab-web-01.lab"},
			},
		},
		{
			name:  "MAC set by hand",
			edit:  func(inv *inventory.Inventory) { vmNamed(inv, "lab-web-02").NICs[0].MAC = "00:50:56:10:01:01" },
			clone: "lab-web-02", kind: KindNICDrift,
			fields: []FieldChange{{"adapter 1 MAC", "00:50:56:10:01:01", "00:50:56:10:01:02"}},
		},
		{
			name: "moved, with the pool it is in",
			edit: func(inv *inventory.Inventory) {
				inv.PoolPaths = map[string]string{"pool-1": "/DC0/host/Cluster/Resources", "pool-db": "/DC0/host/Cluster/Resources/db"}
				vm := vmNamed(inv, "lab-db-1")
				vm.Folder, vm.Path, vm.PoolRef = "/DC0/vm/old", "/DC0/vm/old/lab-db-1", "pool-1"
			},
			clone: "lab-db-1", kind: KindMoved,
			fields: []FieldChange{{"folder", "/DC0/vm/old", "/DC0/vm/lab"}, {"pool", "/DC0/host/Cluster/Resources", "/DC0/host/Cluster/Resources/db"}},
		},
		{
			name:  "source recreated",
			edit:  func(inv *inventory.Inventory) { vmNamed(inv, "db").InstanceUUID = "uuid-db-new" },
			clone: "lab-db-1", kind: KindSource,
			fields: []FieldChange{{"source", "instance uuid-db", "/DC0/vm/golden/db (instance uuid-db-new)"}},
		},
		{
			name: "older than maxAge: the age and the limit",
			edit: func(inv *inventory.Inventory) {
				vmNamed(inv, "lab-web-03").Markers[inventory.MarkerCreated] = diffNow.Add(-30 * time.Hour).Format(time.RFC3339)
			},
			clone: "lab-web-03", kind: KindMaxAge,
			fields: []FieldChange{{"age", "30h", "maxAge 1d"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl := p
			inv := fullInventory(t, p)
			if tt.plan != "" {
				pl = mustParse(t, tt.plan)
			}
			// Serial files as an apply leaves them, unless edited.
			for i := range inv.VMs {
				if vm := &inv.VMs[i]; vm.Markers != nil && vm.Serial == nil {
					vm.Serial = []inventory.SerialPort{{Port: 1, File: "[datastore1] serial/" + vm.Name + ".log"}}
				}
			}
			if tt.edit != nil {
				tt.edit(inv)
			}
			ch := Diff(pl, inv, Options{})
			var got *Change
			for i := range ch.Items {
				if ch.Items[i].Name == tt.clone {
					got = &ch.Items[i]
				}
			}
			if got == nil || got.Action != Replace {
				t.Fatalf("no replace of %s:\n%s", tt.clone, summary(ch))
			}
			if got.Kind != tt.kind {
				t.Errorf("kind = %q, want %q", got.Kind, tt.kind)
			}
			if !slices.Equal(got.Fields, tt.fields) {
				t.Errorf("fields:\n%v\nwant:\n%v", got.Fields, tt.fields)
			}
		})
	}
}

// Every conflict of a plan is reported in one diff, each typed: a source's
// problems do not hide each other, nor the names and MACs of its clones.
func TestDiffEveryConflict(t *testing.T) {
	p := mustParse(t, diffPlan)
	tests := []struct {
		name string
		inv  func() *inventory.Inventory
		want []string // "kind name", in order
	}{
		{
			name: "every kind at once",
			inv: func() *inventory.Inventory {
				inv := baseInventory()
				inv.VMs = slices.DeleteFunc(inv.VMs, func(vm inventory.VM) bool { return vm.Name == "db" })
				vmNamed(inv, "web").NICs = nil
				vmNamed(inv, "web").Serial = nil
				delete(inv.Networks, "Lab-Net")
				delete(inv.Datastores, "datastore1")
				inv.Pools = map[string]bool{"/DC0/host/Cluster/Resources": true}
				inv.VMs = append(inv.VMs,
					inventory.VM{Ref: "vm-decoy", Name: "lab-web-02", Path: "/DC0/vm/lab/lab-web-02", Folder: "/DC0/vm/lab", PowerState: "poweredOn"},
					inventory.VM{Ref: "vm-x", Name: "x", Path: "/DC0/vm/x", Folder: "/DC0/vm", NICs: []inventory.NIC{{Adapter: 1, MAC: "00:50:56:10:01:03"}}})
				return inv
			},
			want: []string{
				"adapter-missing /DC0/vm/golden/web", "network-missing /DC0/vm/golden/web", "serial-missing /DC0/vm/golden/web",
				"datastore-missing /DC0/vm/golden/web", "name-taken lab-web-02", "mac-taken lab-web-03",
				"source-missing /DC0/vm/golden/db", "pool-missing /DC0/vm/golden/db",
			},
		},
		{
			name: "a powered-off source and a name and a MAC of the same clone",
			inv: func() *inventory.Inventory {
				inv := baseInventory()
				vmNamed(inv, "web").PowerState = "poweredOff"
				inv.VMs = append(inv.VMs,
					inventory.VM{Ref: "vm-decoy", Name: "lab-web-01", Path: "/DC0/vm/lab/lab-web-01", Folder: "/DC0/vm/lab", PowerState: "poweredOn",
						NICs: []inventory.NIC{{Adapter: 1, MAC: "00:50:56:10:01:01"}}})
				return inv
			},
			want: []string{"source-state /DC0/vm/golden/web", "name-taken lab-web-01", "mac-taken lab-web-01"},
		},
		{
			name: "the MACs of a created clone",
			inv: func() *inventory.Inventory {
				inv := baseInventory()
				inv.VMs = append(inv.VMs, inventory.VM{Ref: "vm-x", Name: "x", Path: "/DC0/vm/x", Folder: "/DC0/vm",
					NICs: []inventory.NIC{{Adapter: 1, MAC: "00:50:56:10:01:01"}, {Adapter: 2, MAC: "00:50:56:10:01:02"}}})
				return inv
			},
			want: []string{"mac-taken lab-web-01", "mac-taken lab-web-02"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := Diff(p, tt.inv(), Options{})
			var got []string
			for _, c := range ch.Conflicts() {
				got = append(got, string(c.Kind)+" "+c.Name)
				if c.Reason == "" {
					t.Errorf("conflict %s %s has no reason", c.Kind, c.Name)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("conflicts:\n  %s\nwant:\n  %s\n%s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "), summary(ch))
			}
			var ce *ConflictError
			if err := ch.Err(); err == nil || !errors.As(err, &ce) || len(ce.Conflicts) != len(tt.want) {
				t.Errorf("Err() = %v, want %d conflicts", err, len(tt.want))
			}
		})
	}
}

// The identity-collision rule (docs/guest-customization.md): clones of a
// running source that this apply makes and that come up connected are
// warned about, not refused.
func TestDiffIdentityWarning(t *testing.T) {
	safe := "defaults:\n  ready: true\n  connectAfterReady: true\n"
	seats := `version: 1
name: seats
datacenter: DC0
groups:
  - name: seat1
    source: /DC0/vm/golden/web
    count: 1
    nics: [{adapter: 1, network: Seat-01}]
  - name: seat2
    source: /DC0/vm/golden/web
    count: 1
    nics: [{adapter: 1, network: SEAT2}]
`
	tests := []struct {
		name string
		plan string
		inv  func(p *Plan) *inventory.Inventory
		want []string // a substring of each warning, in order
	}{
		{name: "neither ready nor connectAfterReady", plan: diffPlan,
			inv: func(*Plan) *inventory.Inventory { return baseInventory() },
			want: []string{`group "web": 3 clone(s) of running source VM /DC0/vm/golden/web come up connected`,
				`group "db": 1 clone(s) of running source VM /DC0/vm/golden/db come up connected`}},
		{name: "ready without connectAfterReady", plan: strings.Replace(diffPlan, "defaults:\n", "defaults:\n  ready: true\n", 1),
			inv: func(*Plan) *inventory.Inventory { return baseInventory() },
			want: []string{`group "web": 3 clone(s) of running source VM /DC0/vm/golden/web come up connected with its hostname and addresses: ready waits with the NICs connected: add connectAfterReady to the group, or give each clone port groups of its own (the identity-collision rule, docs/guest-customization.md)`,
				`group "db": 1 clone(s)`}},
		{name: "ready and connectAfterReady", plan: strings.Replace(diffPlan, "defaults:\n", safe, 1),
			inv: func(*Plan) *inventory.Inventory { return baseInventory() }},
		{name: "a frozen source", plan: diffPlan,
			inv: func(*Plan) *inventory.Inventory {
				inv := baseInventory()
				vmNamed(inv, "web").Frozen = true
				return inv
			},
			want: []string{`group "db": 1 clone(s)`}},
		{name: "nothing comes up: every clone in place", plan: diffPlan,
			inv: func(p *Plan) *inventory.Inventory { return fullInventory(t, p) }},
		{name: "one replaced clone", plan: diffPlan,
			inv: func(p *Plan) *inventory.Inventory {
				inv := fullInventory(t, p)
				vmNamed(inv, "lab-db-1").PowerState = "poweredOff"
				return inv
			},
			want: []string{`group "db": 1 clone(s) of running source VM /DC0/vm/golden/db`}},
		{name: "a port group of its own per clone", plan: seats,
			inv: func(*Plan) *inventory.Inventory {
				inv := baseInventory()
				inv.Networks["Seat-01"], inv.Networks["SEAT2"] = true, true
				return inv
			}},
		{name: "a source without adapters", plan: diffPlan,
			inv: func(*Plan) *inventory.Inventory {
				inv := baseInventory()
				vmNamed(inv, "db").NICs = nil
				return inv
			},
			want: []string{`group "web": 3 clone(s)`}},
		{name: "two clones on one port group", plan: strings.Replace(seats, "SEAT2", "Seat-01", 1),
			inv: func(*Plan) *inventory.Inventory {
				inv := baseInventory()
				inv.Networks["Seat-01"] = true
				return inv
			},
			want: []string{`group "seat1": 1 clone(s)`, `group "seat2": 1 clone(s)`}},
		{name: "a port group of its own on the source's network", plan: strings.Replace(seats, "SEAT2", "VM Network", 1),
			inv: func(*Plan) *inventory.Inventory {
				inv := baseInventory()
				inv.Networks["Seat-01"] = true
				return inv
			},
			want: []string{`group "seat2": 1 clone(s)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, tt.plan)
			ch := Diff(p, tt.inv(p), Options{ChainWarning: -1})
			if len(ch.Warnings) != len(tt.want) {
				t.Fatalf("warnings:\n  %s\nwant %d", strings.Join(ch.Warnings, "\n  "), len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(ch.Warnings[i], w) || !strings.Contains(ch.Warnings[i], "docs/guest-customization.md") {
					t.Errorf("warning %d = %q, want one with %q", i, ch.Warnings[i], w)
				}
			}
			if len(ch.Conflicts()) != 0 {
				t.Errorf("conflicts: %s", summary(ch))
			}
		})
	}
}
