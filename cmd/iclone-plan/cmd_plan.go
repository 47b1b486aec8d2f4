package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/iclone-plan/iclone-plan/internal/outfile"
	"github.com/iclone-plan/iclone-plan/internal/plan"
	"github.com/iclone-plan/iclone-plan/internal/platform"
	"github.com/iclone-plan/iclone-plan/internal/ui"
)

func init() { register(newPlanCmd) }

type planFlags struct {
	conn             connFlags
	out              string
	json             bool
	detailedExitcode bool
	replaceAll       bool
	noColor          bool
	chainWarning     int
	refresh          bool
	detail           bool
	showUnchanged    bool
}

func newPlanCmd(a *app) *cobra.Command {
	f := &planFlags{}
	cmd := &cobra.Command{
		Use:   "plan PLAN",
		Short: "Show what apply would change, against the live inventory",
		Long: `Plan reads the inventory once, compares it with the plan file and shows, for
every clone, what apply would do: create (+), replace (-/+, with the reason),
destroy (-) or nothing; and any conflict that stops the plan from being
applied (a name or MAC held by a VM the plan does not own, a missing or
powered-off source). Nothing is changed.

The vCenter comes from --url or the govc environment (GOVC_URL, GOVC_USERNAME,
GOVC_PASSWORD, GOVC_INSECURE, GOVC_TLS_CA_CERTS, GOVC_TLS_KNOWN_HOSTS,
GOVC_DATACENTER); --sim uses an in-process simulator seeded with the plan.

` + cacheHelp,
		Example: `  # What would change?
  iclone-plan plan plans/lab.yaml

  # In cron: exit 2 when there are changes, 0 when there are none
  iclone-plan plan --detailed-exitcode plans/lab.yaml

  # Save the reviewed plan; apply refuses it if the inventory changed since
  iclone-plan plan --out lab.plan plans/lab.yaml && iclone-plan apply lab.plan

  # Try a plan without a vCenter
  iclone-plan plan --sim plans/examples/lab.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runPlan(cmd, args[0], f)
		},
	}
	f.conn.register(cmd.Flags())
	cmd.Flags().StringVar(&f.out, "out", "", "save the plan to `FILE` for a later apply (which refuses it if the inventory changed)")
	cmd.Flags().BoolVar(&f.json, "json", false, "print the plan as versioned JSON")
	cmd.Flags().BoolVar(&f.detailedExitcode, "detailed-exitcode", false, "exit 0 when there are no changes, 2 when there are, 1 on errors")
	cmd.Flags().BoolVar(&f.replaceAll, "replace-all", false, "plan to replace every existing clone")
	cmd.Flags().BoolVar(&f.noColor, "no-color", false, "never colour the output")
	cmd.Flags().BoolVar(&f.refresh, "refresh", false, refreshUsage)
	cmd.Flags().BoolVar(&f.detail, "detail", false, "list, per clone, the values it gets: MACs per adapter (auto ones too), networks, serial files, guestinfo")
	cmd.Flags().BoolVar(&f.showUnchanged, "show-unchanged", false, "list the unchanged clones too (by default they are counted per group)")
	cmd.Flags().IntVar(&f.chainWarning, "chain-warning", plan.DefaultChainWarning, "warn when a source's delta chain would pass this many levels (vSphere stops at 255; negative: never)")
	return cmd
}

func (a *app) runPlan(cmd *cobra.Command, path string, f *planFlags) error {
	o, err := a.observe(cmd.Context(), path, &f.conn, f.refresh)
	if err != nil {
		return err
	}
	defer o.Target.Close()
	p := o.Plan
	ch := plan.Diff(p, o.Inventory, plan.Options{ReplaceAll: f.replaceAll, ChainWarning: f.chainWarning})
	h := ui.PlanHeader{Plan: p.Name, File: path, VCenter: o.Target.Client.Host()}
	if f.json {
		err = ui.WriteJSON(a.stdout, ui.NewPlanDoc(h, ch))
	} else {
		st := a.style(f.noColor)
		st.Detail, st.ShowUnchanged = f.detail, f.showUnchanged
		err = ui.RenderPlan(a.stdout, h, ch, st)
	}
	if err != nil {
		return err
	}
	if err := ch.Err(); err != nil {
		return withExit(ExitError, err)
	}
	if f.out != "" {
		if err := savePlan(f.out, path, h, ch, f.replaceAll); err != nil {
			return err
		}
		if !f.json {
			fmt.Fprintf(a.stdout, "\nSaved the plan to %s. Apply it with: iclone-plan apply %s\n", f.out, f.out)
		}
	}
	if f.detailedExitcode && ch.HasChanges() {
		return silentExit(ExitChanges)
	}
	return nil
}

// savePlan writes the plan document with the plan file's text and hash, so
// apply runs exactly what was reviewed, atomically and readable only by the
// owner (it names the vCenter and inventory).
func savePlan(out, planPath string, h ui.PlanHeader, ch *plan.Changes, replaceAll bool) error {
	src, err := os.ReadFile(planPath)
	if err != nil {
		return err
	}
	doc := ui.NewPlanDoc(h, ch)
	sum := sha256.Sum256(src)
	doc.PlanSource, doc.PlanSHA256, doc.ReplaceAll = string(src), hex.EncodeToString(sum[:]), replaceAll
	return writeFileAtomic(out, 0o600, func(w io.Writer) error { return ui.WriteJSON(w, doc) })
}

// writeFileAtomic writes an output file (report, metrics, saved plan) with
// outfile.Write: a regular file is replaced atomically, a symlink's target
// is, and a device or FIFO is written in place, never replaced.
func writeFileAtomic(path string, mode os.FileMode, write func(io.Writer) error) error {
	return outfile.Write(path, mode, write)
}

// isTerminal reports whether w is a terminal (not a file, a pipe or /dev/null).
func isTerminal(w any) bool {
	return platform.IsTerminal(w)
}
