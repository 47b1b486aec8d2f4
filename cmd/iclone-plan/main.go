// Command iclone-plan turns vSphere Instant Clone into a declarative batch
// operation: a YAML plan names running source VMs and how to clone them;
// `plan` diffs it against the live inventory and `apply` carries it out.
//
// main is deliberately thin: it builds the command tree, runs it and maps the
// returned error to an exit code (see exit.go). Business logic lives in
// internal/.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/iclone-plan/iclone-plan/internal/platform"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes the command line args and returns the process exit code.
// Interrupts (SIGINT, SIGTERM) cancel the command's context; commands that
// change the inventory roll back and return ExitInterrupted.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), platform.InterruptSignals()...)
	defer stop()

	root := newRootCmd(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil && !isSilent(err) {
		fmt.Fprintf(stderr, "Error: %v\n", err)
	}
	return exitCode(err)
}
