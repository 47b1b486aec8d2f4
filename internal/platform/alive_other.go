//go:build !unix && !windows

package platform

// processAlive cannot tell on this OS, so it says alive: nothing is taken
// over or deleted on a guess.
func processAlive(int) bool { return true }
