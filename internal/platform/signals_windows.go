//go:build windows

package platform

import (
	"os"
	"syscall"
)

// os.Interrupt stands for CTRL_C_EVENT and CTRL_BREAK_EVENT; syscall.SIGTERM
// for CTRL_CLOSE_EVENT, CTRL_LOGOFF_EVENT and CTRL_SHUTDOWN_EVENT.
var interruptSignals = []os.Signal{os.Interrupt, syscall.SIGTERM}
