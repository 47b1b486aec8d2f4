package sim

import (
	"slices"
	"testing"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
)

const (
	privClone  = "VirtualMachine.Provisioning.Clone"
	privFolder = "Folder.Create"
	privDelete = "VirtualMachine.Inventory.Delete"
	privPower  = "VirtualMachine.Interact.PowerOn"
)

// Denied privileges: the AuthorizationManager reports them missing for the
// session's user, on the object named and below it, and the methods that
// need them fail with NoPermission naming the privilege and the object
// (the vSphere API reference's NoPermission: privilegeId, object), with
// vCenter's message (vmware/pyvmomi#787 shows the fault as vCenter sends
// it).
func TestDenyPrivileges(t *testing.T) {
	e := start(t, Options{Seed: testSeed(), DenyPrivileges: []string{
		privClone + "@/Lab/vm/golden/web-golden",
		privFolder,
		privDelete + "@/Lab/vm/lab",
	}})
	web, db := e.vm("/Lab/vm/golden/web-golden"), e.vm("/Lab/vm/golden/db-golden")
	lab := e.folder("/Lab/vm/lab")
	am := *e.c.ServiceContent.AuthorizationManager

	// HasUserPrivilegeOnEntities, per entity and privilege.
	has, err := methods.HasUserPrivilegeOnEntities(e.ctx, e.c, &types.HasUserPrivilegeOnEntities{
		This: am, Entities: []types.ManagedObjectReference{web.Reference(), db.Reference(), lab.Reference()},
		UserName: DefaultUsername, PrivId: []string{privClone, privFolder, privDelete, privPower}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[types.ManagedObjectReference]map[string]bool{
		web.Reference(): {privClone: false, privFolder: false, privDelete: true, privPower: true},
		db.Reference():  {privClone: true, privFolder: false, privDelete: true, privPower: true},
		lab.Reference(): {privClone: true, privFolder: false, privDelete: false, privPower: true},
	}
	for _, ep := range has.Returnval {
		for _, pa := range ep.PrivAvailability {
			if w := want[ep.Entity][pa.PrivId]; pa.IsGranted != w {
				t.Errorf("HasUserPrivilegeOnEntities %s %s: granted %v, want %v", ep.Entity, pa.PrivId, pa.IsGranted, w)
			}
		}
	}

	// FetchUserPrivilegeOnEntities: everything but what is denied there.
	fetched, err := methods.FetchUserPrivilegeOnEntities(e.ctx, e.c, &types.FetchUserPrivilegeOnEntities{
		This: am, Entities: []types.ManagedObjectReference{web.Reference(), db.Reference()}, UserName: DefaultUsername})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range fetched.Returnval {
		for priv, granted := range want[r.Entity] {
			if slices.Contains(r.Privileges, priv) != granted {
				t.Errorf("FetchUserPrivilegeOnEntities %s: has %s %v, want %v", r.Entity, priv, !granted, granted)
			}
		}
		if !slices.Contains(r.Privileges, "Datastore.AllocateSpace") {
			t.Errorf("FetchUserPrivilegeOnEntities %s lacks Datastore.AllocateSpace, which is not denied", r.Entity)
		}
	}

	// The methods fail with NoPermission naming privilege and object.
	noPermission := func(what string, err error, priv string, obj types.ManagedObjectReference) {
		t.Helper()
		var np *types.NoPermission
		if err == nil {
			t.Errorf("%s succeeded, want NoPermission", what)
			return
		}
		if _, ok := fault.As(err, &np); !ok {
			t.Errorf("%s: %v, want NoPermission", what, err)
			return
		}
		if np.PrivilegeId != priv || np.Object == nil || *np.Object != obj {
			t.Errorf("%s: NoPermission privilege %q on %v, want %q on %s", what, np.PrivilegeId, np.Object, priv, obj)
		}
		if err.Error() != "ServerFaultCode: Permission to perform this operation was denied." {
			t.Errorf("%s: message %q, want vCenter's", what, err.Error())
		}
	}
	vmsBefore := countVMs(t, e)
	_, err = web.InstantClone(e.ctx, types.VirtualMachineInstantCloneSpec{Name: "denied"})
	noPermission("InstantClone_Task of web-golden", err, privClone, web.Reference())
	if got := countVMs(t, e); got != vmsBefore {
		t.Errorf("%d VMs after a refused clone, want %d", got, vmsBefore)
	}
	_, err = lab.CreateFolder(e.ctx, "new")
	noPermission("CreateFolder", err, privFolder, lab.Reference())

	// Privileges not denied there work: db-golden clones, into /Lab/vm/lab,
	// where its clones cannot be destroyed; those in /Lab/vm/golden can.
	inLab := e.mustClone(db, types.VirtualMachineInstantCloneSpec{Name: "in-lab", Location: types.VirtualMachineRelocateSpec{Folder: ref(lab)}})
	inGolden := e.mustClone(db, types.VirtualMachineInstantCloneSpec{Name: "in-golden"})
	for _, c := range []types.ManagedObjectReference{inLab, inGolden} {
		task, err := object.NewVirtualMachine(e.c, c).PowerOff(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		e.wait(task)
	}
	_, err = object.NewVirtualMachine(e.c, inLab).Destroy(e.ctx)
	noPermission("Destroy_Task of a VM in /Lab/vm/lab", err, privDelete, inLab)
	e.destroy(inGolden)
}

func TestDenyPrivilegesErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		deny string
	}{
		{"unknown privilege", "VirtualMachine.Provisioning.Klone"},
		{"missing object", privClone + "@/Lab/vm/no-such-vm"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Start(t.Context(), Options{Seed: testSeed(), DenyPrivileges: []string{tt.deny}})
			if err == nil {
				s.Close()
				t.Fatalf("Start with DenyPrivileges %q succeeded, want an error", tt.deny)
			}
		})
	}
}
