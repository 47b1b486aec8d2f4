//go:build unix

// Package outfiletest gives tests of output paths a null device to write
// to, without risking the host's.
package outfiletest

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// NullDevice returns a null device to write to. As root, where a regression
// could replace or chmod the host's /dev/null under every other test, it is
// a node of its own with /dev/null's device number (1, 3), made in dir;
// otherwise /dev/null itself, which an unprivileged process cannot replace.
func NullDevice(t testing.TB, dir string) string {
	t.Helper()
	if os.Getuid() != 0 {
		return "/dev/null"
	}
	path := filepath.Join(dir, "null")
	if err := syscall.Mknod(path, syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
		t.Skipf("root without mknod: %v", err)
	}
	if err := os.Chmod(path, 0o666); err != nil { // past the umask
		t.Fatal(err)
	}
	return path
}
