package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/iclone-plan/iclone-plan/internal/sim"
)

// TestE2ENameHandover: plans whose names pass from one clone to another
// (a group renamed with the same cloneName; a clone destroyed by hand and
// another renamed into its name; cloneName shifted by one) are carried
// out in one run: a name held by a clone the run destroys or replaces is
// freed first. With a clone failing mid-run, the rollback puts every name
// back (the inventory is as before), and the next apply converges.
func TestE2ENameHandover(t *testing.T) {
	tests := []struct {
		name string
		// edit changes the plan file's text; admin acts on the inventory
		// after the first apply.
		edit  func(string) string
		admin func(e *e2e)
		plan  string // a line plan must show
	}{
		{
			name: "group renamed, same cloneName",
			edit: func(s string) string { return strings.Replace(s, "- name: web", "- name: frontend", 1) },
			plan: "- lab-web-01  (not in plan: group \"web\" removed)",
		},
		{
			name: "clone destroyed by hand, another renamed into its name",
			edit: func(s string) string { return s },
			admin: func(e *e2e) {
				ctx := context.Background()
				vm := e.vmObject("/Lab/vm/lab/lab-web-01")
				if task, err := vm.PowerOff(ctx); err == nil {
					_ = task.Wait(ctx)
				}
				task, err := vm.Destroy(ctx)
				if err == nil {
					err = task.Wait(ctx)
				}
				if err == nil {
					task, err = e.vmObject("/Lab/vm/lab/lab-web-02").Rename(ctx, "lab-web-01")
				}
				if err == nil {
					err = task.Wait(ctx)
				}
				if err != nil {
					e.t.Fatal(err)
				}
			},
			plan: "-/+ lab-web-02  (name changed (was lab-web-01))",
		},
		{
			name: "cloneName shifted by one",
			edit: func(s string) string {
				return strings.Replace(s, `cloneName: "lab-web-{index:02}"`, `cloneName: "lab-web-{index+1:02}"`, 1)
			},
			plan: "-/+ lab-web-02  (spec changed)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The first apply makes 6 clones; the 8th clone task (the
			// second of the run under test) fails once.
			e := newE2E(t, e2ePlan, sim.Options{FailClone: 8})
			if r := e.cli("apply", "--auto-approve", e2ePlan); r.code != 0 {
				t.Fatalf("first apply: %v", r)
			}
			if tt.admin != nil {
				tt.admin(e)
			}
			planFile := filepath.Join(e.dir, "plan.yaml")
			data, _ := os.ReadFile(e2ePlan)
			if err := os.WriteFile(planFile, []byte(tt.edit(string(data))), 0o644); err != nil {
				t.Fatal(err)
			}
			r := e.cli("plan", planFile)
			if r.code != 0 || !strings.Contains(r.stdout, tt.plan) {
				t.Fatalf("plan: want %q: %v", tt.plan, r)
			}

			before := snapshotOf(e.inventory())
			reportPath := filepath.Join(e.dir, "report.json")
			r = e.cli("apply", "--auto-approve", "--report", reportPath, planFile)
			if r.code != 3 || !strings.Contains(r.stdout, "rolled back") || strings.Contains(r.stdout, "DuplicateName") {
				t.Fatalf("apply with a failing clone: want exit 3, rolled back: %v", r)
			}
			e.assertSame(before, "a rolled-back apply")
			// The report, with its rename and restore-name steps, matches
			// its schema.
			reportSchema, _ := outputSchemas(t)
			data, err := os.ReadFile(reportPath)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
			if err == nil {
				err = reportSchema.Validate(doc)
			}
			if err != nil {
				t.Errorf("report: %v\n%s", err, data)
			}
			if !strings.Contains(string(data), `"restore-name"`) {
				t.Errorf("the rollback gave no name back:\n%s", data)
			}

			s := e.startMACSampler()
			r = e.cli("apply", "--auto-approve", planFile)
			s.finish(true)
			if r.code != 0 {
				t.Fatalf("apply: %v", r)
			}
			e.converged(planFile)
		})
	}
}

// TestE2EHandEdits: what an admin does by hand between runs is reported as
// what it is. A clone moved to another folder is replaced "moved from
// FOLDER"; a powered-off source blocks its group's clones (never
// "destroy (not in plan)") in plan and status; a full clone of a clone,
// which copies its markers, is a conflict that changes nothing.
func TestE2EHandEdits(t *testing.T) {
	tests := []struct {
		name   string
		admin  func(e *e2e)
		code   int      // plan's exit code
		plan   []string // lines plan must show
		status []string // lines status must show ("" skips status)
		apply  int      // apply's exit code; 1: nothing may change
	}{
		{
			name: "clone moved to another folder",
			admin: func(e *e2e) {
				ctx := context.Background()
				f, err := find.NewFinder(e.client.Vim, false).Folder(ctx, "/Lab/vm")
				if err == nil {
					var task *object.Task
					task, err = f.MoveInto(ctx, []types.ManagedObjectReference{e.vmObject("/Lab/vm/lab/lab-web-02").Reference()})
					if err == nil {
						err = task.Wait(ctx)
					}
				}
				if err != nil {
					e.t.Fatal(err)
				}
			},
			code: 0, plan: []string{"-/+ lab-web-02  (moved from /Lab/vm)", "        folder: /Lab/vm → /Lab/vm/lab\n"},
		},
		{
			name: "source powered off",
			admin: func(e *e2e) {
				ctx := context.Background()
				task, err := e.vmObject("/Lab/vm/golden/db").PowerOff(ctx)
				if err == nil {
					err = task.Wait(ctx)
				}
				if err != nil {
					e.t.Fatal(err)
				}
			},
			code:   1,
			plan:   []string{"      lab-db-1  (blocked: source VM /Lab/vm/golden/db is poweredOff)", "2 blocked by the source"},
			status: []string{"blocked: source VM /Lab/vm/golden/db is poweredOff", "poweredOff (instant clone needs it running or frozen)"},
			apply:  1,
		},
		{
			name: "full clone of a clone",
			admin: func(e *e2e) {
				ctx := context.Background()
				f, err := find.NewFinder(e.client.Vim, false).Folder(ctx, "/Lab/vm")
				if err == nil {
					var task *object.Task
					// vSphere's full clone copies extraConfig, markers
					// included; vcsim's does not, so the admin's spec
					// carries them, as vSphere's copy would.
					var extra []types.BaseOptionValue
					for _, vm := range e.inventory().VMs {
						if vm.Name == "lab-web-02" {
							for k, v := range vm.Markers {
								extra = append(extra, &types.OptionValue{Key: k, Value: v})
							}
						}
					}
					task, err = e.vmObject("/Lab/vm/lab/lab-web-02").Clone(ctx, f, "web2-copy", types.VirtualMachineCloneSpec{
						Config: &types.VirtualMachineConfigSpec{ExtraConfig: extra}})
					if err == nil {
						err = task.Wait(ctx)
					}
				}
				if err != nil {
					e.t.Fatal(err)
				}
			},
			code:  1,
			plan:  []string{"! web2-copy: VM /Lab/vm/web2-copy (", "carries plan \"lab\"'s markers for clone lab-web-02"},
			apply: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newE2E(t, e2ePlan, sim.Options{})
			if r := e.cli("apply", "--auto-approve", e2ePlan); r.code != 0 {
				t.Fatalf("first apply: %v", r)
			}
			tt.admin(e)
			r := e.cli("plan", e2ePlan)
			if r.code != tt.code || strings.Contains(r.stdout, "not in plan") || strings.Contains(r.stdout, "interrupted") {
				t.Errorf("plan: want exit %d and no destroy: %v", tt.code, r)
			}
			for _, want := range tt.plan {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("plan lacks %q:\n%s", want, r.stdout)
				}
			}
			if len(tt.status) > 0 {
				r = e.cli("status", e2ePlan)
				for _, want := range tt.status {
					if !strings.Contains(r.stdout, want) {
						t.Errorf("status lacks %q: %v", want, r)
					}
				}
			}
			before := snapshotOf(e.inventory())
			r = e.cli("apply", "--auto-approve", e2ePlan)
			if r.code != tt.apply {
				t.Fatalf("apply: want exit %d: %v", tt.apply, r)
			}
			if tt.apply == 1 {
				e.assertSame(before, "an apply with a conflict")
				return
			}
			e.converged(e2ePlan)
		})
	}
}

// TestE2ENameHandoverContinue: with onFailure: continue, a clone renamed
// aside to free its name whose own replace then fails stays in service
// under its planned name, not under the temporary one; the next apply
// converges.
func TestE2ENameHandoverContinue(t *testing.T) {
	// The first apply makes 6 clones; the run under test creates
	// lab-web-01 (call 7), then replaces the clone renamed into its name
	// (call 8), which fails.
	e := newE2E(t, e2ePlan, sim.Options{FailClone: 8})
	planFile := filepath.Join(e.dir, "plan.yaml")
	data, _ := os.ReadFile(e2ePlan)
	text := strings.Replace(string(data), "  parallelism: 4\n", "  parallelism: 1\n  onFailure: continue\n", 1)
	if err := os.WriteFile(planFile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := e.cli("apply", "--auto-approve", planFile); r.code != 0 {
		t.Fatalf("first apply: %v", r)
	}
	ctx := context.Background()
	vm := e.vmObject("/Lab/vm/lab/lab-web-01")
	task, err := vm.PowerOff(ctx)
	if err == nil {
		_ = task.Wait(ctx)
		task, err = vm.Destroy(ctx)
	}
	if err == nil {
		err = task.Wait(ctx)
	}
	second := e.vmObject("/Lab/vm/lab/lab-web-02")
	if err == nil {
		task, err = second.Rename(ctx, "lab-web-01")
	}
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}

	r := e.cli("apply", "--auto-approve", planFile)
	if r.code != 6 || !strings.Contains(r.stdout, "1 created, 0 replaced") {
		t.Fatalf("apply with the replace failing: want exit 6, 1 created: %v", r)
	}
	names := map[string]string{}
	for _, v := range e.inventory().VMs {
		names[v.Ref] = v.Path
	}
	if got := names[second.Reference().Value]; got != "/Lab/vm/lab/lab-web-02" {
		t.Errorf("the clone whose replace failed is at %q, want /Lab/vm/lab/lab-web-02", got)
	}
	s := e.startMACSampler()
	r = e.cli("apply", "--auto-approve", planFile)
	s.finish(true)
	if r.code != 0 {
		t.Fatalf("next apply: %v", r)
	}
	e.converged(planFile)
}
