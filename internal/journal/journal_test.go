package journal

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestUnfinishedRuns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "lab.journal")
	done, err := Open(path, "run-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := done.Record(Entry{Kind: "task", Op: "create", Name: "a", Task: "task-1"}); err != nil {
		t.Fatal(err)
	}
	if err := done.Finish(); err != nil {
		t.Fatal(err)
	}
	dead, err := Open(path, "run-2")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range []string{"task-7", "task-8"} {
		if err := dead.Record(Entry{Kind: "task", Op: "create", Name: "b", Task: task}); err != nil {
			t.Fatal(err)
		}
	}
	// run-2 dies without Finish; a torn last line must not matter.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"run":"run-2","kind":"ta`)
	f.Close()

	runs, err := Unfinished(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || len(runs["run-2"]) != 2 || runs["run-2"][1].Task != "task-8" {
		t.Fatalf("unfinished = %+v, want run-2 with task-7 and task-8", runs)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("journal mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	if err := Reset(path); err != nil {
		t.Fatal(err)
	}
	if runs, err := Unfinished(path); err != nil || len(runs) != 0 {
		t.Errorf("after reset: %v %v", runs, err)
	}
}

// Once a record has failed, the journal stays failed: later records return
// the first error and write nothing, even if the file would take them, so
// a run never goes on as if its tasks were recorded.
func TestRecordFailureIsSticky(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lab.journal")
	j, err := Open(path, "run-1")
	if err != nil {
		t.Fatal(err)
	}
	good := j.f
	ro, err := os.Open(path) // writes to a read-only descriptor fail
	if err != nil {
		t.Fatal(err)
	}
	j.f = ro
	first := j.Record(Entry{Kind: "task", Task: "task-1"})
	if first == nil {
		t.Fatal("a write to a read-only descriptor succeeded")
	}
	j.f = good
	if err := j.Record(Entry{Kind: "task", Task: "task-2"}); err != first {
		t.Errorf("second record: %v, want the first error %v", err, first)
	}
	if err := j.Finish(); err == nil {
		t.Error("Finish of a failed journal succeeded")
	}
	ro.Close()
	runs, err := Unfinished(path)
	if err != nil || len(runs) != 0 {
		t.Errorf("unfinished = %v, %v; want nothing recorded after the failure", runs, err)
	}
}

// The default journal lives in the per-OS state directory (on Linux, under
// $XDG_STATE_HOME), named for the plan and the vCenter.
func TestDefaultPathXDG(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("XDG_STATE_HOME is the Linux state directory")
	}
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", dir)
	got, err := DefaultPath("lab", "vc.example.com:443")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "iclone-plan", "lab@vc.example.com_443.journal"); got != want {
		t.Errorf("DefaultPath = %q, want %q", got, want)
	}
}
