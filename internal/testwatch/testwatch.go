// Package testwatch makes a hung test package say where it hangs in the
// last lines of its output.
//
// When a test binary passes its -timeout, Go prints every goroutine's
// stack and the package fails; CI keeps only the end of the output, which
// is then the stacks of whatever goroutines come last (HTTP connections,
// mostly) and not the test that hung. Main runs the tests with a watchdog
// that fires shortly before the timeout: it prints every stack, then a
// short summary of the goroutines in this module's code (grouped, with
// their state and how long they have waited), and exits with status 2.
package testwatch

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"slices"
	"strings"
	"time"
)

// module is the import path prefix of this project's code.
const module = "github.com/iclone-plan/iclone-plan/"

// M is what Main needs of a *testing.M.
type M interface{ Run() int }

// Main runs m with the watchdog and returns its exit code, for
// os.Exit(testwatch.Main(m)) in a TestMain. The watchdog fires at the
// -timeout less a tenth of it (at most 30 s); without a timeout it is off.
func Main(m M) int { return Wrap(m).Run() }

// Wrap returns an M whose Run runs m's with the watchdog of Main, for a
// TestMain that hands its M to another runner (testscript.Main).
func Wrap(m M) M { return watched{m} }

type watched struct{ m M }

func (w watched) Run() int {
	if !flag.Parsed() {
		flag.Parse()
	}
	if d := timeout(); d > 0 {
		start := time.Now()
		t := time.AfterFunc(d-min(d/10, 30*time.Second), func() {
			Report(os.Stderr, time.Since(start), d)
			os.Exit(2)
		})
		defer t.Stop()
	}
	return w.m.Run()
}

// timeout reads the test binary's -test.timeout flag.
func timeout() time.Duration {
	f := flag.Lookup("test.timeout")
	if f == nil {
		return 0
	}
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return 0
	}
	d, _ := g.Get().(time.Duration)
	return d
}

// Report writes every goroutine's stack to w, then the summary of Summary.
func Report(w io.Writer, ran, limit time.Duration) {
	stacks := allStacks()
	fmt.Fprintf(w, "\n=== testwatch: the tests have run %v of their %v timeout; every goroutine:\n\n", ran.Round(100*time.Millisecond), limit)
	w.Write(stacks)
	fmt.Fprintf(w, "\n=== testwatch: %v of %v, goroutines in iclone-plan code (count, state, frames innermost first):\n", ran.Round(100*time.Millisecond), limit)
	io.WriteString(w, Summary(stacks))
}

func allStacks() []byte {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}

// Summary groups the goroutines of a runtime.Stack(all) dump that run this
// module's code by their state and this module's frames, most frequent
// first, one group per paragraph. Goroutines without a frame of this
// module are left out: they are the runtime's, the HTTP server's and
// connections'.
func Summary(stacks []byte) string {
	type group struct {
		key   string
		count int
	}
	var groups []*group
	byKey := map[string]*group{}
	for _, g := range bytes.Split(stacks, []byte("\n\n")) {
		lines := strings.Split(strings.TrimSpace(string(g)), "\n")
		if len(lines) < 2 || !strings.HasPrefix(lines[0], "goroutine ") {
			continue
		}
		state := lines[0]
		if i := strings.Index(state, "["); i >= 0 {
			state = strings.TrimSuffix(state[i+1:], "]:")
		}
		var frames []string
		for i := 1; i+1 < len(lines); i += 2 {
			fn := lines[i]
			if strings.HasPrefix(fn, "created by ") {
				break
			}
			if !strings.HasPrefix(fn, module) {
				continue
			}
			if j := strings.LastIndex(fn, "("); j > 0 {
				fn = fn[:j]
			}
			loc := strings.TrimSpace(lines[i+1])
			if j := strings.LastIndex(loc, " +0x"); j > 0 {
				loc = loc[:j]
			}
			loc = path.Base(loc) // the function names the package
			frames = append(frames, "    "+strings.TrimPrefix(fn, module)+" "+loc)
		}
		if len(frames) == 0 || strings.Contains(string(g), module+"internal/testwatch.Report(") {
			continue // not this module's, or the watchdog itself
		}
		key := "  [" + state + "]\n" + strings.Join(frames, "\n")
		if gr := byKey[key]; gr != nil {
			gr.count++
			continue
		}
		gr := &group{key: key, count: 1}
		byKey[key] = gr
		groups = append(groups, gr)
	}
	slices.SortStableFunc(groups, func(a, b *group) int { return b.count - a.count })
	var sb strings.Builder
	for _, g := range groups {
		fmt.Fprintf(&sb, "%d×%s\n", g.count, g.key)
	}
	if len(groups) == 0 {
		sb.WriteString("  (none)\n")
	}
	return sb.String()
}
