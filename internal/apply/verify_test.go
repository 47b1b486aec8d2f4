package apply_test

import (
	"strings"
	"testing"

	"github.com/iclone-plan/iclone-plan/internal/apply"
	"github.com/iclone-plan/iclone-plan/internal/ui"
)

// A saved plan is applied only if it is exactly what was reviewed against
// this inventory and this vCenter; any difference is refused, saying what
// differs and what to do. The order of the changes does not matter.
func TestVerifySaved(t *testing.T) {
	doc := func(edit func(d *ui.PlanDoc)) *ui.PlanDoc {
		d := &ui.PlanDoc{Plan: "lab", Datacenter: "/Lab", VCenter: "vc1", Fingerprint: "f1", Folders: []string{"/Lab/vm/lab"},
			Changes: []ui.ChangeDoc{
				{Action: "create", Name: "lab-web-01", Group: "web", Index: 1, Spec: "s1", MACs: []string{"00:50:56:10:01:01"}},
				{Action: "replace", Name: "lab-web-02", Group: "web", Index: 2, Spec: "s2", Current: &ui.VMDoc{Ref: "vm-2"}},
			}}
		if edit != nil {
			edit(d)
		}
		return d
	}
	tests := []struct {
		name string
		now  *ui.PlanDoc
		err  string // "" when accepted
	}{
		{"same", doc(nil), ""},
		{"same changes in another order", doc(func(d *ui.PlanDoc) { d.Changes[0], d.Changes[1] = d.Changes[1], d.Changes[0] }), ""},
		{"inventory changed", doc(func(d *ui.PlanDoc) { d.Fingerprint = "f2" }), "the inventory changed since saved.json was saved"},
		{"another plan", doc(func(d *ui.PlanDoc) { d.Plan = "other" }), `was saved for plan "lab" in /Lab but holds plan "other"`},
		{"another datacenter", doc(func(d *ui.PlanDoc) { d.Datacenter = "/Other" }), "was saved for plan"},
		{"another vCenter", doc(func(d *ui.PlanDoc) { d.VCenter = "vc2" }), "was saved against vCenter vc1, not vc2"},
		{"a change differs", doc(func(d *ui.PlanDoc) { d.Changes[0].MACs = []string{"00:50:56:10:01:09"} }), "the changes it shows are not the changes its plan makes now"},
		{"a change more", doc(func(d *ui.PlanDoc) { d.Changes = append(d.Changes, ui.ChangeDoc{Action: "destroy", Name: "x"}) }), "the changes it shows"},
		{"a folder more", doc(func(d *ui.PlanDoc) { d.Folders = append(d.Folders, "/Lab/vm/x") }), "the changes it shows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := apply.VerifySaved("saved.json", doc(nil), tt.now)
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("error %v, want one saying %q", err, tt.err)
			}
		})
	}
}
