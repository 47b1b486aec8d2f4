package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/iclone-plan/iclone-plan/internal/apply"
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
	replace          []string
	target           []string
	destroy          bool
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

  # Rebuild one clone, or plan only one group
  iclone-plan plan --replace lab-web-03 plans/lab.yaml
  iclone-plan plan --target web plans/lab.yaml

  # What would destroy do?
  iclone-plan plan --destroy plans/lab.yaml

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
	cmd.Flags().StringArrayVar(&f.replace, "replace", nil, "plan to replace the clones whose name matches `GLOB` even if unchanged (repeatable; * and ? as in a shell)")
	cmd.Flags().StringArrayVar(&f.target, "target", nil, "plan only the clones of `GROUP` (repeatable); the other groups are left as they are")
	cmd.Flags().BoolVar(&f.destroy, "destroy", false, "show what destroy would do (every clone the plan owns destroyed), changing nothing")
	return cmd
}

func (a *app) runPlan(cmd *cobra.Command, path string, f *planFlags) error {
	if f.destroy && (f.out != "" || len(f.replace) > 0 || len(f.target) > 0 || f.replaceAll) {
		return withExit(ExitError, errors.New("plan --destroy shows what destroy would do; it takes none of --out, --replace, --replace-all, --target"))
	}
	if f.destroy && f.conn.sim {
		fmt.Fprintln(a.stderr, simEmptyNote)
	}
	o, err := a.observe(cmd.Context(), path, &f.conn, f.refresh)
	if err != nil {
		return err
	}
	defer o.Target.Close()
	p := o.Plan
	if err := p.CheckSelection(f.replace, f.target); err != nil {
		return err
	}
	ch := plan.Diff(apply.Desired(p, f.destroy), o.Inventory, plan.Options{ReplaceAll: f.replaceAll, ChainWarning: f.chainWarning, Replace: f.replace})
	untargeted := plan.Target(ch, f.target)
	h := ui.PlanHeader{Plan: p.Name, File: path, VCenter: o.Target.VCenter()}
	if f.json {
		doc := ui.NewPlanDoc(h, ch)
		doc.NotTargeted = ui.NotTargeted(untargeted)
		err = ui.WriteJSON(a.stdout, doc)
	} else {
		st := a.style(f.noColor)
		st.Detail, st.ShowUnchanged = f.detail, f.showUnchanged
		err = ui.RenderPlan(a.stdout, h, ch, st)
		renderUntargeted(a.stdout, untargeted)
	}
	if err != nil {
		return err
	}
	if err := ch.Err(); err != nil {
		return withExit(ExitError, err)
	}
	if !f.destroy {
		if err := apply.MassDestroy(ch); err != nil {
			fmt.Fprintf(a.stderr, "Warning: apply will refuse this plan: %v\n", err)
		}
	}
	if f.out != "" {
		if err := savePlan(f.out, path, h, ch, f); err != nil {
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
func savePlan(out, planPath string, h ui.PlanHeader, ch *plan.Changes, f *planFlags) error {
	src, err := os.ReadFile(planPath)
	if err != nil {
		return err
	}
	doc := ui.NewPlanDoc(h, ch)
	sum := sha256.Sum256(src)
	doc.PlanSource, doc.PlanSHA256, doc.ReplaceAll = string(src), hex.EncodeToString(sum[:]), f.replaceAll
	doc.Replace, doc.Target = f.replace, f.target
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
