package platform

// ProcessAlive reports whether a process with this pid runs on this machine.
// It errs on the side of "alive": only a process known to be gone reports
// false, so a caller never takes over or deletes what a live process holds.
func ProcessAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	return processAlive(pid)
}
