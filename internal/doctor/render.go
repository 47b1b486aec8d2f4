package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Render writes the report as a table of checks, each failure and warning
// followed by what to do, and a summary line.
func Render(w io.Writer, r *Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Doctor of plan %q (%s) against vCenter %s", r.Plan, r.File, r.VCenter)
	if r.Datacenter != "" {
		fmt.Fprintf(&b, ", datacenter %s", r.Datacenter)
	}
	b.WriteString("\n")
	if a := r.About; a != nil {
		fmt.Fprintf(&b, "%s (version %s, build %s, API %s)\n", a.FullName, a.Version, a.Build, a.APIVersion)
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tCHECK\tSUBJECT\tDETAIL")
	for _, c := range r.Checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Status, c.Name, orDash(c.Subject), oneLine(c.Detail))
		if c.Fix != "" && (c.Status == Fail || c.Status == Warn) {
			fmt.Fprintf(tw, "\t\t\t-> %s\n", oneLine(c.Fix))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	n := r.Counts()
	fmt.Fprintf(&b, "\n%d ok, %d warn, %d fail, %d skipped.", n[OK], n[Warn], n[Fail], n[Skipped])
	switch {
	case r.Interrupted:
		b.WriteString(" Interrupted: the canaries were cleaned up.\n")
	case r.Passed:
		b.WriteString(" This vCenter meets everything the plan's apply depends on.\n")
	default:
		b.WriteString(" Fix the failed checks before applying this plan.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report as one indented JSON document.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps a table row on one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
