package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/iclone-plan/iclone-plan/internal/plan"
	"github.com/iclone-plan/iclone-plan/internal/sim"
	"github.com/iclone-plan/iclone-plan/internal/ui"
)

// vmObject finds the VM at an inventory path, as an admin's govmomi script
// would.
func (e *e2e) vmObject(path string) *object.VirtualMachine {
	e.t.Helper()
	vm, err := find.NewFinder(e.client.Vim, false).VirtualMachine(context.Background(), path)
	if err != nil {
		e.t.Fatal(err)
	}
	return vm
}

// adminReconfigure has a VM's adapter-th ethernet card (1-based) changed by
// edit, through a ReconfigVM_Task, as an admin does by hand.
func (e *e2e) adminEditNIC(path string, adapter int, edit func(card *types.VirtualEthernetCard)) {
	e.t.Helper()
	ctx := context.Background()
	vm := e.vmObject(path)
	devs, err := vm.Device(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	cards := devs.SelectByType((*types.VirtualEthernetCard)(nil))
	if len(cards) < adapter {
		e.t.Fatalf("%s has %d adapters", path, len(cards))
	}
	dev := cards[adapter-1]
	edit(dev.(types.BaseVirtualEthernetCard).GetVirtualEthernetCard())
	task, err := vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{
		&types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationEdit, Device: dev}}})
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		e.t.Fatal(err)
	}
}

// setMAC sets a VM's adapter's MAC by hand.
func (e *e2e) setMAC(path string, adapter int, mac string) {
	e.adminEditNIC(path, adapter, func(c *types.VirtualEthernetCard) {
		c.AddressType, c.MacAddress = string(types.VirtualEthernetCardMacTypeManual), mac
	})
}

// macSampler reads every VM's NICs, again and again, while a run goes on,
// and records each instant at which two connected NICs share a MAC.
type macSampler struct {
	e       *e2e
	stop    chan struct{}
	done    sync.WaitGroup
	mu      sync.Mutex
	samples int
	// dups holds, per sample, the duplicated MACs: "mac: path, path".
	dups [][]string
}

func (e *e2e) startMACSampler() *macSampler {
	s := &macSampler{e: e, stop: make(chan struct{})}
	if !s.sample() {
		e.t.Fatal("cannot read the inventory before the run")
	}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		for {
			select {
			case <-s.stop:
				return
			default:
			}
			s.sample()
		}
	}()
	return s
}

// sample records one instant; it reports false when the read failed (a
// read racing a destroy), which records nothing.
func (s *macSampler) sample() bool {
	inv, err := s.e.client.ReadInventory(context.Background(), "Lab")
	if err != nil {
		return false
	}
	holders := map[string][]string{}
	for _, vm := range inv.VMs {
		for _, n := range vm.NICs {
			if n.Connected {
				holders[strings.ToLower(n.MAC)] = append(holders[strings.ToLower(n.MAC)], vm.Path)
			}
		}
	}
	var dups []string
	for mac, paths := range holders {
		if len(paths) > 1 {
			slices.Sort(paths)
			dups = append(dups, mac+": "+strings.Join(paths, ", "))
		}
	}
	slices.Sort(dups)
	s.mu.Lock()
	s.samples++
	s.dups = append(s.dups, dups)
	s.mu.Unlock()
	return true
}

// finish stops sampling, takes a last sample and asserts the MAC
// invariant at every sampled instant: no duplicate but those present
// before the run (the admin's), and once one is gone it stays gone. With
// wantNone, not even the first sample may have one.
func (s *macSampler) finish(wantNone bool) {
	t := s.e.t
	t.Helper()
	close(s.stop)
	s.done.Wait()
	if !s.sample() && !s.sample() {
		t.Fatal("cannot read the inventory after the run")
	}
	initial := s.dups[0]
	if wantNone && len(initial) > 0 {
		t.Errorf("duplicate MACs before the run: %v", initial)
	}
	allowed := slices.Clone(initial)
	for i, d := range s.dups {
		for _, dup := range d {
			if !slices.Contains(allowed, dup) {
				t.Errorf("sample %d of %d: two connected NICs share a MAC the run did not find so: %s", i+1, len(s.dups), dup)
			}
		}
		allowed = slices.DeleteFunc(allowed, func(a string) bool { return !slices.Contains(d, a) })
	}
	if last := s.dups[len(s.dups)-1]; len(last) > 0 {
		t.Errorf("after the run, connected NICs still share MACs: %v", last)
	}
	t.Logf("MAC invariant checked at %d sampled instants", s.samples)
}

// TestE2ENICDriftReplaced: an admin sets an owned clone's MAC by hand, to
// another clone's or to the one a clone about to be created gets. plan
// shows the clone as a replace with the reason, status as drift, and
// apply fixes it without two connected NICs ever sharing a MAC.
func TestE2ENICDriftReplaced(t *testing.T) {
	tests := []struct {
		name     string
		count    string // web's count in the plan applied after the edit
		vm       string
		mac      string
		reason   string
		summary  string
		applied  string // apply's summary: a replace counts once
		wantNone bool   // no duplicate before the run either
	}{
		{
			name: "MAC of another clone", count: "count: 4", vm: "/Lab/vm/lab/lab-web-02", mac: "00:50:56:10:01:01",
			reason:  "adapter 1 MAC 00:50:56:10:01:01 set outside the plan; expected 00:50:56:10:01:02",
			summary: "Plan: 0 to create, 1 to replace, 0 to destroy.", applied: "Apply complete: 0 created, 1 replaced, 0 destroyed",
		},
		{
			name: "MAC of a clone about to be created", count: "count: 5", vm: "/Lab/vm/lab/lab-web-01", mac: "00:50:56:10:01:05",
			reason:  "adapter 1 MAC 00:50:56:10:01:05 set outside the plan; expected 00:50:56:10:01:01",
			summary: "Plan: 1 to create, 1 to replace, 0 to destroy.", applied: "Apply complete: 1 created, 1 replaced, 0 destroyed", wantNone: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newE2E(t, e2ePlan, sim.Options{Latency: 200 * time.Millisecond})
			if r := e.cli("apply", "--auto-approve", e2ePlan); r.code != 0 {
				t.Fatalf("first apply: %v", r)
			}
			e.setMAC(tt.vm, 1, tt.mac)
			name := filepath.Base(tt.vm)

			r := e.cli("status", e2ePlan)
			if r.code != 0 || !strings.Contains(r.stdout, tt.reason) || strings.Count(r.stdout, "in sync") != 5 {
				t.Fatalf("status after the hand edit: want %s's drift %q and 5 in sync: %v", name, tt.reason, r)
			}

			planFile := filepath.Join(e.dir, "plan.yaml")
			data, _ := os.ReadFile(e2ePlan)
			if err := os.WriteFile(planFile, bytes.Replace(data, []byte("count: 4"), []byte(tt.count), 1), 0o644); err != nil {
				t.Fatal(err)
			}
			r = e.cli("plan", "--detailed-exitcode", planFile)
			if want := fmt.Sprintf("-/+ %s", name); r.code != 2 || !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, tt.reason) || !strings.Contains(r.stdout, tt.summary) {
				t.Fatalf("plan: want %q (%s) and %q: %v", want, tt.reason, tt.summary, r)
			}

			s := e.startMACSampler()
			r = e.cli("apply", "--auto-approve", planFile)
			s.finish(tt.wantNone)
			if r.code != 0 || !strings.Contains(r.stdout, tt.applied) {
				t.Fatalf("apply: want %q: %v", tt.applied, r)
			}
			e.converged(planFile)
		})
	}
}

// TestE2EPlanFieldChanges: a replace says what changes per field, old →
// new, read from the live clones (MACs, serial files, guestinfo), in text
// and JSON; --detail lists the values each clone gets; unchanged clones are
// counted, and listed with --show-unchanged.
func TestE2EPlanFieldChanges(t *testing.T) {
	e := newE2E(t, e2ePlan, sim.Options{})
	if r := e.cli("apply", "--auto-approve", e2ePlan); r.code != 0 {
		t.Fatalf("apply: %v", r)
	}
	planFile := filepath.Join(e.dir, "plan.yaml")
	data, _ := os.ReadFile(e2ePlan)
	changed := strings.NewReplacer(`mac: "00:50:56:10:01:{index:02x}"`, `mac: "00:50:56:10:07:{index:02x}"`,
		`hostname: "{name}"`, `hostname: "{name}.lab"`, "serial/{name}", "console/{name}").Replace(string(data))
	if err := os.WriteFile(planFile, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}

	r := e.cli("plan", planFile)
	for _, want := range []string{
		"-/+ lab-web-01  (spec changed)",
		"        adapter 1 MAC: 00:50:56:10:01:01 → 00:50:56:10:07:01\n",
		"        serial port 1 file: [datastore1] serial/lab-web-01.log → [datastore1] console/lab-web-01.log\n",
		"        guestinfo.hostname: lab-web-01 → lab-web-01.lab\n",
		"Group db (2 clones from /Lab/vm/golden/db): 2 unchanged\n\n",
		"Plan: 0 to create, 4 to replace, 0 to destroy.",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan output lacks %q", want)
		}
	}
	if r.code != 0 || strings.Contains(r.stdout, "lab-db-1") {
		t.Errorf("plan (unchanged clones listed?): %v", r)
	}

	r = e.cli("plan", "--json", planFile)
	var doc ui.PlanDoc
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("plan --json: %v: %v", err, r)
	}
	var fields []plan.FieldChange
	for _, c := range doc.Changes {
		if c.Name == "lab-web-02" {
			fields = c.Fields
			if c.Kind != "spec" {
				t.Errorf("kind %q", c.Kind)
			}
		}
	}
	want := []plan.FieldChange{
		{Field: "adapter 1 MAC", Before: "00:50:56:10:01:02", After: "00:50:56:10:07:02"},
		{Field: "serial port 1 file", Before: "[datastore1] serial/lab-web-02.log", After: "[datastore1] console/lab-web-02.log"},
		{Field: "guestinfo.hostname", Before: "lab-web-02", After: "lab-web-02.lab"},
	}
	if !slices.Equal(fields, want) {
		t.Errorf("fields of lab-web-02:\n%v\nwant:\n%v", fields, want)
	}

	r = e.cli("plan", "--detail", "--show-unchanged", planFile)
	p, err := loadPlan(planFile)
	if err != nil {
		t.Fatal(err)
	}
	auto := p.Group("web").Clones[2].NICs[1].MAC
	for _, want := range []string{
		"        adapter 1: MAC 00:50:56:10:07:03, network Lab-Net\n",
		"        adapter 2: MAC " + auto + " (auto), the source's network\n",
		"        serial port 1: [datastore1] console/lab-web-03.log\n",
		"        guestinfo.hostname = lab-web-03.lab\n",
		"      lab-db-1\n        adapter 1: MAC 00:50:56:10:02:01, the source's network\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan --detail --show-unchanged lacks %q:\n%s", want, r.stdout)
		}
	}
}
