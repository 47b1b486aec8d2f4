package vsphere

import (
	"context"
	"strings"
	"testing"

	"github.com/iclone-plan/iclone-plan/internal/inventory"
	"github.com/iclone-plan/iclone-plan/internal/sim"
)

// A source vCenter cannot check (removed since the inventory read) is that
// source's error; the other sources are checked all the same, so the plan
// reports every source's problem in one run.
func TestCheckSourcesCollectsPerSource(t *testing.T) {
	l := newWebLab(t, sim.Options{})
	tests := []struct {
		name     string
		refs     []string
		wantErrs map[string]string // ref -> substring of its first error; "" means none
	}{
		{name: "a live source", refs: []string{l.src}, wantErrs: map[string]string{l.src: ""}},
		{name: "a gone source does not stop the others", refs: []string{"vm-gone", l.src},
			wantErrs: map[string]string{"vm-gone": "vCenter could not check it: ", l.src: ""}},
		{name: "two gone sources", refs: []string{"vm-gone", "vm-gone-too"},
			wantErrs: map[string]string{"vm-gone": "vCenter could not check it: ", "vm-gone-too": "vCenter could not check it: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := &inventory.Inventory{}
			if err := l.client.CheckSources(context.Background(), inv, tt.refs); err != nil {
				t.Fatalf("CheckSources: %v", err)
			}
			for ref, want := range tt.wantErrs {
				chk, ok := inv.Checks[ref]
				switch {
				case !ok:
					t.Errorf("%s: not checked", ref)
				case want == "" && len(chk.Errors) > 0:
					t.Errorf("%s: errors %q, want none", ref, chk.Errors)
				case want != "" && (len(chk.Errors) == 0 || !strings.Contains(chk.Errors[0], want)):
					t.Errorf("%s: errors %q, want one with %q", ref, chk.Errors, want)
				}
				if want != "" && len(chk.Errors) > 0 && strings.Contains(chk.Errors[0], "*types.") {
					t.Errorf("%s: error %q names the Go type, not the fault", ref, chk.Errors[0])
				}
			}
		})
	}

	// An error that is not about a source (here: the run is cancelled)
	// is returned.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.client.CheckSources(ctx, &inventory.Inventory{}, []string{l.src}); err == nil {
		t.Error("CheckSources with a cancelled context: no error")
	}
}
