package sim

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// A simulator's datastore directory left by a process that is gone (killed
// with SIGKILL) is removed when the next simulator makes its own; those of
// live processes and unmarked ones are kept.
func TestStaleDatastoreRootsRemoved(t *testing.T) {
	parent := t.TempDir()
	done := exec.Command("true")
	if err := done.Run(); err != nil {
		t.Skip("no true(1):", err)
	}
	dead := done.Process.Pid // exited and reaped
	mk := func(name, owner string) string {
		dir := filepath.Join(parent, name)
		if err := os.MkdirAll(filepath.Join(dir, "ds-1"), 0o700); err != nil {
			t.Fatal(err)
		}
		if owner != "" {
			if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(owner), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	gone := mk("iclone-plan-sim-1", strconv.Itoa(dead))
	live := mk("iclone-plan-sim-2", strconv.Itoa(os.Getppid()))
	unmarked := mk("iclone-plan-sim-3", "")
	other := mk("something-else", strconv.Itoa(dead))

	root, err := makeDatastoreRoot(parent)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, ownerFile))
	if err != nil || string(b) != strconv.Itoa(os.Getpid()) {
		t.Errorf("the new directory's owner file: %q, %v", b, err)
	}
	for dir, want := range map[string]bool{gone: false, live: true, unmarked: true, other: true} {
		if _, err := os.Stat(dir); (err == nil) != want {
			t.Errorf("%s exists: %v, want %v", filepath.Base(dir), err == nil, want)
		}
	}
}
