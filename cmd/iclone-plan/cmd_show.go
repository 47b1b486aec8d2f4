package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/iclone-plan/iclone-plan/internal/executor"
	"github.com/iclone-plan/iclone-plan/internal/plan"
	"github.com/iclone-plan/iclone-plan/internal/ui"
)

func init() { register(newShowCmd) }

type showFlags struct {
	html    string
	noColor bool
}

func newShowCmd(a *app) *cobra.Command {
	f := &showFlags{}
	cmd := &cobra.Command{
		Use:   "show FILE",
		Short: "Show a saved plan or a run report",
		Long: `Show renders a file iclone-plan wrote, telling which kind it is by its
content: a saved plan (plan --out, or the output of plan --json) is shown as
plan showed it; a run report (apply --report), or the output of apply --json
which ends with it, as the summary apply printed, with the failures and
anything a failed rollback left behind. Nothing is read from vCenter and
nothing is changed.

With --html, show writes the run's timeline as one self-contained HTML page
(no network access): a lane per ESXi host, a bar per operation from when it
was queued, or started, to when it ended, failures and the rollback marked,
and the run's execution settings when the report has them. It shows what
bound the run: the rate, a host's slots, a source's stun. A report file does
not name the hosts (its lanes are then the plan's groups); the apply --json
output does, in its plan line, and also when each task was submitted. See
"Reading the timeline" in docs/operations.md.`,
		Example: `  # What did last night's run do?
  iclone-plan show /var/log/iclone-plan/lab.json

  # Its timeline, for sizing parallelism, perHost and rate
  iclone-plan show --html lab.html /var/log/iclone-plan/lab.json

  # The timeline by host, from apply's JSON event stream
  iclone-plan apply --auto-approve --json plans/lab.yaml > lab.jsonl
  iclone-plan show --html lab.html lab.jsonl

  # Review a saved plan again before applying it
  iclone-plan show lab.plan`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runShow(args[0], f)
		},
	}
	cmd.Flags().StringVar(&f.html, "html", "", "write the run's timeline (of a report or an apply --json stream) as a self-contained HTML page to `FILE`")
	cmd.Flags().BoolVar(&f.noColor, "no-color", false, "never colour the output")
	return cmd
}

func (a *app) runShow(path string, f *showFlags) error {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s does not exist", path)
		}
		return err
	}
	kind, err := showKind(path, data)
	if err != nil {
		return err
	}
	st := a.style(f.noColor)
	switch kind {
	case kindPlan:
		if f.html != "" {
			return fmt.Errorf("%s is a saved plan; --html draws the timeline of a run report (apply --report FILE)", path)
		}
		return a.showPlan(path, data, st)
	default:
		return a.showReport(path, data, f, st)
	}
}

const (
	kindPlan = iota + 1
	kindReport
	kindStream // apply --json output, which ends with the report
)

// isEventStream reports whether data starts with a line of apply --json.
func isEventStream(data []byte) bool {
	first, _, _ := bytes.Cut(bytes.TrimSpace(data), []byte("\n"))
	var ev struct {
		V    int    `json:"v"`
		Type string `json:"type"`
	}
	return json.Unmarshal(first, &ev) == nil && ev.V > 0 && ev.Type != ""
}

// streamReport returns the report line's report of an apply --json stream.
func streamReport(data []byte) ([]byte, error) {
	for line := range bytes.Lines(data) {
		var ev struct {
			Type   string          `json:"type"`
			Report json.RawMessage `json:"report"`
		}
		if json.Unmarshal(line, &ev) == nil && ev.Type == "report" && len(ev.Report) > 0 {
			return ev.Report, nil
		}
	}
	return nil, errors.New("the event stream has no report line: the run did not end, the output was cut short, or there was nothing to apply")
}

// showKind tells a saved plan from a run report by their keys, and says
// what else the file is not.
func showKind(path string, data []byte) (int, error) {
	what := func(why string) error {
		return fmt.Errorf("%s is neither a saved plan (iclone-plan plan --out FILE) nor a run report (iclone-plan apply --report FILE): %s", path, why)
	}
	if isEventStream(data) {
		return kindStream, nil
	}
	if !bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
		if _, err := plan.Parse(path, data); err == nil {
			return 0, what("it is a plan file; see what it would change with: iclone-plan plan " + path)
		}
		return 0, what("it is not a JSON object")
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(data, &keys); err != nil {
		return 0, what("it is not valid JSON (" + err.Error() + ")")
	}
	var format string
	_ = json.Unmarshal(keys["format"], &format)
	switch {
	case format == ui.PlanFormat:
		return kindPlan, nil
	case keys["run"] != nil && keys["outcome"] != nil && keys["actions"] != nil:
		return kindReport, nil
	case format != "":
		return 0, what(fmt.Sprintf("its format is %q", format))
	}
	return 0, what("it has neither the format key of a plan nor the run, outcome and actions keys of a report")
}

// showPlan renders a saved plan as plan did: the document carries every
// change with its reason, the sources and the folders; the plan text it
// carries (a plan --out file) gives the groups, and a plan --json document,
// which has no text, gets them from its changes.
func (a *app) showPlan(path string, data []byte, st ui.Style) error {
	var doc ui.PlanDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s is a saved plan but cannot be read: %v", path, err)
	}
	if doc.Version != ui.PlanVersion {
		return fmt.Errorf("%s is a saved plan of version %d; this iclone-plan reads version %d", path, doc.Version, ui.PlanVersion)
	}
	ch, err := changesOf(&doc)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	h := ui.PlanHeader{Plan: doc.Plan, File: doc.File, VCenter: doc.VCenter}
	if err := ui.RenderPlan(a.stdout, h, ch, st); err != nil {
		return err
	}
	if doc.PlanSource != "" {
		// As plan --out said when it saved the file.
		fmt.Fprintf(a.stdout, "\nSaved the plan to %s. Apply it with: iclone-plan apply %s\n", path, path)
	}
	return nil
}

// changesOf rebuilds what RenderPlan needs from a plan document.
func changesOf(doc *ui.PlanDoc) (*plan.Changes, error) {
	p := &plan.Plan{Name: doc.Plan}
	if doc.PlanSource != "" {
		var err error
		if p, err = plan.Parse(doc.File, []byte(doc.PlanSource)); err != nil {
			return nil, fmt.Errorf("the plan text it holds is not valid: %w", err)
		}
	}
	ch := &plan.Changes{Plan: p, Datacenter: doc.Datacenter, Sources: map[string]plan.Source{},
		Folders: doc.Folders, Warnings: doc.Warnings, Fingerprint: doc.Fingerprint, Now: doc.CreatedAt}
	count := map[string]int{}
	for _, c := range doc.Changes {
		act, ok := actionNamed(c.Action)
		if !ok {
			return nil, fmt.Errorf("change %q has an unknown action %q", c.Name, c.Action)
		}
		ch.Items = append(ch.Items, plan.Change{Action: act, Reason: c.Reason, Group: c.Group, Index: c.Index, Name: c.Name,
			Kind: plan.Kind(c.Kind), Fields: c.Fields})
		if act != plan.Destroy {
			count[c.Group] = max(count[c.Group], c.Index)
		}
	}
	for _, s := range doc.Sources {
		if doc.PlanSource == "" {
			p.Groups = append(p.Groups, &plan.Group{Name: s.Group, Source: s.Path, Count: count[s.Group]})
		}
		if !s.Missing {
			ch.Sources[s.Path] = plan.Source{Path: s.Path, Ref: s.Ref, HostName: s.Host, PowerState: s.PowerState,
				Frozen: s.Frozen, ChainDepth: s.ChainDepth, Clones: s.Clones, After: s.ChainAfter}
		}
	}
	return ch, nil
}

func actionNamed(name string) (plan.Action, bool) {
	for _, a := range []plan.Action{plan.Create, plan.Replace, plan.Destroy, plan.NoOp, plan.Conflict} {
		if a.String() == name {
			return a, true
		}
	}
	return 0, false
}

// showReport prints a run report's summary as apply did and, with --html,
// writes its timeline.
func (a *app) showReport(path string, data []byte, f *showFlags, st ui.Style) error {
	doc := data
	if isEventStream(data) {
		var err error
		if doc, err = streamReport(data); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	var rep executor.Report
	if err := json.Unmarshal(doc, &rep); err != nil {
		return fmt.Errorf("%s is a run report but cannot be read: %v", path, err)
	}
	fmt.Fprintf(a.stdout, "Run %s of plan %q, %s to %s: %s.\n", rep.Run, rep.Plan,
		rep.Started.UTC().Format(time.RFC3339), rep.Finished.UTC().Format(time.RFC3339), actionStates(&rep))
	ui.RenderReport(a.stdout, &rep, st)
	if f.html == "" {
		return nil
	}
	tl, err := ui.ParseTimeline(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := writeFileAtomic(f.html, 0o600, func(w io.Writer) error { return ui.WriteTimelineHTML(w, tl) }); err != nil {
		return fmt.Errorf("writing the timeline %s: %w", f.html, err)
	}
	fmt.Fprintf(a.stdout, "Wrote the run's timeline to %s (%s).\n", f.html, tl.Describe())
	return nil
}

// actionStates counts a report's actions by state: "8 action(s): 5
// rolled-back, 1 failed, 2 skipped".
func actionStates(rep *executor.Report) string {
	n := map[string]int{}
	var extra []string
	for _, a := range rep.Actions {
		st := string(a.State)
		if n[st] == 0 && !slices.Contains(reportStates, st) {
			extra = append(extra, st)
		}
		n[st]++
	}
	slices.Sort(extra)
	var parts []string
	for _, st := range append(slices.Clone(reportStates), extra...) {
		if n[st] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[st], st))
		}
	}
	s := fmt.Sprintf("%d action(s)", len(rep.Actions))
	if len(parts) > 0 {
		s += ": " + strings.Join(parts, ", ")
	}
	return s
}

// reportStates are the states of a finished run's actions, in the order
// show lists them.
var reportStates = []string{"done", "failed", "rolled-back", "skipped"}
