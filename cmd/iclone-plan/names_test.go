package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
			r = e.cli("apply", "--auto-approve", planFile)
			if r.code != 3 || !strings.Contains(r.stdout, "rolled back") || strings.Contains(r.stdout, "DuplicateName") {
				t.Fatalf("apply with a failing clone: want exit 3, rolled back: %v", r)
			}
			e.assertSame(before, "a rolled-back apply")

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
