package sim

import (
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand"
	"net"
	"sync"
	"sync/atomic"
)

// injected reports whether InstantClone_Task call n fails by injection
// (Options.FailClone or Options.FailWhen).
func (s *Simulator) injected(n int64) bool {
	if s.opts.FailClone > 0 && int64(s.opts.FailClone) == n {
		return true
	}
	return s.opts.FailWhen != nil && s.opts.FailWhen(n)
}

// SeededFaults is a random schedule of injected instant clone failures for
// Options.FailWhen: each call fails with probability Rate, drawn from a
// generator seeded with Reseed, so a schedule is reproducible from its seed
// (given the same order of calls). The zero value injects nothing. It is
// safe for concurrent use; Reseed may be called while clones run.
type SeededFaults struct {
	mu       sync.Mutex
	rng      *rand.Rand
	rate     float64
	injected atomic.Int64
}

// Reseed starts a new schedule: from now on each call fails with
// probability rate (0 disables), drawn from a generator seeded with seed.
func (f *SeededFaults) Reseed(seed int64, rate float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rng = rand.New(rand.NewSource(seed))
	f.rate = rate
}

// Fail is the Options.FailWhen function.
func (f *SeededFaults) Fail(int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rng == nil || f.rate <= 0 {
		return false
	}
	if f.rng.Float64() < f.rate {
		f.injected.Add(1)
		return true
	}
	return false
}

// Injected returns how many failures the schedule has injected so far.
func (f *SeededFaults) Injected() int64 { return f.injected.Load() }

// outage is the state of Pause and Resume.
type outage struct {
	mu       sync.Mutex
	paused   bool
	closed   bool
	listener net.Listener // the one Resume opened, if any
}

// close stops serving what Resume started; Close calls it before closing
// the server.
func (o *outage) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	if o.listener != nil {
		_ = o.listener.Close()
		o.listener = nil
	}
}

// Pause stops serving, as when vCenter's service stops or the network to
// it fails: the listener closes and every client connection is cut, so
// requests fail with network errors (connection refused or reset). The
// model lives on: the inventory, the sessions, and tasks in flight, which
// keep running. Resume serves again on the same address, with the same
// certificate. Pausing a paused simulator does nothing.
func (s *Simulator) Pause() error {
	o := &s.outage
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case o.closed:
		return errors.New("sim: Pause after Close")
	case o.paused:
		return nil
	}
	if o.listener != nil {
		_ = o.listener.Close()
		o.listener = nil
	} else {
		_ = s.server.Listener.Close()
	}
	s.server.CloseClientConnections()
	o.paused = true
	return nil
}

// Resume serves again after Pause, on the same address. Resuming a
// simulator that is not paused does nothing.
func (s *Simulator) Resume() error {
	o := &s.outage
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case o.closed:
		return errors.New("sim: Resume after Close")
	case !o.paused:
		return nil
	}
	l, err := net.Listen("tcp", s.url.Host)
	if err != nil {
		return fmt.Errorf("sim: resume: %w", err)
	}
	tl := tls.NewListener(l, s.server.TLS)
	o.listener = tl
	o.paused = false
	// The server's connection tracking (ConnState) covers these
	// connections too, so Close still waits for them.
	go func() { _ = s.server.Config.Serve(tl) }()
	return nil
}
