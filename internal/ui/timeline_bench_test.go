package ui

import (
	"fmt"
	"io"
	"testing"
	"time"
)

// BenchmarkTimeline10k lays out and writes the page of a run of 10,000
// clones on 16 hosts, 4 at a time per host, 2 seconds each.
func BenchmarkTimeline10k(b *testing.B) {
	start := time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC)
	t := &Timeline{Run: "20261130T020000-0123abcd", Plan: "big", Outcome: "success", Started: start, ByHost: true}
	const hosts, perHost, n = 16, 4, 10000
	lanes := make([]TimelineLane, hosts)
	for i := range lanes {
		lanes[i] = TimelineLane{Key: fmt.Sprintf("esxi-%02d", i+1), Label: fmt.Sprintf("host esxi-%02d", i+1)}
	}
	for i := 0; i < n; i++ {
		h := i % hosts
		slot := i / hosts
		s := start.Add(time.Duration(slot/perHost) * 2 * time.Second).Add(time.Duration(slot%perHost) * 100 * time.Millisecond)
		lanes[h].Bars = append(lanes[h].Bars, TimelineBar{Op: "create", Name: fmt.Sprintf("big-web-%05d", i+1), Group: "web",
			State: "done", Started: s, Finished: s.Add(2 * time.Second), Tasks: []string{fmt.Sprintf("task-%d", i+100)}, Attempts: 1})
		if f := s.Add(2 * time.Second); f.After(t.Finished) {
			t.Finished = f
		}
	}
	t.Lanes = lanes
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteTimelineHTML(io.Discard, t); err != nil {
			b.Fatal(err)
		}
	}
}
