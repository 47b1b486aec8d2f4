//go:build windows

package platform

import "golang.org/x/sys/windows"

// enableEscapes turns on ENABLE_VIRTUAL_TERMINAL_PROCESSING on the console
// w writes to; consoles older than Windows 10 refuse, and get no colour.
func enableEscapes(w any) bool {
	f, ok := w.(fder)
	if !ok {
		return false
	}
	h := windows.Handle(f.Fd())
	var mode uint32
	if err := windows.GetConsoleMode(h, &mode); err != nil {
		return false
	}
	if mode&windows.ENABLE_VIRTUAL_TERMINAL_PROCESSING != 0 {
		return true
	}
	return windows.SetConsoleMode(h, mode|windows.ENABLE_VIRTUAL_TERMINAL_PROCESSING) == nil
}
