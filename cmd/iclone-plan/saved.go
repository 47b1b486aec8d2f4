package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/iclone-plan/iclone-plan/internal/ui"
)

// checkSavedPlan refuses a saved plan whose reviewed content is not what
// applying it would do now: the plan text it carries names another plan
// than the one it was saved for, or the changes it showed are not the
// changes that text makes against the inventory. The text's hash proves
// only that the text is intact, not that it is the text that was reviewed.
// Nor is a plan reviewed against one vCenter applied to another, however
// alike their inventories. The inventory's own changes are caught before,
// by the fingerprint.
func checkSavedPlan(path string, saved, now *ui.PlanDoc) error {
	if saved.Plan != now.Plan || saved.Datacenter != now.Datacenter {
		return fmt.Errorf("%s was saved for plan %q in %s but holds plan %q in %s; the file was edited or damaged: plan again",
			path, saved.Plan, saved.Datacenter, now.Plan, now.Datacenter)
	}
	if saved.VCenter != now.VCenter {
		return fmt.Errorf("%s was saved against vCenter %s, not %s; nothing was applied: plan again against this vCenter and review the new plan",
			path, saved.VCenter, now.VCenter)
	}
	key := func(c ui.ChangeDoc) string {
		cur := ""
		if c.Current != nil {
			cur = c.Current.Ref
		}
		return fmt.Sprintf("%s %s %s/%d %s %s %s", c.Action, c.Name, c.Group, c.Index, cur, c.Spec, strings.Join(c.MACs, ","))
	}
	var a, b []string
	for _, c := range saved.Changes {
		a = append(a, key(c))
	}
	for _, c := range now.Changes {
		b = append(b, key(c))
	}
	slices.Sort(a)
	slices.Sort(b)
	if !slices.Equal(a, b) || !slices.Equal(saved.Folders, now.Folders) {
		return fmt.Errorf("%s: the changes it shows are not the changes its plan makes now (the file was edited or damaged); nothing was applied: plan again and review the new plan", path)
	}
	return nil
}
