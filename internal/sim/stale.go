package sim

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/iclone-plan/iclone-plan/internal/platform"
)

// ownerFile, in a simulator's datastore directory, holds the process ID of
// the simulator that made it.
const ownerFile = ".owner-pid"

// makeDatastoreRoot creates the directory of a simulator's datastores in
// parent (tmpfs when it can: vcsim keeps a directory and files per VM),
// marks it with this process's ID, and first removes the directories that
// simulators of processes no longer running left there (a simulator killed
// with SIGKILL cannot clean up after itself).
func makeDatastoreRoot(parent string) (string, error) {
	removeStaleRoots(parent)
	root, err := os.MkdirTemp(parent, "iclone-plan-sim-")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(root, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		_ = os.RemoveAll(root)
		return "", err
	}
	return root, nil
}

// removeStaleRoots removes the datastore directories in parent whose owner
// process is gone. Directories without an owner file (or of a process that
// is alive, or whose pid was reused) are left alone.
func removeStaleRoots(parent string) {
	dirs, _ := filepath.Glob(filepath.Join(parent, "iclone-plan-sim-*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if !platform.ProcessAlive(pid) {
			_ = os.RemoveAll(dir)
		}
	}
}
