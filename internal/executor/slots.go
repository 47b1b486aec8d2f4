package executor

// limits are the scheduler's bounds on clone tasks in flight: overall (at
// least 1), per ESXi host and per source VM (0: no limit).
type limits struct {
	overall, perHost, perSource int
}

// queue holds one source's pending operations, in plan order.
type queue struct {
	src, host string
	ops       []*opState
}

// slots is the scheduler's accounting: the pending operations by source,
// and the tasks in flight overall, per host and per source. It has no
// locks and no goroutines: schedule owns it.
type slots struct {
	lim         limits
	queues      []*queue // sources in plan order
	pending     int      // operations not started
	inflight    int
	perHost     map[string]int // tasks in flight by host
	perSource   map[string]int // tasks in flight by source
	hostPending map[string]int // operations not started by host
}

func newSlots(ops []*opState, lim limits) *slots {
	s := &slots{lim: lim, pending: len(ops),
		perHost: map[string]int{}, perSource: map[string]int{}, hostPending: map[string]int{}}
	bySource := map[string]*queue{}
	for _, o := range ops {
		q := bySource[o.src.Ref]
		if q == nil {
			q = &queue{src: o.src.Ref, host: o.src.HostRef}
			bySource[o.src.Ref] = q
			s.queues = append(s.queues, q)
		}
		q.ops = append(q.ops, o)
		s.hostPending[o.src.HostRef]++
	}
	return s
}

// pick returns the queue whose next operation should start now, or nil
// when no slot is free. It only reads. Among the sources with a free slot
// (each source's operations start in plan order) it prefers:
//
//  1. the source with the fewest operations in flight: the stun phases of
//     one source's clones are serialized by vSphere, so a second clone of a
//     busy source waits where a first clone of an idle one would not;
//  2. then the source whose host has the most pending operations per
//     operation in flight: a host's share of the slots follows its share of
//     the remaining work, so the most loaded host, which bounds the run,
//     is never starved while lighter ones run ahead;
//  3. then the source with the most pending operations, then plan order.
//
// Picking costs one pass over the sources, not the operations.
func (s *slots) pick() *queue {
	if s.inflight >= max(s.lim.overall, 1) {
		return nil
	}
	var best *queue
	for _, q := range s.queues {
		if len(q.ops) == 0 ||
			(s.lim.perHost > 0 && s.perHost[q.host] >= s.lim.perHost) ||
			(s.lim.perSource > 0 && s.perSource[q.src] >= s.lim.perSource) {
			continue
		}
		if best == nil || s.better(q, best) {
			best = q
		}
	}
	return best
}

// better reports whether q should start before b (both startable).
func (s *slots) better(q, b *queue) bool {
	if a, c := s.perSource[q.src], s.perSource[b.src]; a != c {
		return a < c
	}
	if q.host != b.host {
		// hostPending[q]/(perHost[q]+1) > hostPending[b]/(perHost[b]+1)
		a, c := s.hostPending[q.host]*(s.perHost[b.host]+1), s.hostPending[b.host]*(s.perHost[q.host]+1)
		if a != c {
			return a > c
		}
	}
	return len(q.ops) > len(b.ops)
}

// take removes q's next operation and counts it in flight.
func (s *slots) take(q *queue) *opState {
	o := q.ops[0]
	q.ops[0] = nil
	q.ops = q.ops[1:]
	s.pending--
	s.hostPending[q.host]--
	s.inflight++
	s.perHost[q.host]++
	s.perSource[q.src]++
	return o
}

// release frees the slot of o, whose clone task ended.
func (s *slots) release(o *opState) {
	s.inflight--
	s.perHost[o.src.HostRef]--
	s.perSource[o.src.Ref]--
}
