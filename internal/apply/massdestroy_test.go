package apply_test

import (
	"errors"
	"testing"

	"github.com/iclone-plan/iclone-plan/internal/apply"
	"github.com/iclone-plan/iclone-plan/internal/inventory"
	"github.com/iclone-plan/iclone-plan/internal/plan"
)

// MassDestroy refuses changes that destroy every owned clone, or more than
// half of them while creating fewer; debris and replacements do not count
// as destroys.
func TestMassDestroy(t *testing.T) {
	vm := &inventory.VM{Ref: "vm-1"}
	items := func(spec string) []plan.Change {
		var out []plan.Change
		for _, c := range spec {
			switch c {
			case '=':
				out = append(out, plan.Change{Action: plan.NoOp, Current: vm})
			case '~':
				out = append(out, plan.Change{Action: plan.Replace, Current: vm})
			case '-':
				out = append(out, plan.Change{Action: plan.Destroy, Current: vm})
			case 'd':
				out = append(out, plan.Change{Action: plan.Destroy, Current: vm, Debris: true})
			case '+':
				out = append(out, plan.Change{Action: plan.Create})
			}
		}
		return out
	}
	for _, tc := range []struct {
		changes string
		refused bool
	}{
		{"", false},
		{"------", true},      // a plan emptied
		{"-", true},           // its only clone
		{"--=", true},         // more than half, creating none
		{"---===", false},     // half is not more than half
		{"----==+", true},     // four of six, creating one
		{"----==++++", false}, // four of six, creating as many (a rename of a group)
		{"dddd==", false},     // debris is not a clone
		{"~~~~~~", false},     // replacements keep their slots
		{"+++", false},        // nothing owned
	} {
		err := apply.MassDestroy(&plan.Changes{Plan: &plan.Plan{Name: "lab"}, Items: items(tc.changes)})
		var md *apply.MassDestroyError
		if refused := errors.As(err, &md); refused != tc.refused {
			t.Errorf("%q: refused %v (%v), want %v", tc.changes, refused, err, tc.refused)
		}
	}
}
