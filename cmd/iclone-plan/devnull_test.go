package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The null device is not a terminal: apply with stdin and stdout on
// /dev/null (a cron job with its output thrown away) refuses to change the
// inventory without --auto-approve instead of prompting no one. It used to
// count as a terminal, being a character device.
func TestApplyDevNullIsNotATerminal(t *testing.T) {
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	cmd := exec.Command(os.Args[0], "apply", "--sim", e2ePlan)
	cmd.Env = append(os.Environ(), e2eMainEnv+"=1", "XDG_STATE_HOME="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, &stderr
	err = cmd.Run()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() == 0 {
		t.Fatalf("apply on /dev/null: %v, want a failure\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "refusing to change the inventory without confirmation") {
		t.Errorf("apply on /dev/null, stderr:\n%s", stderr.String())
	}
}
