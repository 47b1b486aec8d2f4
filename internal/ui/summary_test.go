package ui

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iclone-plan/iclone-plan/internal/plan"
)

// TestSummaryGolden compares the summaries of the example plans (what
// `iclone-plan validate` prints for them) with testdata/summary/*.golden.
// go test -update rewrites the golden files.
func TestSummaryGolden(t *testing.T) {
	paths, err := filepath.Glob("../../plans/examples/*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	paths = append(paths, "testdata/summary/zero.yaml")
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			p, err := plan.Parse(filepath.Base(path), data)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := RenderSummary(&buf, p); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "summary", name+".golden")
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if buf.String() != string(want) {
				t.Errorf("summary:\n%s\nwant:\n%s", buf.String(), want)
			}
		})
	}
}
