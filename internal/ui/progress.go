package ui

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/iclone-plan/iclone-plan/internal/executor"
)

// Progress renders executor events as they happen.
type Progress interface {
	// Event handles one executor event.
	Event(executor.Event)
	// Close ends the display (a live line is finished with a newline).
	Close()
}

// NewProgress returns the right display for the output: a live redrawn
// status line on a terminal, plain timestamped lines otherwise (cron mail),
// or a JSON event stream.
func NewProgress(w io.Writer, terminal, asJSON bool, st Style) Progress {
	switch {
	case asJSON:
		return &jsonProgress{enc: json.NewEncoder(w)}
	case terminal:
		return &liveProgress{w: w, st: st, start: time.Now()}
	}
	return &lineProgress{w: w}
}

// describe is the human sentence for an event, or "" for events a person
// does not need to see.
func describe(e executor.Event) string {
	errText := ""
	if e.Err != nil {
		errText = e.Err.Error()
	}
	switch e.Type {
	case executor.EventStart:
		return fmt.Sprintf("applying: %d step(s)", e.Progress.Total)
	case executor.EventFolder:
		return "created folder " + e.Name
	case executor.EventDone:
		switch e.Op {
		case executor.OpCreate:
			return fmt.Sprintf("created %s (%s)", e.Name, e.VM)
		case executor.OpReplace:
			return fmt.Sprintf("replaced %s (now %s)", e.Name, e.VM)
		case executor.OpDestroy:
			return fmt.Sprintf("destroyed %s (%s)", e.Name, e.VM)
		case executor.OpCleanup:
			if e.Err != nil {
				return fmt.Sprintf("could not remove the half-made VM %s (%s): %s", e.Name, e.VM, errText)
			}
			return fmt.Sprintf("removed the half-made VM %s (%s)", e.Name, e.VM)
		}
	case executor.EventReady:
		return fmt.Sprintf("guest of %s ready after %s", e.Name, e.Elapsed.Round(time.Millisecond))
	case executor.EventRetry:
		return fmt.Sprintf("retrying %s %s after attempt %d: %s", e.Op, e.Name, e.Attempt, errText)
	case executor.EventFailed:
		return fmt.Sprintf("FAILED %s %s: %s", e.Op, e.Name, errText)
	case executor.EventStopping:
		return "stopping: no new clones are started; waiting for those in flight"
	case executor.EventRollback:
		return "rolling back this run's changes"
	case executor.EventRollbackStep:
		if e.Err != nil {
			return fmt.Sprintf("rollback: %s %s FAILED: %s", e.Op, e.Name, errText)
		}
		return fmt.Sprintf("rollback: %s %s", e.Op, e.Name)
	case executor.EventFinish:
		return "finished: " + string(e.Outcome)
	}
	return ""
}

// lineProgress prints one timestamped line per event: what cron mails and
// log files want. No escape codes, ever.
type lineProgress struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *lineProgress) Event(e executor.Event) {
	s := describe(e)
	if s == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	counter := ""
	if e.Progress.Total > 0 && (e.Type == executor.EventDone || e.Type == executor.EventFailed) {
		counter = fmt.Sprintf(" [%d/%d]", e.Progress.Done+e.Progress.Failed, e.Progress.Total)
	}
	fmt.Fprintf(p.w, "%s %s%s\n", e.Time.UTC().Format(time.RFC3339), s, counter)
}

func (p *lineProgress) Close() {}

// liveProgress keeps one status line up to date on a terminal (done/total,
// in flight, failures, rate, ETA) and prints noteworthy events above it.
type liveProgress struct {
	mu    sync.Mutex
	w     io.Writer
	st    Style
	start time.Time
	last  executor.Progress
	drawn bool
}

func (p *liveProgress) Event(e executor.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last = e.Progress
	switch e.Type {
	case executor.EventFailed, executor.EventRetry, executor.EventRollback, executor.EventStopping, executor.EventFolder:
		p.clear()
		line := describe(e)
		if e.Type == executor.EventFailed {
			line = p.st.paint(ansiRed, line)
		}
		fmt.Fprintln(p.w, line)
	case executor.EventRollbackStep:
		if e.Err != nil {
			p.clear()
			fmt.Fprintln(p.w, p.st.paint(ansiRed, describe(e)))
		}
	}
	p.draw()
}

func (p *liveProgress) clear() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
}

func (p *liveProgress) draw() {
	pr := p.last
	finished := pr.Done + pr.Failed
	elapsed := time.Since(p.start)
	rate := 0.0
	if elapsed > 0 {
		rate = float64(finished) / elapsed.Seconds()
	}
	eta := "-"
	if rate > 0 && pr.Total > finished {
		eta = FormatAge(time.Duration(float64(pr.Total-finished)/rate) * time.Second)
	}
	bar := progressBar(finished, pr.Total, 20)
	failed := fmt.Sprintf("%d failed", pr.Failed)
	if pr.Failed > 0 {
		failed = p.st.paint(ansiRed, failed)
	}
	fmt.Fprintf(p.w, "\r\x1b[K%s %d/%d · %d in flight · %s · %.1f/s · ETA %s", bar, finished, pr.Total, pr.InFlight, failed, rate, eta)
	p.drawn = true
}

func (p *liveProgress) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

func progressBar(done, total, width int) string {
	if total <= 0 {
		return "[" + strings.Repeat("=", width) + "]"
	}
	n := done * width / total
	return "[" + strings.Repeat("=", n) + strings.Repeat(" ", width-n) + "]"
}

// EventsFormat is the version of the JSON event stream (apply --json): one
// JSON object per line, each with "v" and "type".
const EventsFormat = 1

// JSONEvent is one line of the apply --json stream.
type JSONEvent struct {
	V       int       `json:"v"`
	Type    string    `json:"type"`
	Time    time.Time `json:"time"`
	Op      string    `json:"op,omitempty"`
	Name    string    `json:"name,omitempty"`
	VM      string    `json:"vm,omitempty"`
	Task    string    `json:"task,omitempty"`
	Attempt int       `json:"attempt,omitempty"`
	// Elapsed is, on a ready event, how long the guest took, in seconds.
	Elapsed  *float64           `json:"elapsed,omitempty"`
	Error    string             `json:"error,omitempty"`
	Outcome  string             `json:"outcome,omitempty"`
	Progress *executor.Progress `json:"progress,omitempty"`
	Plan     *PlanDoc           `json:"plan,omitempty"`
	Report   *executor.Report   `json:"report,omitempty"`
}

type jsonProgress struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (p *jsonProgress) Event(e executor.Event) {
	je := JSONEvent{V: EventsFormat, Type: string(e.Type), Time: e.Time.UTC(), Op: string(e.Op), Name: e.Name, VM: e.VM,
		Task: e.Task, Attempt: e.Attempt, Outcome: string(e.Outcome)}
	if e.Type == executor.EventReady {
		sec := e.Elapsed.Seconds()
		je.Elapsed = &sec
	}
	pr := e.Progress
	je.Progress = &pr
	if e.Err != nil {
		je.Error = e.Err.Error()
	}
	p.Emit(je)
}

// Emit writes one event line.
func (p *jsonProgress) Emit(je JSONEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.enc.Encode(je)
}

func (p *jsonProgress) Close() {}

// EmitJSON writes an extra line (the plan, the report) on a JSON stream.
func EmitJSON(pr Progress, je JSONEvent) {
	if j, ok := pr.(*jsonProgress); ok {
		je.V = EventsFormat
		if je.Time.IsZero() {
			je.Time = time.Now().UTC()
		}
		j.Emit(je)
	}
}
