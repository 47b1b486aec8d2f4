// Package journal records, on local disk, every vCenter task a run starts,
// the moment it starts. If the process dies (kill -9, reboot), the next run
// reads the journal, waits for the dead run's tasks to end, and only then
// reads the inventory: so a clone still being made by vCenter is not missed
// and made twice. The file is JSON lines, mode 0600, synced on every write.
package journal

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/iclone-plan/iclone-plan/internal/platform"
)

// Entry is one journal line.
type Entry struct {
	Time time.Time `json:"time"`
	Run  string    `json:"run"`
	// Kind is "start", "task" or "finish".
	Kind string `json:"kind"`
	Op   string `json:"op,omitempty"`
	Name string `json:"name,omitempty"`
	Task string `json:"task,omitempty"`
}

// DefaultPath is where the journal of plan on vCenter host lives:
// platform.StateDir: $XDG_STATE_HOME/iclone-plan or ~/.local/state/iclone-plan
// on Linux, ~/Library/Application Support/iclone-plan on macOS,
// %LocalAppData%\iclone-plan on Windows.
func DefaultPath(plan, host string) (string, error) {
	dir, err := platform.StateDir()
	if err != nil {
		return "", fmt.Errorf("no directory for the journal (%w); pass --journal FILE", err)
	}
	safe := strings.NewReplacer("/", "_", ":", "_", "\\", "_").Replace(host)
	return filepath.Join(dir, plan+"@"+safe+".journal"), nil
}

// Journal appends entries for one run. It is safe for concurrent use.
type Journal struct {
	mu  sync.Mutex
	f   *os.File
	run string
	// sync: the journal is a regular file, synced after every entry (a
	// device such as /dev/null cannot be).
	sync bool
	err  error // the first failed write: the journal is broken from then on
}

// Open opens (creating it and its directory) the journal at path for run.
func Open(path, run string) (*Journal, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	// A journal pointed at a device (/dev/null) is written, never changed:
	// as root, a chmod would lock every other user out of /dev/null.
	fi, err := f.Stat()
	if err == nil && fi.Mode().IsRegular() {
		err = f.Chmod(0o600)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	j := &Journal{f: f, run: run, sync: fi.Mode().IsRegular()}
	return j, j.Record(Entry{Kind: "start"})
}

// Record appends e (with the run id and time) and syncs it to disk. Once a
// record has failed, every later one fails with the same error: the journal
// may end in a torn line, and the run must stop (see the executor's
// Hooks.Journal).
func (j *Journal) Record(e Entry) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return j.err
	}
	j.err = j.write(e)
	return j.err
}

func (j *Journal) write(e Entry) error {
	e.Run = j.run
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if _, err := j.f.Write(append(b, '\n')); err != nil || !j.sync {
		return err
	}
	return j.f.Sync()
}

// Finish records that the run ended and closes the journal.
func (j *Journal) Finish() error {
	err := j.Record(Entry{Kind: "finish"})
	return errors.Join(err, j.f.Close())
}

// Unfinished returns the tasks recorded by runs that never finished (their
// process died), by run id. A missing journal has none.
func Unfinished(path string) (map[string][]Entry, error) {
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, nil // a device or FIFO keeps no journal to read back
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	runs := map[string][]Entry{}
	finished := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		var e Entry
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue // a line torn by a crash
		}
		switch e.Kind {
		case "finish":
			finished[e.Run] = true
		case "task":
			runs[e.Run] = append(runs[e.Run], e)
		}
	}
	for r := range finished {
		delete(runs, r)
	}
	return runs, sc.Err()
}

// Reset empties the journal. A run calls it at its start, under the plan's
// lease, once the dead runs' tasks are over, so the file never grows. A
// symlink's target is emptied and the link kept; a device or FIFO is left
// as it is (removing /dev/null as root would break the host).
func Reset(path string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return err
	case !fi.Mode().IsRegular():
		return nil
	}
	return os.Truncate(path, 0)
}
