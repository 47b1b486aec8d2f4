package plan

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the expectations of testdata/invalid and the golden files")

const wantPrefix = "# want: "

// invalidCase is one file of testdata/invalid: a plan with a comment header
// ("# description" and "# schema: reject|accept", whether the JSON Schema
// rejects it too) and trailing "# want: line:col: message" lines, the exact
// errors the loader must report, in order.
type invalidCase struct {
	name, path string
	data       []byte
	schema     string
	want       []string
}

func invalidCases(t *testing.T) []invalidCase {
	t.Helper()
	paths, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cases []invalidCase
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		c := invalidCase{name: strings.TrimSuffix(filepath.Base(p), ".yaml"), path: p, data: data}
		for _, line := range strings.Split(string(data), "\n") {
			if s, ok := strings.CutPrefix(line, wantPrefix); ok {
				c.want = append(c.want, s)
			}
			if s, ok := strings.CutPrefix(line, "# schema: "); ok {
				c.schema = s
			}
		}
		if c.schema != "reject" && c.schema != "accept" {
			t.Fatalf("%s: header lacks # schema: reject|accept", p)
		}
		cases = append(cases, c)
	}
	return cases
}

// TestInvalidPlans checks that every plan of testdata/invalid is rejected
// with exactly the errors listed in the file: position and message.
func TestInvalidPlans(t *testing.T) {
	cases := invalidCases(t)
	if len(cases) < 40 {
		t.Fatalf("only %d invalid plans; the corpus must hold at least 40", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Parse("bad.yaml", c.data)
			if err == nil {
				t.Fatalf("Parse accepted an invalid plan: %d groups", len(p.Groups))
			}
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error is %T, not ErrorList: %v", err, err)
			}
			var got []string
			for _, e := range list {
				if e.Pos.File != "bad.yaml" || e.Pos.Line < 1 || e.Pos.Col < 1 {
					t.Errorf("error without a full position: %q", e)
				}
				got = append(got, strings.TrimPrefix(e.Error(), "bad.yaml:"))
			}
			if *update {
				writeWant(t, c, got)
				return
			}
			if len(c.want) == 0 {
				t.Fatalf("no %q lines; run go test -update and review them. Got:\n%s", wantPrefix, strings.Join(got, "\n"))
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

func writeWant(t *testing.T, c invalidCase, got []string) {
	var keep []string
	for _, line := range strings.Split(strings.TrimRight(string(c.data), "\n"), "\n") {
		if !strings.HasPrefix(line, wantPrefix) {
			keep = append(keep, line)
		}
	}
	for _, g := range got {
		keep = append(keep, wantPrefix+g)
	}
	if err := os.WriteFile(c.path, []byte(strings.Join(keep, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}
