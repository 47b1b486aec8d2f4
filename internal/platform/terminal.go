package platform

import (
	"os"

	"golang.org/x/term"
)

// fder is what *os.File has that a terminal check needs.
type fder interface{ Fd() uintptr }

// IsTerminal reports whether w is an interactive terminal (a Unix tty or a
// Windows console). A file, a pipe or a character device such as /dev/null
// or NUL is not.
func IsTerminal(w any) bool {
	f, ok := w.(fder)
	if !ok {
		return false
	}
	return term.IsTerminal(int(f.Fd()))
}

// Color reports whether to colour what is written to w: on a terminal that
// interprets ANSI escapes, unless NO_COLOR is set (https://no-color.org) or
// TERM is dumb. On Windows it turns on the console's escape processing, and
// Windows Terminal (WT_SESSION) always has it.
func Color(w any) bool {
	return colorFor(os.Getenv, IsTerminal(w), func() bool { return enableEscapes(w) })
}

// colorFor decides colour from the environment, whether the output is a
// terminal, and escapes, which enables ANSI escapes on the output and
// reports whether it could (called only when nothing else said no).
func colorFor(getenv func(string) string, terminal bool, escapes func() bool) bool {
	switch {
	case getenv("NO_COLOR") != "":
		return false
	case !terminal:
		return false
	case getenv("TERM") == "dumb":
		return false
	case getenv("WT_SESSION") != "":
		return true
	}
	return escapes()
}
