package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets testscript run the real iclone-plan main as a subprocess of
// the test binary: scripts in testdata/script exercise the CLI end to end.
func TestMain(m *testing.M) {
	// The end-to-end tests run this test binary as iclone-plan itself.
	if os.Getenv(e2eMainEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	testscript.Main(m, map[string]func(){
		"iclone-plan": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
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
