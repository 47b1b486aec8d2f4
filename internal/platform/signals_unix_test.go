//go:build unix

package platform

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
)

// helperMain is the child of the tests: "exit" exits at once; "signals"
// waits for one of InterruptSignals and reports it, as main does before it
// rolls back.
func helperMain() int {
	if os.Getenv(helperEnv) != "signals" {
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), InterruptSignals()...)
	defer stop()
	fmt.Println("ready")
	<-ctx.Done()
	fmt.Println("interrupted")
	return 3
}

// SIGINT and SIGTERM, really sent, cancel the context main runs under
// instead of killing the process.
func TestInterruptSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), helperEnv+"=signals")
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := bufio.NewScanner(out)
			if !lines.Scan() || lines.Text() != "ready" {
				t.Fatalf("child said %q", lines.Text())
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if !lines.Scan() || lines.Text() != "interrupted" {
				t.Errorf("after %v the child said %q", sig, lines.Text())
			}
			err = cmd.Wait()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
				t.Errorf("after %v: %v, want exit status 3", sig, err)
			}
		})
	}
}
