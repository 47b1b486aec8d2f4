package platform

import (
	"os"
	"os/exec"
	"testing"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helperMain())
	}
	os.Exit(m.Run())
}

// helperEnv makes the test binary act as a child process for these tests.
const helperEnv = "ICLONE_PLAN_PLATFORM_HELPER"

func TestProcessAlive(t *testing.T) {
	if !ProcessAlive(os.Getpid()) {
		t.Error("this process is not alive")
	}
	if !ProcessAlive(os.Getppid()) {
		t.Error("the parent process is not alive")
	}
	for _, pid := range []int{0, -1} {
		if ProcessAlive(pid) {
			t.Errorf("ProcessAlive(%d) = true", pid)
		}
	}

	// A child that ran and was waited for is gone (its pid is free).
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=exit")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if ProcessAlive(pid) {
		t.Errorf("ProcessAlive(%d) = true for a child that exited and was waited for", pid)
	}
}
