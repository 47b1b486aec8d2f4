package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/iclone-plan/iclone-plan/internal/testwatch"
)

// TestMain lets testscript run the real iclone-plan main as a subprocess of
// the test binary: scripts in testdata/script exercise the CLI end to end.
func TestMain(m *testing.M) {
	// The end-to-end tests run this test binary as iclone-plan itself.
	if os.Getenv(e2eMainEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	// plan and status keep an inventory cache: the CLIs the tests start
	// keep theirs in a directory of this test run, not the user's.
	var tm testscript.TestingM = m
	if os.Getenv(cacheDirEnv) == "" {
		dir, err := os.MkdirTemp("", "iclone-plan-test-cache-")
		if err != nil {
			panic(err)
		}
		os.Setenv(cacheDirEnv, dir)
		tm = cleanupM{m, dir}
	}
	// The watchdog says where the tests hang, should they pass -timeout.
	testscript.Main(testwatch.Wrap(tm), map[string]func(){
		"iclone-plan": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// cleanupM runs the tests, then removes dir (testscript.Main exits).
type cleanupM struct {
	m   *testing.M
	dir string
}

func (c cleanupM) Run() int {
	defer os.RemoveAll(c.dir)
	return c.m.Run()
}

// TestScripts runs every testdata/script/*.txtar CLI script.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			// Scripts refer to the repository's plans as $ROOT/plans/...
			root, err := os.Getwd()
			if err != nil {
				return err
			}
			env.Setenv("ROOT", root+"/../..")
			return nil
		},
	})
}
