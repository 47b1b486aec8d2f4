package executor

import (
	"testing"
	"time"
)

// The wait doubles from base up to the cap, and jitter takes off at most
// its share of it.
func TestBackoffDelay(t *testing.T) {
	fixed := func(v float64) func() float64 { return func() float64 { return v } }
	tests := []struct {
		name string
		b    backoff
		n    int
		want time.Duration
	}{
		{"first retry waits base", backoff{base: time.Second, max: 10 * time.Second, rand: fixed(0)}, 1, time.Second},
		{"doubles", backoff{base: time.Second, max: 10 * time.Second, rand: fixed(0)}, 3, 4 * time.Second},
		{"capped", backoff{base: time.Second, max: 10 * time.Second, rand: fixed(0)}, 5, 10 * time.Second},
		{"capped far out", backoff{base: time.Second, max: 10 * time.Second, rand: fixed(0)}, 1000, 10 * time.Second},
		{"half jitter, random at most", backoff{base: time.Second, max: 10 * time.Second, jitter: 0.5, rand: fixed(0.999999)}, 2, time.Second + time.Microsecond},
		{"half jitter, random midway", backoff{base: time.Second, max: 10 * time.Second, jitter: 0.5, rand: fixed(0.5)}, 2, 1500 * time.Millisecond},
		{"full jitter", backoff{base: time.Second, max: 10 * time.Second, jitter: 1, rand: fixed(0.25)}, 1, 750 * time.Millisecond},
		{"default policy, no random part", newBackoff(time.Second).withRand(fixed(0)), 2, 2 * time.Second},
		{"default cap is at least base", newBackoff(time.Minute).withRand(fixed(0)), 3, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.b.delay(tt.n); got != tt.want {
				t.Errorf("delay(%d) = %v, want %v", tt.n, got, tt.want)
			}
		})
	}
	// With the real random source, every wait is within its bounds.
	b := newBackoff(time.Second)
	for n := 1; n <= 6; n++ {
		full := min(time.Second<<(n-1), maxBackoff)
		for range 100 {
			if d := b.delay(n); d <= full/2 || d > full {
				t.Fatalf("delay(%d) = %v, want in (%v, %v]", n, d, full/2, full)
			}
		}
	}
}

func (b backoff) withRand(r func() float64) backoff { b.rand = r; return b }
