package testwatch

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// blockHere parks its goroutine until release is closed: a frame of this
// module that Summary must show.
func blockHere(started *sync.WaitGroup, release chan struct{}) {
	started.Done()
	<-release
}

func TestSummaryGroupsThisModulesGoroutines(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	var started sync.WaitGroup
	for range 3 {
		started.Add(1)
		go blockHere(&started, release)
	}
	started.Wait()
	sum := Summary(allStacks())
	want := "3×  [chan receive]\n    internal/testwatch.blockHere testwatch_test.go:"
	if !strings.Contains(sum, want) {
		t.Errorf("summary lacks %q:\n%s", want, sum)
	}
	// The runtime's and the testing package's own goroutines are left out.
	for _, line := range strings.Split(sum, "\n") {
		if strings.HasPrefix(line, "    ") && !strings.HasPrefix(line, "    internal/testwatch.") {
			t.Errorf("a frame outside this module: %q", line)
		}
	}
}

// hangEnv makes TestHang hang, when this test binary runs itself.
const hangEnv = "TESTWATCH_HANG"

// TestHang hangs when run by TestWatchdogNamesTheHungTest.
func TestHang(t *testing.T) {
	if os.Getenv(hangEnv) != "1" {
		t.Skip("run by TestWatchdogNamesTheHungTest")
	}
	var started sync.WaitGroup
	started.Add(1)
	blockHere(&started, make(chan struct{}))
}

// A test binary whose test hangs ends before its -timeout, with the hung
// test's frames in its last lines.
func TestWatchdogNamesTheHungTest(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHang$", "-test.timeout=3s")
	cmd.Env = append(os.Environ(), hangEnv+"=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("exit: %v, want status 2\n%s", err, out)
	}
	s := string(out)
	if strings.Contains(s, "panic: test timed out") {
		t.Errorf("Go's own timeout fired first:\n%s", s)
	}
	i := strings.LastIndex(s, "=== testwatch:")
	if i < 0 {
		t.Fatalf("no summary:\n%s", s)
	}
	tail := s[i:]
	for _, want := range []string{"goroutines in iclone-plan code", "internal/testwatch.blockHere testwatch_test.go:", "internal/testwatch.TestHang testwatch_test.go:"} {
		if !strings.Contains(tail, want) {
			t.Errorf("the summary lacks %q:\n%s", want, tail)
		}
	}
}
