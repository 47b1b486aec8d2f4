package vsphere

import (
	"os"
	"testing"

	"github.com/iclone-plan/iclone-plan/internal/sim/simproc"
	"github.com/iclone-plan/iclone-plan/internal/testwatch"
)

// TestMain runs the tests with a watchdog that, shortly before the
// -timeout, prints where the tests hang in the output's last lines, then
// removes the simulator server that race-built tests build (simproc).
func TestMain(m *testing.M) {
	code := testwatch.Main(m)
	simproc.Cleanup()
	os.Exit(code)
}
