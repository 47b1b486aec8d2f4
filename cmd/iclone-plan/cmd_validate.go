package main

import (
	"errors"
	"fmt"

	"github.com/iclone-plan/iclone-plan/internal/plan"
	"github.com/iclone-plan/iclone-plan/internal/ui"
	"github.com/spf13/cobra"
)

func init() { register(newValidateCmd) }

func newValidateCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "validate PLAN...",
		Short: "Check plan files offline, without a vCenter",
		Long: `Validate loads each plan file, checks every rule of the plan format and
renders every clone (names, MACs, serial files, guestinfo), without
connecting to vCenter.

For a valid plan it prints a summary: its groups, how many clones each has
and their first and last names. For an invalid plan it prints every error,
as file:line:col: message, sorted by position. The exit status is 0 when
every plan is valid and 1 otherwise.`,
		Example: `  # Check a plan before committing it
  iclone-plan validate plans/lab.yaml

  # Check every plan of a directory, e.g. in CI
  iclone-plan validate plans/*.yaml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			failed := false
			for _, path := range args {
				p, err := plan.Load(path)
				if err == nil {
					if err := ui.RenderSummary(a.stdout, p); err != nil {
						return err
					}
					continue
				}
				failed = true
				var list plan.ErrorList
				if !errors.As(err, &list) {
					fmt.Fprintf(a.stderr, "Error: %v\n", err)
					continue
				}
				for _, e := range list {
					fmt.Fprintln(a.stderr, e)
				}
				noun := "errors"
				if len(list) == 1 {
					noun = "error"
				}
				fmt.Fprintf(a.stderr, "%s: %d %s\n", path, len(list), noun)
			}
			if failed {
				return silentExit(ExitError)
			}
			return nil
		},
	}
}
