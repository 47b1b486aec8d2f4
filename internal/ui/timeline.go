package ui

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Timeline is a run's operations laid out for the HTML timeline of
// `show --html`. It is read from the report's JSON file format (or from an
// apply --json event stream, which ends with the report), not from the
// executor's Go types, so that it reads any report that format describes
// (schema/report.schema.json), including keys a newer writer adds.
type Timeline struct {
	Run, Plan, Outcome, Cause string
	Started, Finished         time.Time
	// Execution holds the run's execution settings, if the report has them.
	Execution *TimelineExecution
	// ByHost is set when the lanes are ESXi hosts; without host names in
	// the report they are the plan's groups.
	ByHost bool
	// Lanes are the hosts (or groups) in order, then folders.
	Lanes []TimelineLane
	// Rollback lists the rollback's steps in the order they ran.
	Rollback []TimelineStep
	// Skipped counts operations that never started.
	Skipped int
	// Missing names the timing fields the report lacks, which the page
	// then does without.
	Missing []string
}

// TimelineExecution is the part of the plan's execution block that bounds
// a run's speed.
type TimelineExecution struct {
	Parallelism int     `json:"parallelism"`
	PerHost     int     `json:"perHost"`
	PerSource   int     `json:"perSource"`
	Rate        float64 `json:"rate"`
	Retries     int     `json:"retries"`
	OnFailure   string  `json:"onFailure"`
	MaxFailures int     `json:"maxFailures"`
}

// TimelineLane is one host's (or group's) operations.
type TimelineLane struct {
	Key   string // host name, group name, or "" for folders
	Label string
	Bars  []TimelineBar
}

// TimelineBar is one operation that started.
type TimelineBar struct {
	Op, Name, Group, State string
	Error, Fault, VM       string
	Tasks                  []string
	Attempts               int
	// Queued is when the operation waited for a slot; zero if unknown.
	Queued time.Time
	// Submitted is when its first vCenter task was created; zero if unknown.
	Submitted         time.Time
	Started, Finished time.Time
}

// TimelineStep is one rollback step; its times are zero when the report
// does not record them.
type TimelineStep struct {
	Op, Name, VM, Error string
	Started, Finished   time.Time
}

// tlReport is the report's JSON file format, as the timeline reads it.
type tlReport struct {
	Run       string             `json:"run"`
	Plan      string             `json:"plan"`
	Outcome   string             `json:"outcome"`
	Started   time.Time          `json:"started"`
	Finished  time.Time          `json:"finished"`
	Cause     string             `json:"cause"`
	Execution *TimelineExecution `json:"execution"`
	Actions   []tlAction         `json:"actions"`
	Rollback  []struct {
		Op       string    `json:"op"`
		Name     string    `json:"name"`
		VM       string    `json:"vm"`
		Error    string    `json:"error"`
		Started  time.Time `json:"started"`
		Finished time.Time `json:"finished"`
	} `json:"rollback"`
}

// tlAction is the part of a report's action the timeline reads.
type tlAction struct {
	Op       string    `json:"op"`
	Name     string    `json:"name"`
	Group    string    `json:"group"`
	VM       string    `json:"vm"`
	Host     string    `json:"host"`
	Tasks    []string  `json:"tasks"`
	Attempts int       `json:"attempts"`
	Queued   time.Time `json:"queued"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	State    string    `json:"state"`
	Error    string    `json:"error"`
	Fault    string    `json:"fault"`
}

// ParseTimeline reads a run report (apply --report) or an apply --json
// event stream. From a stream it also takes what the report lacks: each
// group's host (from the plan line's sources) and when each operation's
// first task was submitted (task-started).
func ParseTimeline(data []byte) (*Timeline, error) {
	r, hostOf, submitted, stream, err := decodeRun(data)
	if err != nil {
		return nil, err
	}
	t := &Timeline{Run: r.Run, Plan: r.Plan, Outcome: r.Outcome, Cause: r.Cause, Started: r.Started, Finished: r.Finished, Execution: r.Execution}
	hasHost, hasQueued := len(hostOf) > 0, false
	for _, a := range r.Actions {
		hasHost = hasHost || a.Host != ""
		hasQueued = hasQueued || !a.Queued.IsZero()
	}
	t.ByHost = hasHost
	t.Lanes, t.Skipped = buildLanes(r.Actions, hasHost, hostOf, submitted)
	for _, s := range r.Rollback {
		t.Rollback = append(t.Rollback, TimelineStep{Op: s.Op, Name: s.Name, VM: s.VM, Error: s.Error, Started: s.Started, Finished: s.Finished})
	}
	t.Missing = missingFields(t, hasHost, hasQueued, stream)
	return t, nil
}

// decodeRun reads data as an apply --json stream (whose first line is an
// event) or as a report, and checks it is a run's.
func decodeRun(data []byte) (r *tlReport, hostOf map[string]string, submitted map[string]time.Time, stream bool, err error) {
	r = &tlReport{}
	trimmed := bytes.TrimSpace(data)
	first, _, _ := bytes.Cut(trimmed, []byte("\n"))
	var probe struct {
		V    int    `json:"v"`
		Type string `json:"type"`
	}
	if json.Unmarshal(first, &probe) == nil && probe.V > 0 && probe.Type != "" {
		stream = true
		if hostOf, submitted, err = readStream(trimmed, r); err != nil {
			return nil, nil, nil, false, err
		}
	} else if err := json.Unmarshal(data, r); err != nil {
		return nil, nil, nil, false, fmt.Errorf("not a run report: %v", err)
	}
	if r.Run == "" || r.Started.IsZero() || r.Finished.IsZero() {
		return nil, nil, nil, false, errors.New("not a run report: it has no run, started or finished")
	}
	return r, hostOf, submitted, stream, nil
}

// buildLanes puts each started action on its lane and counts the actions
// that never started.
func buildLanes(actions []tlAction, hasHost bool, hostOf map[string]string, submitted map[string]time.Time) (lanes []TimelineLane, skipped int) {
	byKey := map[string]*TimelineLane{}
	var order []string
	for _, a := range actions {
		if a.Started.IsZero() || a.Finished.IsZero() {
			skipped++
			continue
		}
		key, label := laneOf(a, hasHost, hostOf)
		l := byKey[key]
		if l == nil {
			l = &TimelineLane{Key: key, Label: label}
			byKey[key] = l
			order = append(order, key)
		}
		l.Bars = append(l.Bars, TimelineBar{Op: a.Op, Name: a.Name, Group: a.Group, State: a.State, Error: a.Error, Fault: a.Fault,
			VM: a.VM, Tasks: a.Tasks, Attempts: a.Attempts, Queued: a.Queued, Submitted: submitted[a.Name], Started: a.Started, Finished: a.Finished})
	}
	sortLaneKeys(order, hasHost)
	for _, k := range order {
		lanes = append(lanes, *byKey[k])
	}
	return lanes, skipped
}

// laneOf returns the key and label of an action's lane: folders on their
// own ("" key), else its host or, without hosts, its group; "?" when the
// report does not say.
func laneOf(a tlAction, hasHost bool, hostOf map[string]string) (key, label string) {
	switch {
	case a.Op == "folder":
		return "", "folders"
	case hasHost:
		key = a.Host
		if key == "" {
			key = hostOf[a.Group]
		}
		if key == "" {
			return "?", "host not recorded"
		}
		return key, "host " + key
	case a.Group == "":
		return "?", "no longer in the plan"
	}
	return a.Group, "group " + dash(a.Group)
}

// sortLaneKeys orders lanes: folders first (they are made before any
// clone), then hosts by name or groups in plan order, the unknown last.
func sortLaneKeys(order []string, hasHost bool) {
	slices.SortStableFunc(order, func(a, b string) int {
		switch {
		case a == b:
			return 0
		case a == "":
			return -1
		case b == "":
			return 1
		case a == "?":
			return 1
		case b == "?":
			return -1
		case hasHost:
			return strings.Compare(a, b)
		}
		return 0
	})
}

// missingFields lists the report fields the timeline would use but the
// run did not record, each with what the page draws instead.
func missingFields(t *Timeline, hasHost, hasQueued, stream bool) []string {
	var missing []string
	if t.Execution == nil {
		missing = append(missing, "execution (the run's parallelism, perHost, perSource and rate)")
	}
	if !hasHost {
		missing = append(missing, "actions[].host (lanes are the plan's groups, not ESXi hosts)")
	}
	if !hasQueued {
		w := "actions[].queued (bars start when the operation got its slot"
		if stream {
			w += "; a tick marks when its task was submitted"
		}
		missing = append(missing, w+")")
	}
	if len(t.Rollback) > 0 && t.Rollback[0].Started.IsZero() {
		missing = append(missing, "rollback[].started, finished (the rollback is drawn as one band from the last operation's end)")
	}
	return missing
}

// readStream reads an apply --json stream into r (its report line) and
// returns each group's host and each operation's first task submission.
func readStream(data []byte, r *tlReport) (map[string]string, map[string]time.Time, error) {
	hostOf, submitted := map[string]string{}, map[string]time.Time{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 64<<20)
	found := false
	for n := 1; sc.Scan(); n++ {
		var ev struct {
			Type   string          `json:"type"`
			Time   time.Time       `json:"time"`
			Name   string          `json:"name"`
			Plan   *PlanDoc        `json:"plan"`
			Report json.RawMessage `json:"report"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, nil, fmt.Errorf("line %d of the event stream is not JSON: %v", n, err)
		}
		switch ev.Type {
		case "plan":
			if ev.Plan != nil {
				for _, s := range ev.Plan.Sources {
					if s.Host != "" {
						hostOf[s.Group] = s.Host
					}
				}
			}
		case "task-started":
			if _, ok := submitted[ev.Name]; !ok {
				submitted[ev.Name] = ev.Time
			}
		case "report":
			if err := json.Unmarshal(ev.Report, r); err != nil {
				return nil, nil, fmt.Errorf("line %d of the event stream: the report: %v", n, err)
			}
			found = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	if !found {
		return nil, nil, errors.New("the event stream has no report line: the run did not end, the output was cut short, or there was nothing to apply")
	}
	return hostOf, submitted, nil
}

// Bars returns the number of operations drawn.
func (t *Timeline) Bars() int {
	n := 0
	for _, l := range t.Lanes {
		n += len(l.Bars)
	}
	return n
}

// Describe says in a few words what the page shows.
func (t *Timeline) Describe() string {
	kind := "group"
	if t.ByHost {
		kind = "host"
	}
	lanes := 0
	for _, l := range t.Lanes {
		if l.Key != "" {
			lanes++
		}
	}
	return fmt.Sprintf("%d operation(s) in %d %s lane(s)", t.Bars(), lanes, kind)
}

//go:embed timeline.html.tmpl
var timelineHTML string

var timelineTmpl = template.Must(template.New("timeline").Parse(timelineHTML))

// Page geometry, in CSS pixels: the page fits a 1400-pixel-wide window.
const (
	tlLabelW   = 190  // lane labels
	tlChartW   = 1130 // the time axis
	tlRowH     = 18   // one row of bars
	tlRowGap   = 4
	tlLaneGap  = 10
	tlAxisH    = 28
	tlLaneMinH = 36 // room for a lane's two label lines
)

type tlView struct {
	T              *Timeline
	Title          string
	Duration       string
	Outcome        string
	OutcomeClass   string
	Settings       []tlSetting
	Counts         []tlSetting
	Width, Height  int
	ChartX, ChartW int
	Ticks          []tlTick
	Lanes          []tlLaneView
	Band           *tlBand
	Failures       []TimelineBar
	Rollback       []tlStepView
	RollbackLane   *tlLaneView
	HasSubmitted   bool
	HasQueued      bool
	LaneKind       string
}

type tlSetting struct{ Name, Value string }

type tlTick struct {
	X     float64
	Label string
}

type tlLaneView struct {
	Key, Label, Kind string
	Y, H, Rows       int
	AtOnce           int // the most operations that ran at the same time
	Odd              bool
	Bars             []tlBarView
}

type tlBarView struct {
	TimelineBar
	Class        string
	X, W, Y, H   float64
	WaitX, WaitW float64 // queued .. started, if known
	SubX         float64 // submitted, if known
	Label        string
	TextX, TextY float64
	MarkX, MarkY float64
	Tip          string
	Row          int
}

type tlBand struct {
	X, W, Y, H float64
	Label      string
}

type tlStepView struct {
	TimelineStep
	N int
}

// WriteTimelineHTML writes t as one self-contained HTML page: inline CSS
// and SVG, no scripts, nothing fetched.
func WriteTimelineHTML(w io.Writer, t *Timeline) error {
	v := layout(t)
	var b bytes.Buffer
	if err := timelineTmpl.Execute(&b, v); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}

func layout(t *Timeline) *tlView {
	total := t.Finished.Sub(t.Started)
	if total <= 0 {
		total = time.Millisecond
	}
	x := func(at time.Time) float64 {
		d := at.Sub(t.Started)
		return round1(float64(tlLabelW) + float64(tlChartW)*float64(d)/float64(total))
	}
	v := layoutHeader(t, total, x)
	y := tlAxisH
	lastEnd := t.Started
	for i, l := range t.Lanes {
		lv, end := layoutLane(v, l, i, y, x)
		lastEnd = later(lastEnd, end)
		y += lv.H + tlLaneGap
		v.Lanes = append(v.Lanes, lv)
	}
	if len(t.Rollback) > 0 {
		y = layoutRollback(v, y, lastEnd, x)
	}
	v.Height = y + 4
	return v
}

// layoutHeader makes the view with what is above the chart: the title,
// the execution settings, the counts by state and the time axis.
func layoutHeader(t *Timeline, total time.Duration, x func(time.Time) float64) *tlView {
	v := &tlView{T: t, Title: fmt.Sprintf("iclone-plan run %s of plan %s", t.Run, t.Plan),
		Duration: fmtDur(total), Outcome: t.Outcome, OutcomeClass: "outcome-" + t.Outcome,
		ChartX: tlLabelW, ChartW: tlChartW, Width: tlLabelW + tlChartW + 20, LaneKind: "group"}
	if t.ByHost {
		v.LaneKind = "host"
	}
	if e := t.Execution; e != nil {
		v.Settings = []tlSetting{
			{"parallelism", strconv.Itoa(e.Parallelism)},
			{"perHost", limit(e.PerHost)},
			{"perSource", limit(e.PerSource)},
			{"rate", rateText(e.Rate)},
			{"retries", strconv.Itoa(e.Retries)},
			{"onFailure", dash(e.OnFailure)},
		}
	}
	states := map[string]int{}
	for _, l := range t.Lanes {
		for _, b := range l.Bars {
			states[b.State]++
			if b.State == "failed" {
				v.Failures = append(v.Failures, b)
			}
		}
	}
	for _, s := range []string{"done", "failed", "rolled-back"} {
		if states[s] > 0 {
			v.Counts = append(v.Counts, tlSetting{s, strconv.Itoa(states[s])})
		}
	}
	if t.Skipped > 0 {
		v.Counts = append(v.Counts, tlSetting{"never started", strconv.Itoa(t.Skipped)})
	}
	for _, tk := range ticks(total) {
		v.Ticks = append(v.Ticks, tlTick{X: x(t.Started.Add(tk)), Label: fmtDur(tk)})
	}
	return v
}

// layoutLane places lane i's bars at height y and returns the lane's view
// and when its last operation ended. Operations that overlap in time go on
// separate rows: the rows a lane needs is the most it ran at once.
func layoutLane(v *tlView, l TimelineLane, i, y int, x func(time.Time) float64) (tlLaneView, time.Time) {
	lv := tlLaneView{Key: l.Key, Label: l.Label, Kind: v.LaneKind, Odd: i%2 == 1}
	if l.Key == "" {
		lv.Kind = "folders"
	}
	var lastEnd time.Time
	var rowEnd []float64
	for _, b := range l.Bars {
		start := b.Started
		if !b.Queued.IsZero() && b.Queued.Before(start) {
			start = b.Queued
			v.HasQueued = true
		}
		lastEnd = later(lastEnd, b.Finished)
		x0, x1 := x(start), x(b.Finished)
		w := max(x1-x0, 2)
		var row int
		rowEnd, row = pickRow(rowEnd, x0, w, l.Key == "")
		bv := layoutBar(v, b, x0, w, row, x)
		bv.place(bv.Row, y)
		lv.Bars = append(lv.Bars, bv)
	}
	lv.Rows = max(len(rowEnd), 1)
	lv.AtOnce = mostAtOnce(l.Bars)
	lv.Y, lv.H = y, max(lv.Rows*(tlRowH+tlRowGap)+tlRowGap, tlLaneMinH)
	return lv, lastEnd
}

// pickRow returns the first row free at x0 (a new one if none is) and
// marks it taken up to x0+w. Folders take milliseconds each, one after the
// other: they share one row.
func pickRow(rowEnd []float64, x0, w float64, folders bool) ([]float64, int) {
	row := -1
	if folders {
		row = 0
		if len(rowEnd) == 0 {
			rowEnd = append(rowEnd, 0)
		}
	}
	for r, end := range rowEnd {
		if row >= 0 {
			break
		}
		if end <= x0 {
			row = r
			break
		}
	}
	if row < 0 {
		row = len(rowEnd)
		rowEnd = append(rowEnd, 0)
	}
	rowEnd[row] = x0 + w
	return rowEnd, row
}

// layoutBar makes the view of one operation's bar: its wait for a slot,
// its task submission tick, its tooltip and a label where one fits.
func layoutBar(v *tlView, b TimelineBar, x0, w float64, row int, x func(time.Time) float64) tlBarView {
	bv := tlBarView{TimelineBar: b, Class: "bar op-" + b.Op + " state-" + b.State, X: x0, W: round1(w), H: tlRowH, Row: row}
	if !b.Queued.IsZero() && b.Queued.Before(b.Started) {
		bv.WaitX, bv.WaitW = x0, round1(x(b.Started)-x0)
	}
	if !b.Submitted.IsZero() && b.Submitted.After(b.Started) && b.Submitted.Before(b.Finished) {
		bv.SubX = x(b.Submitted)
		v.HasSubmitted = true
	}
	bv.Tip = barTip(b, v.T.Started)
	// A label fits at about 6.5 pixels a character: the clone's name, else
	// its group (which shows a source's clones in turn).
	fits := func(s string) bool { return s != "" && w >= float64(len(s))*6.5+8 }
	switch {
	case fits(b.Name):
		bv.Label = b.Name
	case fits(b.Group):
		bv.Label = b.Group
	}
	return bv
}

// layoutRollback adds the rollback lane at height y (a bar per step when
// the steps have times) and the band over the chart from when the last
// operation ended; it returns the height below it.
func layoutRollback(v *tlView, y int, lastEnd time.Time, x func(time.Time) float64) int {
	t := v.T
	rl := &tlLaneView{Key: "rollback", Label: fmt.Sprintf("rollback (%d steps)", len(t.Rollback)), Kind: "rollback", Y: y}
	if !t.Rollback[0].Started.IsZero() {
		for i, s := range t.Rollback {
			b := TimelineBar{Op: s.Op, Name: s.Name, VM: s.VM, Error: s.Error, Started: s.Started, Finished: s.Finished, State: "undo"}
			if s.Error != "" {
				b.State = "undo-failed"
			}
			x0 := x(s.Started)
			bv := tlBarView{TimelineBar: b, Class: "step state-" + b.State, X: x0, W: round1(max(x(s.Finished)-x0, 2)), H: tlRowH, Tip: barTip(b, t.Started)}
			bv.place(i%4, y)
			rl.Bars = append(rl.Bars, bv)
		}
		rl.Rows = min(len(t.Rollback), 4)
	} else {
		rl.Rows = 1
	}
	rl.H = rl.Rows*(tlRowH+tlRowGap) + tlRowGap
	y += rl.H + tlLaneGap
	v.RollbackLane = rl
	// The rollback starts once the operations in flight have ended.
	x0 := x(lastEnd)
	v.Band = &tlBand{X: x0, W: round1(max(float64(tlLabelW+tlChartW)-x0, 3)), Y: tlAxisH, H: float64(y - tlAxisH - tlLaneGap),
		Label: "rollback"}
	for i, s := range t.Rollback {
		v.Rollback = append(v.Rollback, tlStepView{TimelineStep: s, N: i + 1})
	}
	return y
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// mostAtOnce returns the most bars that ran (started to finished) at one
// instant.
func mostAtOnce(bars []TimelineBar) int {
	type edge struct {
		at time.Time
		d  int
	}
	var edges []edge
	for _, b := range bars {
		edges = append(edges, edge{b.Started, 1}, edge{b.Finished, -1})
	}
	// Ends sort before starts at the same instant: back to back is not at once.
	slices.SortFunc(edges, func(a, b edge) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.d - b.d
	})
	n, most := 0, 0
	for _, e := range edges {
		n += e.d
		most = max(most, n)
	}
	return most
}

// place puts the bar on row of the lane that starts at laneY.
func (b *tlBarView) place(row, laneY int) {
	b.Y = float64(laneY + tlRowGap + row*(tlRowH+tlRowGap))
	b.TextX, b.TextY = b.X+4, b.Y+13
	b.MarkX, b.MarkY = b.X+b.W, b.Y+tlRowH/2
}

func barTip(b TimelineBar, start time.Time) string {
	var s strings.Builder
	fmt.Fprintf(&s, "%s %s: %s\n", b.Op, b.Name, b.State)
	if !b.Queued.IsZero() {
		fmt.Fprintf(&s, "queued +%s\n", fmtDur(b.Queued.Sub(start)))
	}
	fmt.Fprintf(&s, "started +%s", fmtDur(b.Started.Sub(start)))
	if !b.Submitted.IsZero() {
		fmt.Fprintf(&s, ", task submitted +%s", fmtDur(b.Submitted.Sub(start)))
	}
	fmt.Fprintf(&s, ", ended +%s (%s)", fmtDur(b.Finished.Sub(start)), fmtDur(b.Finished.Sub(b.Started)))
	if b.VM != "" {
		fmt.Fprintf(&s, "\nVM %s", b.VM)
	}
	if len(b.Tasks) > 0 {
		fmt.Fprintf(&s, "\ntasks %s", strings.Join(b.Tasks, ", "))
	}
	if b.Attempts > 1 {
		fmt.Fprintf(&s, "\n%d attempts", b.Attempts)
	}
	if b.Error != "" {
		fault := ""
		if b.Fault != "" {
			fault = " [" + b.Fault + "]"
		}
		fmt.Fprintf(&s, "\nerror%s: %s", fault, b.Error)
	}
	return s.String()
}

// ticks returns about ten round offsets (1, 2 or 5 times a power of ten)
// across total.
func ticks(total time.Duration) []time.Duration {
	raw := float64(total) / 10
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	step := p
	for _, m := range []float64{1, 2, 5, 10} {
		if p*m >= raw {
			step = p * m
			break
		}
	}
	var out []time.Duration
	for d := 0.0; d <= float64(total)+1; d += step {
		out = append(out, time.Duration(d))
	}
	return out
}

// fmtDur prints a duration briefly: 0s, 350ms, 1.5s, 2m05s.
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Second:
		return strconv.FormatInt(d.Round(time.Millisecond).Milliseconds(), 10) + "ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Round(10*time.Millisecond).Seconds(), 'f', -1, 64) + "s"
	}
	d = d.Round(time.Second)
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

func limit(n int) string {
	if n <= 0 {
		return "no limit"
	}
	return strconv.Itoa(n)
}

func rateText(perSecond float64) string {
	switch {
	case perSecond <= 0:
		return "no limit"
	case perSecond >= 1:
		return strconv.FormatFloat(perSecond, 'f', -1, 64) + "/s"
	}
	return strconv.FormatFloat(perSecond*60, 'f', -1, 64) + "/m"
}
