//go:build !windows

package platform

// enableEscapes: Unix terminals interpret ANSI escapes (TERM=dumb aside).
func enableEscapes(any) bool { return true }
