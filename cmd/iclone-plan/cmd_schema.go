package main

import (
	"github.com/iclone-plan/iclone-plan/schema"
	"github.com/spf13/cobra"
)

func init() { register(newSchemaCmd) }

func newSchemaCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of plan files",
		Long: `Schema prints the JSON Schema (draft 2020-12) of iclone-plan's plan files,
as built into this binary. Editors use it for completion and checks while
you type: with the YAML language server (VS Code, Neovim, ...), start a plan
with a comment that points at a copy of it.`,
		Example: `  # Save the schema next to your plans
  iclone-plan schema > plans/plan.schema.json

  # ... and start each plan with
  # yaml-language-server: $schema=plan.schema.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := a.stdout.Write(schema.JSON)
			return err
		},
	}
}
