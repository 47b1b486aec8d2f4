package vsphere

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/iclone-plan/iclone-plan/internal/inventory"
	"github.com/iclone-plan/iclone-plan/internal/sim"
)

// cacheEnv is a web lab (see newWebLab) with 20 VMs no plan owns.
func cacheEnv(t *testing.T) (*Client, *Ops) {
	t.Helper()
	l := newWebLab(t, sim.Options{VMs: 20})
	return l.client, l.ops
}

var freshWeb = func(dc string) []string { return []string{dc + "/vm/golden/web"} }

// readCached reads the inventory with the cache file at path, saves the
// cache, and returns the inventory, the cache and the read's round trips.
func readCached(t *testing.T, c *Client, path string) (*inventory.Inventory, *DeviceCache, int64) {
	t.Helper()
	cache := OpenDeviceCache(path)
	before := c.RoundTrips()
	inv, err := c.ReadInventoryWith(context.Background(), "Lab", ReadOptions{Cache: cache, Fresh: freshWeb})
	if err != nil {
		t.Fatal(err)
	}
	trips := c.RoundTrips() - before
	if err := cache.Save(); err != nil {
		t.Fatal(err)
	}
	return inv, cache, trips
}

func uncached(t *testing.T, c *Client) *inventory.Inventory {
	t.Helper()
	inv, err := c.ReadInventory(context.Background(), "Lab")
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func sameInventory(t *testing.T, what string, got, want *inventory.Inventory) {
	t.Helper()
	g, w := *got, *want
	g.ReadAt, w.ReadAt = time.Time{}, time.Time{}
	if !reflect.DeepEqual(g, w) {
		for i := range min(len(g.VMs), len(w.VMs)) {
			if !reflect.DeepEqual(g.VMs[i], w.VMs[i]) {
				t.Errorf("%s: VM %d differs:\n got %+v\nwant %+v", what, i, g.VMs[i], w.VMs[i])
			}
		}
		t.Fatalf("%s: the inventory differs from a full read (%d VMs, want %d)", what, len(g.VMs), len(w.VMs))
	}
}

func vmByName(inv *inventory.Inventory, name string) *inventory.VM {
	for i := range inv.VMs {
		if inv.VMs[i].Name == name {
			return &inv.VMs[i]
		}
	}
	return nil
}

// A cached read equals a full read while it reads again only the devices
// of VMs whose configuration changed, plus the source and the clones,
// which it always reads.
func TestReadInventoryCache(t *testing.T) {
	c, ops := cacheEnv(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cache", "inventory.json")

	inv, cache, trips := readCached(t, c, path)
	sameInventory(t, "first read", inv, uncached(t, c))
	if cache.Hits() != 0 || cache.Reads() != 20 {
		t.Errorf("first read: %d from the cache, %d read, want 0 and the 20 other VMs", cache.Hits(), cache.Reads())
	}
	if trips != 5 {
		t.Errorf("first read took %d round trips, want 5", trips)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("cache file: %v, mode %v; want it written, 0600", err, st.Mode())
	}

	inv, cache, trips = readCached(t, c, path)
	sameInventory(t, "second read", inv, uncached(t, c))
	if cache.Hits() != 20 || cache.Reads() != 0 {
		t.Errorf("second read: %d from the cache, %d read, want 20 and 0", cache.Hits(), cache.Reads())
	}
	if trips != 5 {
		t.Errorf("second read took %d round trips, want 5", trips)
	}

	// A clone of the source: the source's chain grows and the clone carries
	// markers; a changed MAC on another VM (a reconfiguration) is seen.
	src := vmByName(inv, "web")
	if _, err := ops.InstantClone(ctx, &CloneSpec{Source: src.Ref, Name: "web-1", Folder: "/Lab/vm",
		ExtraConfig: map[string]string{inventory.MarkerPlan: "lab", inventory.MarkerGroup: "web", inventory.MarkerIndex: "1"}}, nil); err != nil {
		t.Fatal(err)
	}
	other := vmByName(inv, "extra-00007")
	if other == nil || len(other.NICs) == 0 {
		t.Fatalf("no VM extra-00007 with a NIC in %v", inv.VMs)
	}
	const newMAC = "00:50:56:3f:00:07"
	setMAC(t, c, other.Ref, other.NICs[0].Key, newMAC)

	inv, cache, _ = readCached(t, c, path)
	sameInventory(t, "read after changes", inv, uncached(t, c))
	if cache.Hits() != 19 || cache.Reads() != 1 {
		t.Errorf("read after changes: %d from the cache, %d read, want 19 and the 1 changed", cache.Hits(), cache.Reads())
	}
	if got := vmByName(inv, "extra-00007").NICs[0].MAC; got != newMAC {
		t.Errorf("the changed VM's MAC is %s, want %s", got, newMAC)
	}
	if got, want := vmByName(inv, "web").DiskChainDepth, src.DiskChainDepth[0]+1; len(got) == 0 || got[0] != want {
		t.Errorf("the source's chain is %v after a clone, want %d", got, want)
	}
	if clone := vmByName(inv, "web-1"); clone == nil || clone.Markers[inventory.MarkerIndex] != "1" || len(clone.NICs) != 1 {
		t.Errorf("the clone reads as %+v, want its markers and NIC", clone)
	}

	// A VM removed: gone from the inventory and from the cache.
	if err := ops.Destroy(ctx, vmByName(inv, "extra-00003").Ref); err != nil {
		t.Fatal(err)
	}
	inv, cache, _ = readCached(t, c, path)
	sameInventory(t, "read after a removal", inv, uncached(t, c))
	if cache.Hits() != 19 || cache.Reads() != 0 || vmByName(inv, "extra-00003") != nil {
		t.Errorf("read after a removal: %d from the cache, %d read, want 19 and 0, and the VM gone", cache.Hits(), cache.Reads())
	}
}

// setMAC gives the NIC key of VM ref a manual MAC, as an administrator's
// reconfiguration would.
func setMAC(t *testing.T, c *Client, ref string, key int32, mac string) {
	t.Helper()
	ctx := context.Background()
	vm := object.NewVirtualMachine(c.Vim, types.ManagedObjectReference{Type: "VirtualMachine", Value: ref})
	devices, err := vm.Device(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dev := devices.FindByKey(key)
	card := dev.(types.BaseVirtualEthernetCard).GetVirtualEthernetCard()
	card.MacAddress, card.AddressType = mac, string(types.VirtualEthernetCardMacTypeManual)
	spec, err := object.VirtualDeviceList{dev}.ConfigSpec(types.VirtualDeviceConfigSpecOperationEdit)
	if err != nil {
		t.Fatal(err)
	}
	task, err := vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{DeviceChange: spec})
	if err != nil {
		t.Fatal(err)
	}
	waitTask(t, c, task)
}

// The cache file of another vCenter or datacenter, of another format, or
// damaged, is an empty cache; Reset empties it.
func TestDeviceCacheIgnoresForeignAndDamagedFiles(t *testing.T) {
	c, _ := cacheEnv(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "inventory.json")
	readCached(t, c, path) // fills it

	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := cacheEnv(t) // another vCenter (instance UUID), same names
	if other.InstanceUUID() == c.InstanceUUID() {
		t.Fatalf("two simulators share the instance UUID %s", c.InstanceUUID())
	}
	otherPath := filepath.Join(dir, "other.json")
	if err := os.WriteFile(otherPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, cache, _ := readCached(t, other, otherPath); cache.Hits() != 0 || cache.Reads() != 20 {
		t.Errorf("another vCenter's cache: %d hits, %d read; want it ignored", cache.Hits(), cache.Reads())
	}

	for name, content := range map[string]string{
		"damaged":      `{"version":1,"vcenter":`,
		"other format": `{"version":99}`,
		"empty":        ``,
	} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, cache, _ := readCached(t, c, path); cache.Hits() != 0 || cache.Reads() != 20 {
			t.Errorf("%s file: %d hits, %d read; want it ignored", name, cache.Hits(), cache.Reads())
		}
	}

	cache := OpenDeviceCache(path)
	cache.Reset()
	if _, err := c.ReadInventoryWith(context.Background(), "Lab", ReadOptions{Cache: cache, Fresh: freshWeb}); err != nil {
		t.Fatal(err)
	}
	if cache.Hits() != 0 || cache.Reads() != 20 {
		t.Errorf("after Reset: %d hits, %d read; want all read", cache.Hits(), cache.Reads())
	}
}
