package plan

import (
	"fmt"
	"strings"
	"testing"
)

// --replace patterns replace exactly the clones they match, and --target
// keeps exactly the changes (and folders) of its groups.
func TestReplaceAndTarget(t *testing.T) {
	p := mustParse(t, diffPlan)
	for _, tc := range []struct {
		name       string
		replace    []string
		target     []string
		empty      bool // an inventory with no clone yet
		want       string
		untargeted string
		folders    string
	}{
		{name: "nothing selected", want: "= web/1 = web/2 = web/3 = db/1"},
		{name: "one name", replace: []string{"lab-web-02"}, want: "= web/1 ~ web/2 = web/3 = db/1"},
		{name: "globs", replace: []string{"lab-web-0[13]", "lab-db-*"}, want: "~ web/1 = web/2 ~ web/3 ~ db/1"},
		{name: "target one group", target: []string{"db"}, replace: []string{"*"}, want: "~ db/1", untargeted: "web:3/3"},
		{name: "target, creates and folders", target: []string{"db"}, empty: true, want: "+ db/1", untargeted: "web:3/3", folders: ""},
		{name: "target both", target: []string{"web", "db"}, empty: true, want: "+ web/1 + web/2 + web/3 + db/1", folders: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := p.CheckSelection(tc.replace, tc.target); err != nil {
				t.Fatal(err)
			}
			inv := fullInventory(t, p)
			if tc.empty {
				inv = baseInventory()
			}
			ch := Diff(p, inv, Options{Now: diffNow, Replace: tc.replace})
			out := Target(ch, tc.target)
			var got, left []string
			for _, it := range ch.Items {
				got = append(got, fmt.Sprintf("%c %s/%d", it.Action, it.Group, it.Index))
				if it.Action == Replace && it.Reason != ReasonReplaceNamed {
					t.Errorf("%s replaced for %q, want %q", it.Name, it.Reason, ReasonReplaceNamed)
				}
			}
			for _, u := range out {
				left = append(left, fmt.Sprintf("%s:%d/%d", u.Group, u.Clones, u.Changes))
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Errorf("changes %q, want %q", g, tc.want)
			}
			if l := strings.Join(left, " "); l != tc.untargeted {
				t.Errorf("untargeted %q, want %q", l, tc.untargeted)
			}
			if f := strings.Join(ch.Folders, " "); f != tc.folders {
				t.Errorf("folders %q, want %q", f, tc.folders)
			}
		})
	}
}

// A pattern that matches no clone, a malformed one and an unknown group
// are errors that say what the plan has.
func TestCheckSelection(t *testing.T) {
	p := mustParse(t, diffPlan)
	for _, tc := range []struct {
		replace, target []string
		want            string
	}{
		{[]string{"nosuch"}, nil, `--replace "nosuch" matches none of the plan's clones`},
		{[]string{"lab-[web"}, nil, `--replace "lab-[web" is not a valid pattern`},
		{nil, []string{"app"}, `--target "app" is not a group of plan "lab" (its groups: web, db)`},
	} {
		err := p.CheckSelection(tc.replace, tc.target)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckSelection(%q, %q) = %v, want %q", tc.replace, tc.target, err, tc.want)
		}
	}
}
