package ui

import (
	"fmt"
	"io"
	"strings"

	"github.com/iclone-plan/iclone-plan/internal/plan"
)

// RenderSummary writes what `iclone-plan validate` prints for a valid plan: a
// headline with the file, plan name and totals, then one line per group with
// its clone count and first and last clone names.
//
//	lab.yaml: plan "lab" is valid: 2 groups, 24 clones
//	  web  20 clones  lab-web-01 .. lab-web-20
//	  db    4 clones  lab-db-1 .. lab-db-4
func RenderSummary(w io.Writer, p *plan.Plan) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: plan %q is valid: %s, %s\n", p.File, p.Name, plural(len(p.Groups), "group"), plural(p.NumClones(), "clone"))
	nameW, countW := 0, 0
	for _, g := range p.Groups {
		nameW = max(nameW, len(g.Name))
		countW = max(countW, len(fmt.Sprint(len(g.Clones))))
	}
	for _, g := range p.Groups {
		n := len(g.Clones)
		line := fmt.Sprintf("  %-*s  %*d %-6s", nameW, g.Name, countW, n, strings.TrimPrefix(plural(n, "clone"), fmt.Sprint(n)+" "))
		switch n {
		case 0:
		case 1:
			line += "  " + g.Clones[0].Name
		default:
			line += fmt.Sprintf("  %s .. %s", g.Clones[0].Name, g.Clones[n-1].Name)
		}
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
