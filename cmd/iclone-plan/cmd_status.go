package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/iclone-plan/iclone-plan/internal/plan"
	"github.com/iclone-plan/iclone-plan/internal/ui"
)

func init() { register(newStatusCmd) }

func newStatusCmd(a *app) *cobra.Command {
	var (
		conn    connFlags
		asJSON  bool
		noColor bool
		refresh bool
	)
	cmd := &cobra.Command{
		Use:   "status PLAN",
		Short: "List the clones the plan owns: age, power state, MACs and drift",
		Long: `Status lists every VM carrying the plan's ownership marker, with its age,
power state, MAC addresses and drift from the plan (what apply would do to it
and why), and the plan's clones that do not exist. Nothing is changed.

` + cacheHelp,
		Example: `  iclone-plan status plans/lab.yaml
  iclone-plan status --json plans/lab.yaml | jq '.clones[] | select(.drift != "in sync")'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if conn.sim {
				fmt.Fprintln(a.stderr, simEmptyNote)
			}
			o, err := a.observe(cmd.Context(), args[0], &conn, refresh)
			if err != nil {
				return err
			}
			defer o.Target.Close()
			d := ui.NewStatusDoc(ui.PlanHeader{Plan: o.Plan.Name, File: args[0], VCenter: o.Target.VCenter()}, plan.Diff(o.Plan, o.Inventory, plan.Options{}))
			if asJSON {
				return ui.WriteJSON(a.stdout, d)
			}
			return ui.RenderStatus(a.stdout, d, a.style(noColor))
		},
	}
	conn.register(cmd.Flags())
	cmd.Flags().BoolVar(&refresh, "refresh", false, refreshUsage)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as versioned JSON")
	cmd.Flags().BoolVar(&noColor, "no-color", false, "never colour the output")
	return cmd
}
