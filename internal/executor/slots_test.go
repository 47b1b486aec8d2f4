package executor

import (
	"strings"
	"testing"

	"github.com/iclone-plan/iclone-plan/internal/plan"
)

// src is a source with n pending operations, on host.
type src struct {
	ref, host string
	n         int
}

func newTestSlots(sources []src, lim limits) *slots {
	var ops []*opState
	for _, s := range sources {
		for range s.n {
			ops = append(ops, &opState{src: plan.Source{Ref: s.ref, HostRef: s.host}})
		}
	}
	return newSlots(ops, lim)
}

func (s *slots) queue(ref string) *queue {
	for _, q := range s.queues {
		if q.src == ref {
			return q
		}
	}
	return nil
}

// pick chooses which source starts next from the slot accounting alone:
// limits first, then the fewest in flight per source, the host with the
// most pending work per task in flight, the most pending, plan order.
func TestSlotsPick(t *testing.T) {
	tests := []struct {
		name    string
		sources []src
		lim     limits
		taken   []string // sources started (and not released) before the pick
		want    string   // "" for none
	}{
		{"nothing pending", nil, limits{overall: 4}, nil, ""},
		{"plan order when all is equal", []src{{"a", "h1", 1}, {"b", "h1", 1}}, limits{overall: 4}, nil, "a"},
		{"most pending first", []src{{"a", "h1", 1}, {"b", "h1", 3}}, limits{overall: 4}, nil, "b"},
		{"idle source before a busy one", []src{{"a", "h1", 5}, {"b", "h1", 1}}, limits{overall: 4}, []string{"a"}, "b"},
		{"loaded host first", []src{{"a", "h1", 2}, {"b", "h2", 2}, {"c", "h2", 2}}, limits{overall: 4}, nil, "b"},
		{"host share per task in flight", []src{{"a", "h1", 3}, {"b", "h2", 1}, {"c", "h2", 1}, {"d", "h1", 1}}, limits{overall: 8}, []string{"a", "b"}, "d"},
		{"overall limit", []src{{"a", "h1", 3}, {"b", "h2", 3}}, limits{overall: 2}, []string{"a", "b"}, ""},
		{"zero overall means one", []src{{"a", "h1", 3}}, limits{}, []string{"a"}, ""},
		{"per-source limit skips a full source", []src{{"a", "h1", 5}, {"b", "h1", 1}}, limits{overall: 8, perSource: 1}, []string{"a", "b"}, ""},
		{"per-source limit leaves others", []src{{"a", "h1", 5}, {"b", "h2", 1}}, limits{overall: 8, perSource: 1}, []string{"a"}, "b"},
		{"per-host limit", []src{{"a", "h1", 5}, {"b", "h1", 5}, {"c", "h2", 1}}, limits{overall: 8, perHost: 2}, []string{"a", "b"}, "c"},
		{"per-host limit full everywhere", []src{{"a", "h1", 5}, {"c", "h2", 1}}, limits{overall: 8, perHost: 1}, []string{"a", "c"}, ""},
		{"an emptied source is skipped", []src{{"a", "h1", 1}, {"b", "h1", 1}}, limits{overall: 8}, []string{"a"}, "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestSlots(tt.sources, tt.lim)
			for _, ref := range tt.taken {
				s.take(s.queue(ref))
			}
			got := ""
			if q := s.pick(); q != nil {
				got = q.src
			}
			if got != tt.want {
				t.Errorf("pick = %q, want %q", got, tt.want)
			}
		})
	}
}

// Picking and taking until no slot is free, then releasing one at a time,
// starts every operation exactly once, keeps the counts within the limits
// and ends with nothing in flight.
func TestSlotsAccounting(t *testing.T) {
	s := newTestSlots([]src{{"a", "h1", 3}, {"b", "h1", 2}, {"c", "h2", 1}}, limits{overall: 3, perHost: 2, perSource: 1})
	var order, inflight []string
	for s.pending > 0 || len(inflight) > 0 {
		for q := s.pick(); q != nil; q = s.pick() {
			o := s.take(q)
			order = append(order, o.src.Ref)
			inflight = append(inflight, o.src.Ref)
			if s.inflight > 3 || s.perHost[o.src.HostRef] > 2 || s.perSource[o.src.Ref] > 1 {
				t.Fatalf("limits broken after starting %v: %+v", order, s)
			}
		}
		if len(inflight) == 0 {
			t.Fatalf("stuck with %d pending and nothing in flight", s.pending)
		}
		s.release(&opState{src: plan.Source{Ref: inflight[0], HostRef: map[string]string{"a": "h1", "b": "h1", "c": "h2"}[inflight[0]]}})
		inflight = inflight[1:]
	}
	// h1 has 4 pending for 1 in flight after a starts, h2 1 for none: b
	// (h1) goes before c; then c, the only source with a free slot.
	if got := strings.Join(order, ","); got != "a,b,c,a,b,a" {
		t.Errorf("start order %s", got)
	}
	if s.inflight != 0 || s.perHost["h1"] != 0 || s.perHost["h2"] != 0 || s.perSource["a"] != 0 {
		t.Errorf("counts not back to zero: %+v", s)
	}
}
