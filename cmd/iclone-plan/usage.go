package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/iclone-plan/iclone-plan/internal/suggest"
)

// usageError is a mistake in the command line itself: an unknown command or
// flag, or the wrong number of arguments. Its message says what was meant,
// when a typo is likely, and how the command is used, since the commands
// silence cobra's usage (it would follow every runtime error too).
type usageError struct {
	cmd *cobra.Command
	err error
}

func (e *usageError) Error() string {
	use := e.cmd.UseLine()
	if e.cmd.HasAvailableSubCommands() && !e.cmd.Runnable() || !e.cmd.HasParent() {
		use = e.cmd.CommandPath() + " COMMAND [flags]"
	}
	return fmt.Sprintf("%v\nUsage: %s\nRun '%s --help' for the flags and examples.", e.err, use, e.cmd.CommandPath())
}

func (e *usageError) Unwrap() error { return e.err }

// rootArgs rejects arguments of the root command, which are mistyped
// command names: cobra suggests commands only when a command has no Args
// validator, so this does what it would.
func rootArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's default, set where it suggests itself
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return &usageError{cmd, errors.New(msg)}
}

// withUsage makes the argument errors of cmd and its sub-commands, and the
// flag errors of every command, usage errors, and suggests the flag meant
// for an unknown one.
func withUsage(cmd *cobra.Command) {
	cmd.SetFlagErrorFunc(flagError)
	if args := cmd.Args; args != nil {
		cmd.Args = func(c *cobra.Command, a []string) error {
			err := args(c, a)
			if u := (*usageError)(nil); err != nil && !errors.As(err, &u) {
				err = &usageError{c, err}
			}
			return err
		}
	}
	for _, c := range cmd.Commands() {
		withUsage(c)
	}
}

// flagError turns pflag's "unknown flag: --auto-aprove" into a usage error
// that suggests --auto-approve.
func flagError(cmd *cobra.Command, err error) error {
	if name, ok := strings.CutPrefix(err.Error(), "unknown flag: --"); ok {
		var names []string
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			if !f.Hidden {
				names = append(names, f.Name)
			}
		})
		if s := suggest.Closest(name, names); s != "" {
			err = fmt.Errorf("%w; did you mean --%s?", err, s)
		}
	}
	return &usageError{cmd, err}
}
