package ui

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/iclone-plan/iclone-plan/internal/inventory"
	"github.com/iclone-plan/iclone-plan/internal/plan"
)

// StatusFormat identifies the JSON status document.
const (
	StatusFormat  = "iclone-plan/status"
	StatusVersion = 1
)

// StatusDoc is the machine form of status: every VM the plan owns, with
// its age, power state, MACs and drift from the plan.
type StatusDoc struct {
	Format     string        `json:"format"`
	Version    int           `json:"version"`
	Plan       string        `json:"plan"`
	VCenter    string        `json:"vcenter"`
	Datacenter string        `json:"datacenter"`
	ReadAt     time.Time     `json:"readAt"`
	Clones     []CloneStatus `json:"clones"`
	// Missing lists the plan's clones that do not exist.
	Missing []string `json:"missing"`
	// Sources holds each source's delta-chain budget.
	Sources []SourceStatus `json:"sources"`
}

// SourceStatus is a source's delta-chain budget: how many full rebuilds of
// the plan (every clone of the source made again, as a nightly maxAge or
// --replace-all run does) fit before vSphere's limit.
type SourceStatus struct {
	Path    string `json:"path"`
	Frozen  bool   `json:"frozen,omitempty"`
	Missing bool   `json:"missing,omitempty"`
	// PowerState is the source's power state ("poweredOn", "poweredOff",
	// "suspended"); instant clones need it running or frozen.
	PowerState string `json:"powerState,omitempty"`
	ChainDepth int    `json:"chainDepth"`
	// ClonesPerRun is the number of the plan's clones made from the source.
	ClonesPerRun int `json:"clonesPerRun"`
	// RunsLeft is how many full rebuilds still fit; -1 for a frozen source,
	// whose chain does not grow.
	RunsLeft int `json:"runsLeft"`
}

// CloneStatus is one owned VM.
type CloneStatus struct {
	Name       string   `json:"name"`
	Path       string   `json:"path"`
	Ref        string   `json:"ref"`
	Group      string   `json:"group"`
	Index      int      `json:"index"`
	Created    string   `json:"created,omitempty"`
	AgeSeconds int64    `json:"ageSeconds,omitempty"`
	PowerState string   `json:"powerState"`
	MACs       []string `json:"macs"`
	Run        string   `json:"run,omitempty"`
	// Drift is "in sync", or what apply would do and why.
	Drift string `json:"drift"`
	// Fields lists what a replace would change, field by field.
	Fields []plan.FieldChange `json:"fields,omitempty"`
}

// NewStatusDoc builds the status of the VMs ch's plan owns.
func NewStatusDoc(h PlanHeader, ch *plan.Changes) *StatusDoc {
	d := &StatusDoc{Format: StatusFormat, Version: StatusVersion, Plan: h.Plan, VCenter: h.VCenter,
		Datacenter: ch.Datacenter, ReadAt: ch.Now.UTC(), Clones: []CloneStatus{}, Missing: []string{}}
	for _, it := range ch.Items {
		if it.Current == nil {
			if it.Action == plan.Create {
				d.Missing = append(d.Missing, it.Name)
			}
			continue
		}
		vm := it.Current
		cs := CloneStatus{Name: vm.Name, Path: vm.Path, Ref: vm.Ref, Group: vm.Markers[inventory.MarkerGroup],
			PowerState: vm.PowerState, Run: vm.Markers[inventory.MarkerRun], MACs: []string{}, Drift: "in sync"}
		cs.Index, _ = strconv.Atoi(vm.Markers[inventory.MarkerIndex])
		if t, err := time.Parse(time.RFC3339, vm.Markers[inventory.MarkerCreated]); err == nil {
			cs.Created = t.UTC().Format(time.RFC3339)
			cs.AgeSeconds = int64(ch.Now.Sub(t) / time.Second)
		}
		for _, n := range vm.NICs {
			mac := n.MAC
			if !n.Connected {
				mac += " (disconnected)"
			}
			cs.MACs = append(cs.MACs, mac)
		}
		if it.Action != plan.NoOp || it.Kind == plan.KindBlocked {
			cs.Drift = it.Action.String()
			if it.Kind == plan.KindBlocked {
				cs.Drift = it.Reason
			} else if it.Reason != "" {
				cs.Drift += ": " + it.Reason
			}
			cs.Fields = it.Fields
			if it.Kind == plan.KindSpec && len(it.Fields) > 0 {
				var names []string
				for _, f := range it.Fields {
					names = append(names, f.Field)
				}
				cs.Drift += " (" + strings.Join(names, ", ") + ")"
			}
		}
		d.Clones = append(d.Clones, cs)
	}
	slices.SortFunc(d.Clones, func(a, b CloneStatus) int { return strings.Compare(a.Path, b.Path) })

	perSource := map[string]int{}
	var order []string
	for _, g := range ch.Plan.Groups {
		if _, seen := perSource[g.Source]; !seen {
			order = append(order, g.Source)
		}
		perSource[g.Source] += g.Count
	}
	d.Sources = []SourceStatus{}
	for _, path := range order {
		src, ok := ch.Sources[path]
		ss := SourceStatus{Path: path, Missing: !ok, Frozen: src.Frozen, PowerState: src.PowerState, ChainDepth: src.ChainDepth, ClonesPerRun: perSource[path], RunsLeft: -1}
		if ok && !src.Frozen && ss.ClonesPerRun > 0 {
			ss.RunsLeft = max(plan.MaxChainDepth-src.ChainDepth, 0) / ss.ClonesPerRun
		}
		d.Sources = append(d.Sources, ss)
	}
	return d
}

// RenderStatus writes the status as a table.
func RenderStatus(w io.Writer, d *StatusDoc, st Style) error {
	bw := &errWriter{w: w}
	fmt.Fprintf(bw, "Plan %q on vCenter %s, datacenter %s: %d clone(s) owned, %d missing\n\n", d.Plan, d.VCenter, d.Datacenter, len(d.Clones), len(d.Missing))
	if len(d.Clones) > 0 {
		tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tGROUP\tINDEX\tAGE\tPOWER\tMACS\tDRIFT")
		for _, c := range d.Clones {
			age := "-"
			if c.Created != "" {
				age = FormatAge(time.Duration(c.AgeSeconds) * time.Second)
			}
			drift := c.Drift
			if drift != "in sync" {
				drift = st.paint(ansiYellow, drift)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", c.Name, dash(c.Group), c.Index, age, c.PowerState, strings.Join(c.MACs, ","), drift)
		}
		tw.Flush()
	}
	if len(d.Missing) > 0 {
		fmt.Fprintf(bw, "\nMissing (apply creates them): %s\n", strings.Join(d.Missing, ", "))
	}
	if len(d.Sources) > 0 {
		fmt.Fprintf(bw, "\nSources (delta chains; vSphere stops at %d levels):\n", plan.MaxChainDepth)
		tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  SOURCE\tSTATE\tCHAIN\tCLONES/RUN\tFULL REBUILDS LEFT")
		for _, s := range d.Sources {
			state, left := "running", fmt.Sprint(s.RunsLeft)
			switch {
			case s.Missing:
				state, left = "missing", "-"
			case s.Frozen:
				state, left = "frozen", "unlimited"
			case s.PowerState != "" && s.PowerState != "poweredOn":
				// Not cloneable until it runs: say so, in the colour of a problem.
				state = st.paint(ansiYellow, s.PowerState+" (instant clone needs it running or frozen)")
			case s.ClonesPerRun == 0:
				left = "-"
			case s.RunsLeft < 10:
				left = st.paint(ansiYellow, left)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%s\n", s.Path, state, s.ChainDepth, s.ClonesPerRun, left)
		}
		tw.Flush()
	}
	return bw.err
}

// FormatAge renders a duration the way people read ages: "45s", "12m",
// "5h12m", "3d4h".
func FormatAge(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd%dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}
