package ownership

import (
	"maps"
	"testing"
	"time"
)

// The markers a clone is born with are exactly the documented keys, and a
// replacement carries the "pending" state that the planner and a later run
// read back with StateOf.
func TestMarkersExtraConfig(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	tests := []struct {
		name  string
		state State
		want  map[string]string
	}{
		{"live", Live, map[string]string{KeyPlan: "lab", KeyGroup: "web", KeyIndex: "7", KeySpec: "abc", KeyRun: "r1",
			KeyCreated: "2026-01-02T02:04:05Z", KeySource: "uuid-1"}},
		{"replacement", Replacement, map[string]string{KeyPlan: "lab", KeyGroup: "web", KeyIndex: "7", KeySpec: "abc", KeyRun: "r1",
			KeyCreated: "2026-01-02T02:04:05Z", KeySource: "uuid-1", KeyState: "pending"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Markers{Plan: "lab", Group: "web", Index: 7, Spec: "abc", Run: "r1", Created: created, Source: "uuid-1", State: tt.state}.ExtraConfig()
			if !maps.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if StateOf(got) != tt.state {
				t.Errorf("StateOf = %q, want %q", StateOf(got), tt.state)
			}
			for k := range got {
				found := false
				for _, key := range Keys {
					found = found || key == k
				}
				if !found {
					t.Errorf("key %s is not in Keys", k)
				}
			}
		})
	}
	if SetState(Retired)[KeyState] != "retired" || SetState(Live)[KeyState] != "" {
		t.Errorf("SetState: %v %v", SetState(Retired), SetState(Live))
	}
}
