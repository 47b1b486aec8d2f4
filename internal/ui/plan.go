// Package ui renders plans, status and run reports for people (text with
// optional colour) and for programs (versioned JSON). Core packages never
// print; the CLI passes their values here.
package ui

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/iclone-plan/iclone-plan/internal/plan"
)

// Style says how to render text output.
type Style struct {
	// Color enables ANSI colours; set it only when writing to a terminal.
	Color bool
	// Detail lists, under each clone of a plan, the values it gets: MACs
	// per adapter (auto ones marked), networks, serial files, guestinfo
	// and extraConfig (plan --detail).
	Detail bool
	// ShowUnchanged lists the unchanged clones of a plan, which are
	// otherwise only counted per group (plan --show-unchanged).
	ShowUnchanged bool
}

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiDim    = "\x1b[2m"
)

func (s Style) paint(code, text string) string {
	if !s.Color || text == "" {
		return text
	}
	return code + text + ansiReset
}

func (s Style) action(a plan.Action) string {
	sym := a.Symbol()
	switch a {
	case plan.Create:
		return s.paint(ansiGreen, sym)
	case plan.Destroy:
		return s.paint(ansiRed, sym)
	case plan.Replace:
		return s.paint(ansiYellow, sym)
	case plan.Conflict:
		return s.paint(ansiBold+ansiRed, sym)
	}
	return sym
}

// PlanHeader identifies what a plan was computed against.
type PlanHeader struct {
	Plan    string // plan name
	File    string // plan file
	VCenter string // host:port, never with credentials
}

// RenderPlan writes the human form of a plan: the sources, folders to
// create, one line per clone with its action and reason, per-group counts,
// and the summary line ("Plan: 12 to create, 2 to replace, 1 to destroy.").
func RenderPlan(w io.Writer, h PlanHeader, ch *plan.Changes, st Style) error {
	bw := &errWriter{w: w}
	fmt.Fprintf(bw, "Plan %q (%s) against vCenter %s, datacenter %s\n\n", h.Plan, h.File, h.VCenter, ch.Datacenter)

	if len(ch.Sources) > 0 {
		fmt.Fprintln(bw, "Sources:")
		tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  GROUP\tSOURCE\tHOST\tSTATE\tCHAIN\tAFTER")
		for _, g := range ch.Plan.Groups {
			s, ok := ch.Sources[g.Source]
			if !ok {
				fmt.Fprintf(tw, "  %s\t%s\t-\tmissing\t-\t-\n", g.Name, g.Source)
				continue
			}
			state := s.PowerState
			if s.Frozen {
				state = "frozen"
			}
			after := fmt.Sprintf("%d/%d", s.After, plan.MaxChainDepth)
			if s.After > plan.MaxChainDepth {
				after = st.paint(ansiBold+ansiRed, after)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\t%s\n", g.Name, s.Path, dash(s.HostName), state, s.ChainDepth, after)
		}
		tw.Flush()
		fmt.Fprintln(bw)
	}

	if len(ch.Warnings) > 0 {
		fmt.Fprintln(bw, st.paint(ansiYellow, "Warnings:"))
		for _, w := range ch.Warnings {
			fmt.Fprintf(bw, "  %s\n", w)
		}
		fmt.Fprintln(bw)
	}

	if conflicts := ch.Conflicts(); len(conflicts) > 0 {
		fmt.Fprintln(bw, st.paint(ansiBold+ansiRed, "Conflicts (the plan cannot be applied until they are resolved):"))
		for _, c := range conflicts {
			fmt.Fprintf(bw, "  %s %s: %s\n", st.action(plan.Conflict), c.Name, c.Reason)
		}
		fmt.Fprintln(bw)
	}

	if len(ch.Folders) > 0 {
		fmt.Fprintln(bw, "Folders to create:")
		for _, f := range ch.Folders {
			fmt.Fprintf(bw, "  %s %s\n", st.action(plan.Create), f)
		}
		fmt.Fprintln(bw)
	}

	// Clones by group, in plan order; then what the plan no longer has.
	byGroup := map[string][]plan.Change{}
	var destroys []plan.Change
	for _, it := range ch.Items {
		switch {
		case it.Action == plan.Conflict && it.Index == 0:
			// a source conflict, listed above
		case it.Action == plan.Destroy && !inPlan(ch.Plan, it.Group, it.Index):
			destroys = append(destroys, it)
		default:
			byGroup[it.Group] = append(byGroup[it.Group], it)
		}
	}
	for _, g := range ch.Plan.Groups {
		items := byGroup[g.Name]
		if len(items) == 0 {
			continue
		}
		slices.SortStableFunc(items, func(a, b plan.Change) int { return a.Index - b.Index })
		fmt.Fprintf(bw, "Group %s (%d clones from %s): %s\n", g.Name, g.Count, g.Source, groupCounts(items))
		if !st.ShowUnchanged {
			items = slices.DeleteFunc(items, func(it plan.Change) bool { return it.Action == plan.NoOp && it.Kind != plan.KindBlocked })
		}
		writeItems(bw, items, st, g)
		fmt.Fprintln(bw)
	}
	if len(destroys) > 0 {
		fmt.Fprintln(bw, "No longer in the plan:")
		writeItems(bw, destroys, st, nil)
		fmt.Fprintln(bw)
	}

	fmt.Fprintln(bw, SummaryLine(ch))
	return bw.err
}

// inPlan reports whether the plan has a clone at (group, index).
func inPlan(p *plan.Plan, group string, index int) bool {
	g := p.Group(group)
	return g != nil && index >= 1 && index <= g.Count
}

// writeItems writes one line per change, then, indented under it, what a
// replace changes field by field and, with st.Detail, the values the clone
// gets. g is the items' group (nil for what the plan no longer has).
func writeItems(w io.Writer, items []plan.Change, st Style, g *plan.Group) {
	width := 0
	for _, it := range items {
		width = max(width, len(it.Name))
	}
	for _, it := range items {
		sym := st.action(it.Action)
		pad := strings.Repeat(" ", 3-len(it.Action.Symbol()))
		line := "  " + pad + sym + " " + it.Name
		if it.Reason != "" {
			line += strings.Repeat(" ", width-len(it.Name)) + "  " + st.paint(ansiDim, "("+it.Reason+")")
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
		for _, f := range it.Fields {
			fmt.Fprintf(w, "        %s: %s → %s\n", f.Field, f.Before, f.After)
		}
		if st.Detail && it.Clone != nil && it.Action != plan.Conflict {
			writeDetail(w, it.Clone, g)
		}
	}
}

// writeDetail lists the rendered values of a clone (plan --detail).
func writeDetail(w io.Writer, c *plan.Clone, g *plan.Group) {
	auto := map[int]bool{}
	if g != nil {
		for _, n := range g.NICs {
			auto[n.Adapter] = n.Auto
		}
	}
	for _, n := range c.NICs {
		line := fmt.Sprintf("        adapter %d: MAC %s", n.Adapter, n.MAC)
		if auto[n.Adapter] {
			line += " (auto)"
		}
		if n.Network != "" {
			line += ", network " + n.Network
		} else {
			line += ", the source's network"
		}
		fmt.Fprintln(w, line)
	}
	for _, sp := range c.Serial {
		fmt.Fprintf(w, "        serial port %d: %s\n", sp.Port, sp.File)
	}
	for _, k := range slices.Sorted(maps.Keys(c.ExtraConfig)) {
		fmt.Fprintf(w, "        %s = %s\n", k, c.ExtraConfig[k])
	}
}

func groupCounts(items []plan.Change) string {
	n := map[plan.Action]int{}
	blocked := 0
	for _, it := range items {
		if it.Kind == plan.KindBlocked {
			blocked++
			continue
		}
		n[it.Action]++
	}
	var parts []string
	if blocked > 0 {
		parts = append(parts, fmt.Sprintf("%d blocked by the source", blocked))
	}
	for _, a := range []struct {
		a    plan.Action
		verb string
	}{{plan.Create, "to create"}, {plan.Replace, "to replace"}, {plan.Destroy, "to destroy"}, {plan.NoOp, "unchanged"}, {plan.Conflict, "in conflict"}} {
		if n[a.a] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[a.a], a.verb))
		}
	}
	return strings.Join(parts, ", ")
}

// SummaryLine returns "Plan: N to create, N to replace, N to destroy." or
// "No changes. ..." when there is nothing to do.
func SummaryLine(ch *plan.Changes) string {
	if c := len(ch.Conflicts()); c > 0 {
		return fmt.Sprintf("Plan: %d conflict(s); nothing can be applied until they are resolved.", c)
	}
	if !ch.HasChanges() {
		return fmt.Sprintf("No changes. The inventory matches the plan (%d clones).", ch.Count(plan.NoOp))
	}
	s := fmt.Sprintf("Plan: %d to create, %d to replace, %d to destroy.", ch.Count(plan.Create), ch.Count(plan.Replace), ch.Count(plan.Destroy))
	if len(ch.Folders) > 0 {
		s += fmt.Sprintf(" %d folder(s) to create.", len(ch.Folders))
	}
	return s
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// errWriter remembers the first write error so renderers can write freely
// and report once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return len(p), nil
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, nil
}

// PlanFormat identifies the JSON plan document; PlanVersion is its version,
// raised on incompatible changes.
const (
	PlanFormat  = "iclone-plan/plan"
	PlanVersion = 1
)

// PlanDoc is the machine form of a plan (plan --json) and the body of a
// saved plan (plan --out).
type PlanDoc struct {
	Format      string         `json:"format"`
	Version     int            `json:"version"`
	Plan        string         `json:"plan"`
	File        string         `json:"file"`
	VCenter     string         `json:"vcenter"`
	Datacenter  string         `json:"datacenter"`
	Fingerprint string         `json:"fingerprint"`
	CreatedAt   time.Time      `json:"createdAt"`
	Summary     map[string]int `json:"summary"`
	Sources     []SourceDoc    `json:"sources"`
	Folders     []string       `json:"folders"`
	Warnings    []string       `json:"warnings"`
	Changes     []ChangeDoc    `json:"changes"`
	// PlanSource holds the plan file's text in a saved plan, so apply runs
	// exactly the plan that was reviewed.
	PlanSource string `json:"planSource,omitempty"`
	// PlanSHA256 is the hash of PlanSource.
	PlanSHA256 string `json:"planSha256,omitempty"`
	// ReplaceAll records plan --replace-all.
	ReplaceAll bool `json:"replaceAll,omitempty"`
	// Replace records plan --replace: the clone-name patterns replaced
	// even if unchanged.
	Replace []string `json:"replace,omitempty"`
	// Target records plan --target: the only groups the plan covers.
	Target []string `json:"target,omitempty"`
	// NotTargeted lists the groups --target left out, and what was not
	// done to them.
	NotTargeted []NotTargetedDoc `json:"notTargeted,omitempty"`
}

// NotTargetedDoc is a group --target left out.
type NotTargetedDoc struct {
	Group   string `json:"group"`
	Clones  int    `json:"clones"`
	Changes int    `json:"changes"`
}

// NotTargeted converts the planner's list of groups --target left out.
func NotTargeted(groups []plan.Untargeted) []NotTargetedDoc {
	var out []NotTargetedDoc
	for _, g := range groups {
		out = append(out, NotTargetedDoc{Group: g.Group, Clones: g.Clones, Changes: g.Changes})
	}
	return out
}

// SourceDoc is one group's source in a PlanDoc.
type SourceDoc struct {
	Group      string `json:"group"`
	Path       string `json:"path"`
	Ref        string `json:"ref,omitempty"`
	Host       string `json:"host,omitempty"`
	PowerState string `json:"powerState,omitempty"`
	Frozen     bool   `json:"frozen,omitempty"`
	ChainDepth int    `json:"chainDepth"`
	Clones     int    `json:"clones"`
	ChainAfter int    `json:"chainAfter"`
	Missing    bool   `json:"missing,omitempty"`
}

// ChangeDoc is one change in a PlanDoc.
type ChangeDoc struct {
	Action  string   `json:"action"`
	Symbol  string   `json:"symbol"`
	Group   string   `json:"group,omitempty"`
	Index   int      `json:"index,omitempty"`
	Name    string   `json:"name"`
	Reason  string   `json:"reason,omitempty"`
	Current *VMDoc   `json:"current,omitempty"`
	MACs    []string `json:"macs,omitempty"`
	Spec    string   `json:"spec,omitempty"`
	// Kind is the typed reason of a replace or destroy (plan.Kind).
	Kind string `json:"kind,omitempty"`
	// Fields lists what a replace changes, field by field.
	Fields []plan.FieldChange `json:"fields,omitempty"`
}

// VMDoc identifies an existing VM.
type VMDoc struct {
	Ref  string `json:"ref"`
	Path string `json:"path"`
}

// NewPlanDoc builds the machine form of ch.
func NewPlanDoc(h PlanHeader, ch *plan.Changes) *PlanDoc {
	d := &PlanDoc{
		Format: PlanFormat, Version: PlanVersion,
		Plan: h.Plan, File: h.File, VCenter: h.VCenter,
		Datacenter: ch.Datacenter, Fingerprint: ch.Fingerprint, CreatedAt: ch.Now.UTC(),
		Summary: map[string]int{
			"create": ch.Count(plan.Create), "replace": ch.Count(plan.Replace), "destroy": ch.Count(plan.Destroy),
			"noop": ch.Count(plan.NoOp), "conflict": ch.Count(plan.Conflict), "folders": len(ch.Folders),
		},
		Folders:  append([]string{}, ch.Folders...),
		Warnings: append([]string{}, ch.Warnings...),
		Changes:  []ChangeDoc{},
		Sources:  []SourceDoc{},
	}
	for _, g := range ch.Plan.Groups {
		s, ok := ch.Sources[g.Source]
		d.Sources = append(d.Sources, SourceDoc{Group: g.Name, Path: g.Source, Ref: s.Ref, Host: s.HostName,
			PowerState: s.PowerState, Frozen: s.Frozen, ChainDepth: s.ChainDepth, Clones: s.Clones, ChainAfter: s.After, Missing: !ok})
	}
	for _, it := range ch.Items {
		c := ChangeDoc{Action: it.Action.String(), Symbol: it.Action.Symbol(), Group: it.Group, Index: it.Index, Name: it.Name, Reason: it.Reason,
			Kind: string(it.Kind), Fields: it.Fields}
		if it.Current != nil {
			c.Current = &VMDoc{Ref: it.Current.Ref, Path: it.Current.Path}
		}
		if it.Clone != nil {
			c.Spec = it.Clone.SpecHash()
			for _, n := range it.Clone.NICs {
				c.MACs = append(c.MACs, n.MAC)
			}
		}
		d.Changes = append(d.Changes, c)
	}
	return d
}

// WriteJSON writes v as indented JSON followed by a newline.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
