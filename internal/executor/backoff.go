package executor

import (
	"math/rand/v2"
	"time"
)

// maxBackoff caps the wait between two attempts.
const maxBackoff = 10 * time.Second

// backoff is the executor's one retry policy, for clone retries and for
// the rollback's and commit's persistence: the wait before retry n (1-based)
// is base·2^(n-1), at most max, less a random part of up to jitter of it,
// so clones that failed together do not all come back to vCenter at the
// same moment.
type backoff struct {
	base, max time.Duration
	// jitter is the share of each wait that is random, in [0, 1].
	jitter float64
	// rand returns a number in [0, 1); nil means math/rand/v2.
	rand func() float64
}

// newBackoff is the policy of a run whose first wait is base.
func newBackoff(base time.Duration) backoff {
	return backoff{base: base, max: max(base, maxBackoff), jitter: 0.5}
}

// delay returns the wait before retry n (1-based).
func (b backoff) delay(n int) time.Duration {
	d := b.base
	for i := 1; i < n && d < b.max; i++ {
		d *= 2
	}
	d = min(d, b.max)
	r := rand.Float64
	if b.rand != nil {
		r = b.rand
	}
	return d - time.Duration(b.jitter*r()*float64(d))
}
