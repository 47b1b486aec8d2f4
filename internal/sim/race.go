//go:build race

package sim

// raceBuild is set when the race detector is on (see lockCreateVM).
const raceBuild = true
