//go:build unix

package journal

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iclone-plan/iclone-plan/internal/outfile/outfiletest"
)

// TestJournalPaths: a journal at a path that is not a plain file is written
// through, never replaced: a symlink stays a link to a target that holds the
// journal, and a null device stays a device with its mode, through a whole
// run (recovery read, reset, open, records, finish).
func TestJournalPaths(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) string
		check func(t *testing.T, dir, path string)
	}{
		{
			name: "symlink to a journal",
			setup: func(t *testing.T, dir string) string {
				if err := os.Mkdir(filepath.Join(dir, "state"), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink("state/lab.journal", filepath.Join(dir, "lab.journal")); err != nil {
					t.Fatal(err)
				}
				return filepath.Join(dir, "lab.journal")
			},
			check: func(t *testing.T, dir, path string) {
				if target, err := os.Readlink(path); err != nil || target != "state/lab.journal" {
					t.Fatalf("the link is gone: %q, %v", target, err)
				}
				b, err := os.ReadFile(filepath.Join(dir, "state", "lab.journal"))
				if err != nil || !strings.Contains(string(b), `"kind":"finish"`) {
					t.Errorf("the target holds %q (%v); want the run's entries", b, err)
				}
			},
		},
		{
			name:  "null device",
			setup: func(t *testing.T, dir string) string { return outfiletest.NullDevice(t, dir) },
			check: func(t *testing.T, dir, path string) {
				fi, err := os.Lstat(path)
				if err != nil || fi.Mode()&os.ModeCharDevice == 0 || fi.Mode().Perm() != 0o666 {
					t.Errorf("%s is now %v (%v); want a character device, mode 0666", path, fi.Mode(), err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tt.setup(t, dir)
			for run := range 2 { // the second run finds the first's journal
				if runs, err := Unfinished(path); err != nil || len(runs) != 0 {
					t.Fatalf("unfinished: %v, %v", runs, err)
				}
				if err := Reset(path); err != nil {
					t.Fatal(err)
				}
				j, err := Open(path, fmt.Sprint("run-", run))
				if err != nil {
					t.Fatal(err)
				}
				if err := j.Record(Entry{Kind: "task", Op: "create", Name: "a", Task: "task-1"}); err != nil {
					t.Fatal(err)
				}
				if err := j.Finish(); err != nil {
					t.Fatal(err)
				}
			}
			tt.check(t, dir, path)
		})
	}
}
