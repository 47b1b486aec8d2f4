//go:build unix

package platform

import (
	"errors"
	"syscall"
)

// processAlive sends signal 0: no error or EPERM (the process exists but
// belongs to another user) means alive; ESRCH means gone.
func processAlive(pid int) bool {
	return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
