package main

import (
	"io"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// commandFactories holds the constructors of the sub-commands. Each command
// lives in its own file and registers itself from an init function, so the
// command files stay independent of each other.
var commandFactories []func(*app) *cobra.Command

func register(f func(*app) *cobra.Command) { commandFactories = append(commandFactories, f) }

// app is what every command shares: the standard streams.
type app struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func newRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "iclone-plan",
		Short: "Declarative, rate-limited, rollback-safe vSphere Instant Clone",
		Long: `iclone-plan turns vSphere Instant Clone into a declarative batch operation.

A YAML plan names running source VMs, how many clones of each, and templates
for each clone's name, MAC addresses, serial-port files and guestinfo.
"plan" shows what would change against the live inventory; "apply" carries
it out with rate-limited parallel instant clones and rolls back on failure.`,
		Version:       version(),
		Args:          cobra.NoArgs,
		RunE:          func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	for _, f := range commandFactories {
		root.AddCommand(f(a))
	}
	return root
}

// version reports the module version and VCS revision the binary was built
// from, as recorded by the Go toolchain.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			v += " commit " + s.Value
		}
	}
	return v + " " + bi.GoVersion
}
