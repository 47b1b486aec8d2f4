//go:build unix

package outfile

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/iclone-plan/iclone-plan/internal/outfile/outfiletest"
)

// fileID is what tells a file replaced by a rename from one written in
// place: its device and inode.
func fileID(t *testing.T, path string) [2]uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return [2]uint64{uint64(st.Dev), st.Ino}
}

func TestWriteFile(t *testing.T) {
	const data = "new\n"
	tests := []struct {
		name string
		// setup makes the files of the case in dir and returns the path to
		// write to.
		setup func(t *testing.T, dir string) string
		// check checks what the write left; dir is the case's directory.
		check   func(t *testing.T, dir, path string)
		wantErr string
	}{
		{
			name: "missing file is created with the mode asked for",
			setup: func(t *testing.T, dir string) string {
				return filepath.Join(dir, "report.json")
			},
			check: func(t *testing.T, dir, path string) {
				wantContent(t, path, data)
				wantMode(t, path, 0o600)
			},
		},
		{
			name: "regular file is replaced by a rename, not rewritten in place",
			setup: func(t *testing.T, dir string) string {
				path := filepath.Join(dir, "report.json")
				write(t, path, "old\n")
				// A hard link keeps the old inode: a rename leaves it the old
				// content, a write in place would change it.
				if err := os.Link(path, filepath.Join(dir, "old")); err != nil {
					t.Fatal(err)
				}
				return path
			},
			check: func(t *testing.T, dir, path string) {
				wantContent(t, path, data)
				wantContent(t, filepath.Join(dir, "old"), "old\n")
				if fileID(t, path) == fileID(t, filepath.Join(dir, "old")) {
					t.Error("the file was written in place")
				}
			},
		},
		{
			name: "symlink to a regular file: the target is replaced, the link stays",
			setup: func(t *testing.T, dir string) string {
				mkdir(t, filepath.Join(dir, "data"))
				write(t, filepath.Join(dir, "data", "metrics.prom"), "old\n")
				symlink(t, "data/metrics.prom", filepath.Join(dir, "metrics.prom"))
				return filepath.Join(dir, "metrics.prom")
			},
			check: func(t *testing.T, dir, path string) {
				wantLink(t, path, "data/metrics.prom")
				wantContent(t, filepath.Join(dir, "data", "metrics.prom"), data)
				wantNoTemp(t, dir)
				wantNoTemp(t, filepath.Join(dir, "data"))
			},
		},
		{
			name: "chain of links through a linked directory",
			setup: func(t *testing.T, dir string) string {
				mkdir(t, filepath.Join(dir, "real", "sub"))
				symlink(t, "real/sub", filepath.Join(dir, "sub"))
				write(t, filepath.Join(dir, "real", "target"), "old\n")
				// sub/../target is real/target as the kernel resolves it,
				// not dir/target.
				symlink(t, "../target", filepath.Join(dir, "real", "sub", "l2"))
				symlink(t, "sub/l2", filepath.Join(dir, "l1"))
				return filepath.Join(dir, "l1")
			},
			check: func(t *testing.T, dir, path string) {
				wantLink(t, path, "sub/l2")
				wantLink(t, filepath.Join(dir, "real", "sub", "l2"), "../target")
				wantContent(t, filepath.Join(dir, "real", "target"), data)
				if _, err := os.Lstat(filepath.Join(dir, "target")); err == nil {
					t.Error("dir/target was created: the .. was resolved lexically")
				}
			},
		},
		{
			name: "dangling symlink: its target is created, the link stays",
			setup: func(t *testing.T, dir string) string {
				mkdir(t, filepath.Join(dir, "out"))
				symlink(t, filepath.Join(dir, "out", "plan.json"), filepath.Join(dir, "plan.json"))
				return filepath.Join(dir, "plan.json")
			},
			check: func(t *testing.T, dir, path string) {
				wantLink(t, path, filepath.Join(dir, "out", "plan.json"))
				wantContent(t, filepath.Join(dir, "out", "plan.json"), data)
			},
		},
		{
			name: "/dev/null is written, not replaced",
			setup: func(t *testing.T, dir string) string {
				return outfiletest.NullDevice(t, dir)
			},
			check: func(t *testing.T, dir, path string) {
				wantCharDevice(t, path)
			},
		},
		{
			name: "symlink to /dev/null: the device is written, the link stays",
			setup: func(t *testing.T, dir string) string {
				null := outfiletest.NullDevice(t, dir)
				symlink(t, null, filepath.Join(dir, "link"))
				return filepath.Join(dir, "link")
			},
			check: func(t *testing.T, dir, path string) {
				null, _ := os.Readlink(path)
				wantCharDevice(t, null)
			},
		},
		{
			name: "FIFO without a reader is an error, not a hang",
			setup: func(t *testing.T, dir string) string {
				mkfifo(t, filepath.Join(dir, "fifo"))
				return filepath.Join(dir, "fifo")
			},
			check: func(t *testing.T, dir, path string) {
				wantMode(t, path, fs.ModeNamedPipe|0o600)
			},
			wantErr: "is a FIFO that no process reads",
		},
		{
			name: "directory is an error that says to name a file",
			setup: func(t *testing.T, dir string) string {
				mkdir(t, filepath.Join(dir, "reports"))
				return filepath.Join(dir, "reports")
			},
			check: func(t *testing.T, dir, path string) {
				wantNoTemp(t, dir)
			},
			wantErr: "is a directory; name a file in it",
		},
		{
			name: "symlink loop is an error",
			setup: func(t *testing.T, dir string) string {
				symlink(t, "b", filepath.Join(dir, "a"))
				symlink(t, "a", filepath.Join(dir, "b"))
				return filepath.Join(dir, "a")
			},
			check: func(t *testing.T, dir, path string) {
				wantLink(t, path, "b")
			},
			wantErr: "too many levels of symbolic links",
		},
		{
			name: "missing directory is an error",
			setup: func(t *testing.T, dir string) string {
				return filepath.Join(dir, "no", "such", "report.json")
			},
			check:   func(t *testing.T, dir, path string) {},
			wantErr: "no such file or directory",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tt.setup(t, dir)
			err := WriteFile(path, []byte(data), 0o600)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("WriteFile: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("WriteFile: error %v; want one with %q", err, tt.wantErr)
			}
			tt.check(t, dir, path)
		})
	}
}

// TestWriteFIFO: a FIFO with a reader gets the data, and stays a FIFO.
func TestWriteFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fifo")
	mkfifo(t, path)
	// The reader's end, opened read-write so that it neither blocks until
	// a writer comes nor sees an end of file before one has: the write end
	// then finds a reader.
	r, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const data = "through the pipe\n"
	if err := WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(data))
	if _, err := io.ReadFull(r, got); err != nil || string(got) != data {
		t.Errorf("the reader got %q, %v", got, err)
	}
	wantMode(t, path, fs.ModeNamedPipe|0o600)
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, path string) {
	t.Helper()
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
}

func wantContent(t *testing.T, path, want string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != want {
		t.Errorf("%s holds %q; want %q", path, b, want)
	}
}

func wantMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != want {
		t.Errorf("%s has mode %v; want %v", path, fi.Mode(), want)
	}
}

func wantLink(t *testing.T, path, target string) {
	t.Helper()
	got, err := os.Readlink(path)
	if err != nil {
		t.Fatalf("%s is no longer a symlink: %v", path, err)
	}
	if got != target {
		t.Errorf("%s points to %q; want %q", path, got, target)
	}
}

func wantCharDevice(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&fs.ModeCharDevice == 0 {
		t.Fatalf("%s is no longer a character device: %v", path, fi.Mode())
	}
}

func wantNoTemp(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left in %s", e.Name(), dir)
		}
	}
}
