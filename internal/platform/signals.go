package platform

import "os"

// InterruptSignals are the signals that interrupt a run: a command that
// changes the inventory stops and rolls back on any of them.
//
// On Unix: SIGINT (Ctrl-C) and SIGTERM (kill, systemd, Kubernetes).
// On Windows, Go delivers os.Interrupt for both Ctrl-C and Ctrl-Break, and
// SIGTERM for the console's close, logoff and shutdown events.
func InterruptSignals() []os.Signal {
	return append([]os.Signal(nil), interruptSignals...)
}
