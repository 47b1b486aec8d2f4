package main

import (
	"fmt"
	"io"
	"runtime"
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
		Example: `  # Try it without a vCenter: plan, live progress and summary of a real run
  iclone-plan apply --sim --auto-approve plans/examples/lab.yaml

  # Against vCenter, with the govc environment
  export GOVC_URL=https://vcenter.example.com/sdk GOVC_USERNAME=iclone@vsphere.local GOVC_PASSWORD=...
  iclone-plan plan plans/lab.yaml
  iclone-plan apply plans/lab.yaml`,
		Version:       version(),
		Args:          rootArgs,
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
	addBuiltinExamples(root)
	withUsage(root)
	return root
}

// Set by the linker for release and task builds (see Taskfile.yml):
//
//	go build -ldflags "-X main.buildCommit=$(git rev-parse HEAD) -X main.buildVersion=v1.2.3" ./cmd/iclone-plan
//
// Empty values fall back to what the Go toolchain recorded in the binary: the
// module version (set by go install module@version; for a build in a
// checkout, a pseudo-version of the commit, or "(devel)") and the VCS
// revision, its time and whether the tree was modified (absent with
// -buildvcs=false).
var (
	buildVersion string
	buildCommit  string
)

// version is what --version prints after "iclone-plan version ": the
// module version, the commit (with its time when the toolchain recorded
// it) and the Go toolchain, e.g.
// "v1.2.3, commit 0123abcd... (2026-11-30T11:47:19Z), go1.26.0 linux/amd64".
func version() string {
	bi, _ := debug.ReadBuildInfo() // nil when the binary has none
	return formatVersion(buildVersion, buildCommit, bi, runtime.Version())
}

// formatVersion is version for the linker-set values and the build
// information bi (nil if the binary has none).
func formatVersion(v, commit string, bi *debug.BuildInfo, goVersion string) string {
	when := ""
	if bi != nil {
		if v == "" {
			v = bi.Main.Version
		}
		goVersion = bi.GoVersion
		if commit == "" {
			commit, when = vcsRevision(bi)
		}
	}
	if v == "" {
		v = "(devel)"
	}
	if commit == "" {
		commit = "unknown"
	}
	if when != "" {
		commit += " (" + when + ")"
	}
	return fmt.Sprintf("%s, commit %s, %s %s/%s", v, commit, goVersion, runtime.GOOS, runtime.GOARCH)
}

// vcsRevision is the commit the toolchain stamped, with "-dirty" if the
// work tree had changes, and the commit's time; or "", "".
func vcsRevision(bi *debug.BuildInfo) (rev, when string) {
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "", ""
	}
	if dirty {
		rev += "-dirty"
	}
	return rev, when
}

// addBuiltinExamples initializes cobra's help and completion commands (cobra
// would add them lazily) and gives them examples like every other command.
func addBuiltinExamples(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		switch c.Name() {
		case "help":
			c.Example = `  iclone-plan help apply
  iclone-plan apply --help`
		case "completion":
			c.Example = `  # bash, for the current shell; add the line to ~/.bashrc to keep it
  source <(iclone-plan completion bash)

  # zsh, fish: install the script where the shell looks for completions
  iclone-plan completion zsh > "${fpath[1]}/_iclone-plan"
  iclone-plan completion fish > ~/.config/fish/completions/iclone-plan.fish`
			for _, sc := range c.Commands() {
				switch sc.Name() {
				case "bash":
					sc.Example = `  source <(iclone-plan completion bash)
  iclone-plan completion bash > /etc/bash_completion.d/iclone-plan`
				case "zsh":
					sc.Example = `  iclone-plan completion zsh > "${fpath[1]}/_iclone-plan"`
				case "fish":
					sc.Example = `  iclone-plan completion fish > ~/.config/fish/completions/iclone-plan.fish`
				case "powershell":
					sc.Example = `  iclone-plan completion powershell | Out-String | Invoke-Expression`
				}
			}
		}
	}
}
