package apply

import (
	"os"
	"testing"

	"github.com/iclone-plan/iclone-plan/internal/testwatch"
)

// TestMain runs the tests with a watchdog that, shortly before the
// -timeout, prints where the tests hang in the output's last lines.
func TestMain(m *testing.M) { os.Exit(testwatch.Main(m)) }
