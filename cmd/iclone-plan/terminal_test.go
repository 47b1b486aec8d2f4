//go:build unix

package main

import (
	"bytes"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/iclone-plan/iclone-plan/internal/sim"
)

// ptyOutput collects what a subprocess writes to a pseudo-terminal.
type ptyOutput struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	more chan struct{} // signalled after each read
	done chan struct{} // closed at EOF
}

func readPTY(ptmx *os.File) *ptyOutput {
	o := &ptyOutput{more: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(o.done)
		b := make([]byte, 4096)
		for {
			n, err := ptmx.Read(b)
			o.mu.Lock()
			o.buf.Write(b[:n])
			o.mu.Unlock()
			select {
			case o.more <- struct{}{}:
			default:
			}
			if err != nil { // EIO once the last writer closed the terminal
				return
			}
		}
	}()
	return o
}

func (o *ptyOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// waitFor waits until the output contains s. The deadline only keeps a
// broken build from hanging the suite; it asserts nothing about speed.
func (o *ptyOutput) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(2 * time.Minute)
	for !strings.Contains(o.String(), s) {
		select {
		case <-o.more:
		case <-o.done:
			if !strings.Contains(o.String(), s) {
				t.Fatalf("the output ended without %q:\n%q", s, o.String())
			}
		case <-deadline:
			t.Fatalf("no %q in the output:\n%q", s, o.String())
		}
	}
}

// statusLine is one frame of the live progress line (see ui.liveProgress).
var statusLine = regexp.MustCompile(`^\[([= ]{20})\] (\d+)/(\d+) · (\d+) in flight · (\d+) failed · [0-9.]+/s · ETA \S+`)

// On a terminal, apply asks for confirmation, then keeps one status line up
// to date, redrawing it in place, and finishes it with a newline before the
// summary. No timestamped log lines.
func TestTerminalLiveProgress(t *testing.T) {
	e := newE2E(t, e2ePlan, sim.Options{Latency: 200 * time.Millisecond})
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 50, Cols: 160}); err != nil {
		t.Fatal(err)
	}
	// No --auto-approve: on a terminal apply asks, and we answer.
	cmd := e.command("apply", e2ePlan)
	var stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close() // the child holds the only copy now: EOF when it exits
	out := readPTY(ptmx)

	out.waitFor(t, "Only 'yes' is accepted: ")
	if _, err := io.WriteString(ptmx, "yes\n"); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	<-out.done
	got := out.String()
	if err != nil {
		t.Fatalf("apply on a terminal: %v\nstderr: %s\noutput: %q", err, stderr.String(), got)
	}

	// Everything after the confirmation is the run.
	_, run, _ := strings.Cut(got, "Only 'yes' is accepted: ")
	if strings.Contains(run, "Z applying:") || regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT`).MatchString(run) {
		t.Errorf("timestamped log lines on a terminal:\n%q", run)
	}
	frames := strings.Split(run, "\r\x1b[K")
	var counts []int
	last := ""
	for _, f := range frames[1:] {
		m := statusLine.FindStringSubmatch(f)
		if m == nil {
			// A noteworthy event (a folder created) printed above the line.
			if !strings.HasPrefix(f, "created folder ") {
				t.Errorf("unexpected redraw %q", f)
			}
			continue
		}
		done, _ := strconv.Atoi(m[2])
		// Every step counts: two folders and six clones.
		if total, _ := strconv.Atoi(m[3]); total != 8 {
			t.Errorf("frame %q: total %d, want 8", f, total)
		}
		if len(counts) > 0 && done < counts[len(counts)-1] {
			t.Errorf("the count went back: %v then %d", counts, done)
		}
		counts = append(counts, done)
		last = f
	}
	if len(counts) < 6 || counts[len(counts)-1] != 8 {
		t.Fatalf("status frames with done counts %v; want at least 6 redraws ending at 8/8:\n%q", counts, run)
	}
	if len(dedupe(counts)) < 4 {
		t.Errorf("the line was redrawn with only the counts %v", dedupe(counts))
	}
	t.Logf("%d redraws, done counts %v", len(counts), dedupe(counts))
	if testing.Verbose() {
		t.Logf("terminal output after the confirmation:\n%q", run)
	}
	// The last frame: a full bar, nothing in flight, no failures; then the
	// line is finished (ONLCR makes the newline \r\n) and the summary follows.
	m := statusLine.FindStringSubmatch(last)
	if m[1] != strings.Repeat("=", 20) || m[4] != "0" || m[5] != "0" {
		t.Errorf("last frame %q", last)
	}
	after := last[len(m[0]):]
	if !regexp.MustCompile(`^\r\n(\r\n)?Apply complete: 6 created, 0 replaced, 0 destroyed in `).MatchString(after) {
		t.Errorf("after the last frame: %q", after)
	}
	e.converged(e2ePlan)
}

func dedupe(s []int) []int {
	var out []int
	for _, v := range s {
		if len(out) == 0 || out[len(out)-1] != v {
			out = append(out, v)
		}
	}
	return out
}

// timestamped is a line of the plain progress log: an RFC 3339 UTC time,
// then the event.
var timestamped = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (.+)$`)

// Not on a terminal (cron, a pipe, a log file), apply's progress is plain
// timestamped lines, one per event, with no escape codes or carriage
// returns anywhere in the output.
func TestPlainProgressLines(t *testing.T) {
	e := newE2E(t, e2ePlan, sim.Options{Latency: 50 * time.Millisecond})
	r := e.cli("apply", "--auto-approve", e2ePlan)
	if r.code != 0 {
		t.Fatal(r)
	}
	if i := strings.IndexAny(r.stdout+r.stderr, "\x1b\r"); i >= 0 {
		t.Fatalf("control characters in non-terminal output at %d:\n%q", i, r.stdout)
	}
	var events []string
	var stamps []time.Time
	for _, line := range strings.Split(r.stdout, "\n") {
		m := timestamped.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		ts, err := time.Parse(time.RFC3339, line[:20])
		if err != nil {
			t.Errorf("%q: %v", line, err)
		}
		stamps = append(stamps, ts)
		events = append(events, m[1])
	}
	if len(events) < 8 {
		t.Fatalf("%d timestamped lines:\n%s", len(events), r.stdout)
	}
	if events[0] != "applying: 8 step(s)" || events[len(events)-1] != "finished: success" {
		t.Errorf("first and last events %q, %q", events[0], events[len(events)-1])
	}
	created := 0
	for _, ev := range events {
		if regexp.MustCompile(`^created lab-(web|db)-\d+ \(vm-\d+\) \[\d/8\]$`).MatchString(ev) {
			created++
		}
	}
	if created != 6 {
		t.Errorf("%d 'created' lines with counters, want 6:\n%s", created, r.stdout)
	}
	for i := 1; i < len(stamps); i++ {
		if stamps[i].Before(stamps[i-1]) {
			t.Errorf("timestamps go back: %v then %v", stamps[i-1], stamps[i])
		}
	}
	if !strings.Contains(r.stdout, "\nApply complete: 6 created, 0 replaced, 0 destroyed in ") {
		t.Errorf("no summary:\n%s", r.stdout)
	}
}
