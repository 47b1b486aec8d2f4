//go:build linux || darwin

package platform

import (
	"testing"

	"github.com/creack/pty"
)

// A pseudo-terminal is a terminal, and gets colour unless the environment
// says no.
func TestIsTerminalPTY(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skip("no pseudo-terminal:", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	if !IsTerminal(tty) {
		t.Fatal("IsTerminal(pty) = false")
	}
	t.Setenv("NO_COLOR", "")
	t.Setenv("TERM", "xterm")
	if !Color(tty) {
		t.Error("Color(pty) = false with TERM=xterm")
	}
	t.Setenv("TERM", "dumb")
	if Color(tty) {
		t.Error("Color(pty) = true with TERM=dumb")
	}
	t.Setenv("TERM", "xterm")
	t.Setenv("NO_COLOR", "1")
	if Color(tty) {
		t.Error("Color(pty) = true with NO_COLOR=1")
	}
}
