package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iclone-plan/iclone-plan/internal/sim"
)

// TestShowPlanAsPlanned: against the simulator, after an apply, a changed
// plan has every kind of change (a replace with its reason, a destroy of a
// clone no longer in the plan, unchanged clones). show of the plan saved
// with plan --out prints exactly what plan printed, and show of plan
// --json's document exactly what plan printed without --out.
func TestShowPlanAsPlanned(t *testing.T) {
	e := newE2E(t, e2ePlan, sim.Options{})
	if r := e.cli("apply", "--auto-approve", e2ePlan); r.code != 0 {
		t.Fatal(r)
	}
	changed := labVariant(t, e.dir, "changed.yaml", "count: 4", "count: 3", `hostname: "{name}"`, `hostname: "{name}.lab"`)

	saved := filepath.Join(e.dir, "changed.plan")
	planned := e.cli("plan", "--out", saved, changed)
	if planned.code != 0 {
		t.Fatal(planned)
	}
	for _, want := range []string{"-/+ lab-web-01", "    - lab-web-04", "Plan: 0 to create, 3 to replace, 1 to destroy."} {
		if !strings.Contains(planned.stdout, want) {
			t.Fatalf("the changed plan has no %q: %v", want, planned)
		}
	}
	if r := e.cli("show", saved); r.code != 0 || r.stdout != planned.stdout {
		t.Errorf("show of the saved plan is not what plan printed:\n%v\n--- plan printed\n%s", r, planned.stdout)
	}

	text := e.cli("plan", changed)
	doc := e.cli("plan", "--json", changed)
	if text.code != 0 || doc.code != 0 {
		t.Fatal(text, doc)
	}
	docPath := filepath.Join(e.dir, "changed.json")
	if err := os.WriteFile(docPath, []byte(doc.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := e.cli("show", docPath); r.code != 0 || r.stdout != text.stdout {
		t.Errorf("show of plan --json's document is not what plan printed:\n%v\n--- plan printed\n%s", r, text.stdout)
	}
}
