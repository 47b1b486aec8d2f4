package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iclone-plan/iclone-plan/internal/sim"
)

// A journal that cannot be written mid-run (a full file system: here the
// file-size limit, which fails writes with EFBIG once the journal has grown
// past 512 bytes, a few task records in) makes the apply unsafe after a
// crash, so it stops submitting, rolls back and exits 3, saying why. The
// inventory is as before, read over SOAP; the next apply, with a journal
// that works, converges.
func TestE2EJournalWriteFailureRollsBack(t *testing.T) {
	tests := []struct {
		name  string
		setup []string // an apply run first, with a working journal
		args  []string
	}{
		{"creates", nil, nil},
		{"replacements", []string{"apply", "--auto-approve", e2ePlan}, []string{"--replace-all"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newE2E(t, e2ePlan, sim.Options{})
			if tt.setup != nil {
				if r := e.cli(tt.setup...); r.code != 0 {
					t.Fatal(r)
				}
			}
			before := snapshotOf(e.inventory())
			journal := filepath.Join(e.dir, "lab.journal")
			args := append([]string{"apply", "--auto-approve", "--journal", journal}, tt.args...)
			// ulimit -f counts 512-byte blocks; Go ignores SIGXFSZ, so a
			// write past the limit fails with "file too large".
			cmd := exec.Command("/bin/sh", append([]string{"-c", `ulimit -f 1 && exec "$0" "$@"`, os.Args[0]}, append(args, e2ePlan)...)...)
			cmd.Env = e.env
			r := runCLI(t, cmd)
			if r.code != ExitRolledBack || !strings.Contains(r.stderr, "in the journal: write "+journal+": file too large") ||
				!strings.Contains(r.stdout, "Apply failed and was rolled back") {
				t.Fatalf("apply with a failing journal: %v", r)
			}
			e.assertSame(before, "an apply whose journal failed")
			if r := e.cli("apply", "--auto-approve", "--journal", journal, e2ePlan); r.code != 0 {
				t.Fatal(r)
			}
			e.converged(e2ePlan)
		})
	}
}
