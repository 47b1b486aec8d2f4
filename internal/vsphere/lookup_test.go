package vsphere

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// waitShared blocks until n callers share the lookup of key in flight.
func waitShared[K comparable, V any](t *testing.T, c *lookups[K, V], key K, n int) {
	t.Helper()
	for {
		c.mu.Lock()
		call := c.calls[key]
		shared := 0
		if call != nil {
			shared = call.shared
		}
		c.mu.Unlock()
		if shared == n {
			return
		}
		if shared > n {
			t.Fatalf("%d callers share the lookup, want %d", shared, n)
		}
		runtime.Gosched()
	}
}

// N concurrent misses of one key make one lookup, and every caller gets
// its result; a failed lookup is not cached, a value keep rejects is not
// either, and a cached value costs no lookup.
func TestLookupsMergeConcurrentMisses(t *testing.T) {
	for _, tc := range []struct {
		name       string
		callers    int
		fail       bool
		keep       func(string) bool
		wantCached bool
	}{
		{name: "one caller", callers: 1, wantCached: true},
		{name: "many callers", callers: 64, wantCached: true},
		{name: "failed lookup", callers: 16, fail: true},
		{name: "value not kept", callers: 16, keep: func(v string) bool { return v != "value of k" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &lookups[string, string]{keep: tc.keep}
			var calls atomic.Int32
			release := make(chan struct{})
			load := func(context.Context) (string, error) {
				calls.Add(1)
				<-release
				if tc.fail {
					return "", errors.New("vCenter said no")
				}
				return "value of k", nil
			}
			var wg sync.WaitGroup
			results := make([]string, tc.callers)
			errs := make([]error, tc.callers)
			for i := range tc.callers {
				wg.Go(func() { results[i], errs[i] = c.get(context.Background(), "k", load) })
			}
			waitShared(t, c, "k", tc.callers)
			close(release)
			wg.Wait()
			if n := calls.Load(); n != 1 {
				t.Fatalf("%d concurrent misses made %d lookups, want 1", tc.callers, n)
			}
			for i := range tc.callers {
				if tc.fail {
					if errs[i] == nil || errs[i].Error() != "vCenter said no" {
						t.Fatalf("caller %d: err %v, want the lookup's error", i, errs[i])
					}
				} else if errs[i] != nil || results[i] != "value of k" {
					t.Fatalf("caller %d: %q, %v; want the lookup's value", i, results[i], errs[i])
				}
			}
			again := func(context.Context) (string, error) { calls.Add(1); return "value of k", nil }
			if _, err := c.get(context.Background(), "k", again); err != nil {
				t.Fatal(err)
			}
			want := int32(2)
			if tc.wantCached {
				want = 1
			}
			if n := calls.Load(); n != want {
				t.Fatalf("after the first lookup, another get made %d lookups in all, want %d", n, want)
			}
		})
	}
}

// A caller that gives up returns at once; the lookup goes on for the
// others, and its result is cached.
func TestLookupsCallerGivesUp(t *testing.T) {
	c := &lookups[int, string]{}
	release := make(chan struct{})
	load := func(ctx context.Context) (string, error) {
		<-release
		if ctx.Err() != nil {
			return "", fmt.Errorf("the lookup ran with a cancelled context: %w", ctx.Err())
		}
		return "v", nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { _, err := c.get(ctx, 1, load); first <- err }()
	waitShared(t, c, 1, 1)
	second := make(chan string, 1)
	go func() { v, _ := c.get(context.Background(), 1, load); second <- v }()
	waitShared(t, c, 1, 2)
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("the caller that gave up got %v, want context.Canceled", err)
	}
	close(release)
	if v := <-second; v != "v" {
		t.Fatalf("the other caller got %q, want the lookup's value", v)
	}
	v, err := c.get(context.Background(), 1, func(context.Context) (string, error) { return "", errors.New("looked up again") })
	if err != nil || v != "v" {
		t.Fatalf("cached value: %q, %v", v, err)
	}
	c.forget(1)
	if _, err := c.get(context.Background(), 1, func(context.Context) (string, error) { return "", errors.New("looked up again") }); err == nil {
		t.Fatal("a forgotten key was not looked up again")
	}
	c.put(1, "made")
	if v, _ := c.get(context.Background(), 1, nil); v != "made" {
		t.Fatalf("put value: %q", v)
	}
}
