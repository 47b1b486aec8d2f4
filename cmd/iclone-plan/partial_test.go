package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/iclone-plan/iclone-plan/internal/sim"
)

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// uuids maps each of the plan's clones to its instance UUID.
func (e *e2e) uuids() map[string]string {
	e.t.Helper()
	out := map[string]string{}
	for _, vm := range e.inventory().VMs {
		if vm.Owned(e.plan.Name) {
			out[vm.Name] = vm.InstanceUUID
		}
	}
	return out
}

// applied applies the e2e plan and checks it converged.
func (e *e2e) applied() {
	e.t.Helper()
	if r := e.cli("apply", "--auto-approve", e2ePlan); r.code != 0 {
		e.t.Fatalf("apply: %v", r)
	}
	e.converged(e2ePlan)
}

// --replace NAME (globs allowed) replaces those clones, even unchanged, and
// no other: the others keep their instance UUIDs.
func TestE2EReplaceNamed(t *testing.T) {
	e := newE2E(t, e2ePlan, sim.Options{})
	e.applied()
	for _, tc := range []struct {
		patterns []string
		replaced []string
	}{
		{[]string{"lab-web-02"}, []string{"lab-web-02"}},
		{[]string{"lab-db-*", "lab-web-0[4]"}, []string{"lab-db-1", "lab-db-2", "lab-web-04"}},
	} {
		var flags []string
		for _, p := range tc.patterns {
			flags = append(flags, "--replace", p)
		}
		want := fmt.Sprintf("Plan: 0 to create, %d to replace, 0 to destroy.", len(tc.replaced))
		if r := e.cli(append(append([]string{"plan"}, flags...), e2ePlan)...); r.code != 0 || !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, "--replace") {
			t.Fatalf("plan %v: want %q with the reason --replace: %v", flags, want, r)
		}
		before := e.uuids()
		if r := e.cli(append(append([]string{"apply", "--auto-approve"}, flags...), e2ePlan)...); r.code != 0 {
			t.Fatalf("apply %v: %v", flags, r)
		}
		after := e.uuids()
		for name, uuid := range before {
			replaced := false
			for _, n := range tc.replaced {
				replaced = replaced || n == name
			}
			if replaced == (after[name] == uuid) {
				t.Errorf("apply %v: %s instance UUID %s -> %s; replaced: want %v", flags, name, uuid, after[name], replaced)
			}
		}
		e.converged(e2ePlan)
	}
	if r := e.cli("plan", "--replace", "nosuch-*", e2ePlan); r.code != 1 || !strings.Contains(r.stderr, `--replace "nosuch-*" matches none of the plan's clones`) {
		t.Errorf("a pattern that matches nothing: %v", r)
	}
}

// --target GROUP plans and applies only that group; the output says the
// others were not targeted, and they stay as they are.
func TestE2ETargetGroup(t *testing.T) {
	e := newE2E(t, e2ePlan, sim.Options{})
	notTargeted := "group web: 4 clone(s), 4 change(s) not made"
	r := e.cli("plan", "--target", "db", e2ePlan)
	if r.code != 0 || !strings.Contains(r.stdout, "Plan: 2 to create, 0 to replace, 0 to destroy.") || !strings.Contains(r.stdout, notTargeted) {
		t.Fatalf("plan --target db: %v", r)
	}
	r = e.cli("apply", "--auto-approve", "--target", "db", e2ePlan)
	if r.code != 0 || !strings.Contains(r.stdout, notTargeted) {
		t.Fatalf("apply --target db: %v", r)
	}
	var names []string
	for name := range e.uuids() {
		names = append(names, name)
	}
	slices.Sort(names)
	if strings.Join(names, " ") != "lab-db-1 lab-db-2" {
		t.Errorf("after apply --target db the plan owns %v, want the db group only", names)
	}
	if r := e.cli("plan", e2ePlan); !strings.Contains(r.stdout, "Plan: 4 to create, 0 to replace, 0 to destroy.") {
		t.Errorf("the web group should still be to create: %v", r)
	}
	if r := e.cli("apply", "--auto-approve", "--target", "nosuch", e2ePlan); r.code != 1 || !strings.Contains(r.stderr, `--target "nosuch" is not a group of plan "lab" (its groups: web, db)`) {
		t.Errorf("an unknown group: %v", r)
	}
}

// plan --destroy shows what destroy would do and changes nothing; destroy
// without a terminal and without --auto-approve lists the same, then
// refuses.
func TestE2EDestroyPreview(t *testing.T) {
	e := newE2E(t, e2ePlan, sim.Options{})
	e.applied()
	before := snapshotOf(e.inventory())
	r := e.cli("plan", "--destroy", e2ePlan)
	if r.code != 0 || !strings.Contains(r.stdout, "Plan: 0 to create, 0 to replace, 6 to destroy.") || !strings.Contains(r.stdout, "lab-web-03") {
		t.Fatalf("plan --destroy: %v", r)
	}
	e.assertSame(before, "plan --destroy")
	report := filepath.Join(e.dir, "destroy.json")
	r = e.cli("destroy", "--report", report, e2ePlan)
	if r.code != ExitError || !strings.Contains(r.stdout, "6 to destroy") || !strings.Contains(r.stdout, "lab-db-2") ||
		!strings.Contains(r.stderr, "refusing to destroy without confirmation") {
		t.Fatalf("destroy without a terminal: %v", r)
	}
	e.assertSame(before, "destroy without confirmation")
	if rep := readReport(t, report); rep.Outcome != "error" || !strings.Contains(rep.Cause, "refusing to destroy") || len(rep.Actions) != 0 {
		t.Errorf("report of the refused destroy: %+v", rep)
	}
}

// An apply that would destroy every clone the plan owns, or more than half
// of them while creating fewer, is refused with the inventory unchanged,
// unless --allow-mass-destroy.
func TestE2EMassDestroyRefused(t *testing.T) {
	e := newE2E(t, e2ePlan, sim.Options{})
	e.applied()
	data, err := os.ReadFile(e2ePlan)
	if err != nil {
		t.Fatal(err)
	}
	variant := func(name, from, to string) string {
		path := filepath.Join(e.dir, name)
		if err := os.WriteFile(path, bytes.Replace(data, []byte(from), []byte(to), 1), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	data = bytes.Replace(data, []byte("count: 2"), []byte("count: {db}"), 1)
	emptied := variant("emptied.yaml", "count: 4", "count: 0")
	if err := os.WriteFile(emptied, bytes.ReplaceAll(mustRead(t, emptied), []byte("{db}"), []byte("0")), 0o644); err != nil {
		t.Fatal(err)
	}
	data = bytes.ReplaceAll(data, []byte("{db}"), []byte("2"))
	for _, tc := range []struct {
		name, path, says string
	}{
		{"every clone", emptied, "refusing to destroy 6 of the 6 clones"},
		{"more than half, creating fewer", variant("noweb.yaml", "count: 4", "count: 0"), "refusing to destroy 4 of the 6 clones"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := snapshotOf(e.inventory())
			r := e.cli("apply", "--auto-approve", tc.path)
			if r.code != ExitError || !strings.Contains(r.stderr, "--allow-mass-destroy") || !strings.Contains(r.stderr, tc.says) {
				t.Fatalf("apply: %v", r)
			}
			e.assertSame(before, "a refused mass destroy")
			if r := e.cli("plan", tc.path); r.code != 0 || !strings.Contains(r.stderr, "Warning: apply will refuse this plan") {
				t.Errorf("plan does not warn: %v", r)
			}
		})
	}
	// Three of six destroyed is not more than half: no refusal.
	half := variant("web1-db.yaml", "count: 4", "count: 1")
	if r := e.cli("plan", half); strings.Contains(r.stderr, "will refuse") {
		t.Errorf("3 of 6 is not more than half: %v", r)
	}
	if r := e.cli("apply", "--auto-approve", "--allow-mass-destroy", emptied); r.code != 0 {
		t.Fatalf("apply --allow-mass-destroy: %v", r)
	}
	if n := len(e.uuids()); n != 0 {
		t.Errorf("%d clones left after an allowed mass destroy", n)
	}
}
