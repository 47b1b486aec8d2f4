//go:build !race

package simproc

// Separate reports whether Start serves the simulator in another process:
// in race-built test binaries, so that the race detector watches the
// client code and not vcsim.
const Separate = false
