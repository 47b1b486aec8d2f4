package plan

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// matchAny reports whether name matches one of the glob patterns
// (path.Match syntax: *, ?, [a-z]).
func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// CheckSelection checks the --replace patterns and --target groups against
// the plan: a malformed pattern, a pattern that matches none of the plan's
// clones, or a group the plan does not have is an error that says what the
// plan has.
func (p *Plan) CheckSelection(replace, target []string) error {
	var errs []string
	for _, pat := range replace {
		if _, err := path.Match(pat, ""); err != nil {
			errs = append(errs, fmt.Sprintf("--replace %q is not a valid pattern: %v (use * and ? as in a shell)", pat, err))
			continue
		}
		found := false
		for c := range p.Clones() {
			if ok, _ := path.Match(pat, c.Name); ok {
				found = true
				break
			}
		}
		if !found {
			errs = append(errs, fmt.Sprintf("--replace %q matches none of the plan's clones (see iclone-plan status for their names)", pat))
		}
	}
	var groups []string
	for _, g := range p.Groups {
		groups = append(groups, g.Name)
	}
	for _, t := range target {
		if !slices.Contains(groups, t) {
			errs = append(errs, fmt.Sprintf("--target %q is not a group of plan %q (its groups: %s)", t, p.Name, strings.Join(groups, ", ")))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return nil
}

// Untargeted is a group that --target left out: its clones and what was
// not done to them.
type Untargeted struct {
	Group string
	// Clones is how many clones of the group the inventory or the plan has
	// (the changes about it, no-ops included).
	Clones int
	// Changes is how many of those would have been a create, replace or
	// destroy, or a conflict.
	Changes int
}

// Target restricts ch to the changes of the named groups (--target): every
// other change is dropped, and the folders only those groups need are
// kept. What an interrupted run left with no group (debris whose markers
// name no slot) is left too. It returns the groups left out, in order, so
// that the output can say they were not targeted. An empty groups list
// leaves ch whole.
func Target(ch *Changes, groups []string) []Untargeted {
	if len(groups) == 0 {
		return nil
	}
	var out []Untargeted
	byGroup := map[string]int{}
	keep := ch.Items[:0:0]
	for _, it := range ch.Items {
		if slices.Contains(groups, it.Group) {
			keep = append(keep, it)
			continue
		}
		name := it.Group
		if name == "" {
			name = "(no group)"
		}
		i, ok := byGroup[name]
		if !ok {
			i = len(out)
			byGroup[name] = i
			out = append(out, Untargeted{Group: name})
		}
		out[i].Clones++
		if it.Action != NoOp {
			out[i].Changes++
		}
	}
	ch.Items = keep
	needed := map[string]bool{}
	for _, it := range keep {
		if it.Clone != nil {
			for f := CloneFolder(ch.Datacenter, it.Clone); strings.Count(f, "/") > 2; f = path.Dir(f) {
				needed[f] = true
			}
		}
	}
	folders := ch.Folders[:0:0]
	for _, f := range ch.Folders {
		if needed[f] {
			folders = append(folders, f)
		}
	}
	ch.Folders = folders
	return out
}
