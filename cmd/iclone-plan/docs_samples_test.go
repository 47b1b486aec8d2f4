package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/spf13/pflag"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/iclone-plan/iclone-plan/internal/executor"
	"github.com/iclone-plan/iclone-plan/internal/sim"
	"github.com/iclone-plan/iclone-plan/schema"
)

// docSection returns the text of the section of docs/NAME whose heading
// (any level) is title, up to the next heading of the same or a higher
// level.
func docSection(t *testing.T, name, title string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "docs", name))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	for i, line := range lines {
		level := len(line) - len(strings.TrimLeft(line, "#"))
		if level == 0 || strings.TrimSpace(line[level:]) != title {
			continue
		}
		var b strings.Builder
		for _, l := range lines[i+1:] {
			if n := len(l) - len(strings.TrimLeft(l, "#")); n > 0 && n <= level && strings.HasPrefix(l[n:], " ") {
				break
			}
			b.WriteString(l + "\n")
		}
		return b.String()
	}
	t.Fatalf("docs/%s has no section %q", name, title)
	return ""
}

// tsvField is a string as jq's @tsv writes it.
func tsvField(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`, "\r", `\r`).Replace(s)
}

// jqExpectations are what each jq line of docs/operations.md's "Reading the
// report" prints for a report, computed from the report independently of
// jq: the outcome and cause; the failed actions, tab-separated; the
// leftovers. The lines are matched by their order in the docs: a new or
// moved line needs its expectation here.
var jqExpectations = []func(r *executor.Report) string{
	func(r *executor.Report) string {
		if r.Cause == "" {
			return string(r.Outcome) + "\n"
		}
		return string(r.Outcome) + "\n" + r.Cause + "\n"
	},
	func(r *executor.Report) string {
		var b strings.Builder
		for _, a := range r.Failed() {
			fmt.Fprintf(&b, "%s\t%s\t%s\t%s\n", a.Op, tsvField(a.Name), tsvField(a.Fault), tsvField(a.Error))
		}
		return b.String()
	},
	func(r *executor.Report) string {
		var b strings.Builder
		for _, l := range r.Leftover {
			vm := l.VM
			if vm == "" {
				vm = "-"
			}
			fmt.Fprintf(&b, "%s %s: %s\n", l.Name, vm, l.What)
		}
		return b.String()
	},
}

// TestOperationsReportSamples runs the jq command lines of
// docs/operations.md's "Reading the report" exactly as written (through
// sh, in a directory where lab.json is the report) against the reports of
// real applies of the end-to-end plan against the simulator: one rolled
// back by a failed clone, one whose rollback was incomplete (destroys
// fail) and one that succeeds. Each line must exit 0 and print what the
// report holds. The section's JSON sample of a report must be valid under
// schema/report.schema.json (its "..." placeholders aside) and show every
// key a real report always has.
func TestOperationsReportSamples(t *testing.T) {
	if _, err := exec.LookPath("jq"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("jq is not installed (.ci/run installs it)")
		}
		t.Skip("no jq (Debian: apt-get install jq)")
	}
	sec := docSection(t, "operations.md", "Reading the report")
	var lines []string
	for _, block := range fencedBlocks(sec, "sh") {
		for _, line := range strings.Split(block, "\n") {
			if strings.HasPrefix(line, "jq ") {
				lines = append(lines, line)
			}
		}
	}
	if len(lines) != len(jqExpectations) {
		t.Fatalf("%d jq lines in docs/operations.md's \"Reading the report\", %d expectations in this test:\n%s",
			len(lines), len(jqExpectations), strings.Join(lines, "\n"))
	}
	for _, line := range lines {
		if !strings.HasSuffix(line, " lab.json") {
			t.Fatalf("the jq line %q does not read lab.json", line)
		}
	}

	e := newE2E(t, e2ePlan, sim.Options{FailClone: 3})
	fault := func(method string, skip int) *simulator.FaultInjectionRule {
		return &simulator.FaultInjectionRule{MethodName: method, ObjectType: "VirtualMachine", ObjectName: "*", Probability: 1,
			Fault: &types.SystemError{Reason: "injected by a fault rule"}, FaultType: simulator.FaultTypeCustom, SkipCount: skip, Enabled: true}
	}
	runs := []struct {
		name  string
		rules []*simulator.FaultInjectionRule
		code  int
	}{
		{"rolled-back", nil, ExitRolledBack},
		{"rollback-incomplete", []*simulator.FaultInjectionRule{fault("InstantClone_Task", 2), fault("Destroy_Task", 0)}, ExitRollbackFailed},
		{"success", nil, ExitOK},
	}
	printed := map[int]bool{} // jq lines that printed something for some report
	for _, run := range runs {
		dir := filepath.Join(e.dir, run.name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		report := filepath.Join(dir, "lab.json")
		for _, r := range run.rules {
			e.sim.Service().AddFaultRule(r)
		}
		r := e.cli("apply", "--auto-approve", "--report", report, e2ePlan)
		e.sim.Service().ClearFaultRules()
		if r.code != run.code {
			t.Fatalf("%s: want exit %d: %v", run.name, run.code, r)
		}
		data, err := os.ReadFile(report)
		if err != nil {
			t.Fatal(err)
		}
		var rep executor.Report
		if err := json.Unmarshal(data, &rep); err != nil {
			t.Fatal(err)
		}
		for i, line := range lines {
			cmd := exec.Command("sh", "-c", line)
			cmd.Dir = dir
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Errorf("%s: %s: %v\n%s", run.name, line, err, stderr.String())
				continue
			}
			if want := jqExpectations[i](&rep); stdout.String() != want {
				t.Errorf("%s: %s printed\n%q\nwant\n%q", run.name, line, stdout.String(), want)
			}
			if stdout.Len() > 0 {
				printed[i] = true
			}
		}
	}
	for i, line := range lines {
		if !printed[i] {
			t.Errorf("%s printed nothing for any of the reports: the test shows nothing about it", line)
		}
	}

	// The JSON sample of a report.
	blocks := fencedBlocks(sec, "json")
	if len(blocks) != 1 {
		t.Fatalf("%d json blocks in \"Reading the report\", want 1", len(blocks))
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(blocks[0]))
	if err != nil {
		t.Fatalf("the report sample is not JSON: %v\n%s", err, blocks[0])
	}
	c := jsonschema.NewCompiler() // no format assertions: the sample's times are "..."
	schemaDoc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema.ReportJSON))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource(reportSchemaURL, schemaDoc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(reportSchemaURL)
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(doc); err != nil {
		t.Errorf("docs/operations.md's report sample does not match report.schema.json: %v", err)
	}
}

// durationRE matches a Go duration as the summary prints it (18.52s,
// 850ms, 1m2.5s).
var durationRE = regexp.MustCompile(`\b[0-9][0-9.]*(?:h[0-9.]*)?(?:m[0-9.]*)?(?:ms|µs|s)\b`)

// TestOperationsNightlySample runs a nightly rebuild (apply --replace-all
// of the end-to-end plan, not on a terminal) and checks docs/operations.md's
// sample of its output in "Nightly rebuilds" line by line, in order, modulo
// numbers (counts, times, object ids, durations) and run ids.
func TestOperationsNightlySample(t *testing.T) {
	sec := docSection(t, "operations.md", "Nightly rebuilds")
	texts := fencedBlocks(sec, "text")
	if len(texts) != 1 {
		t.Fatalf("%d text blocks in \"Nightly rebuilds\", want 1", len(texts))
	}
	e := newE2E(t, e2ePlan, sim.Options{})
	if r := e.cli("apply", "--auto-approve", e2ePlan); r.code != 0 {
		t.Fatal(r)
	}
	r := e.cli("apply", "--auto-approve", "--replace-all", e2ePlan)
	if r.code != 0 {
		t.Fatal(r)
	}
	norm := func(s string) string {
		s = durationRE.ReplaceAllString(s, "DURATION")
		s = regexp.MustCompile(`~old-[0-9a-f]+`).ReplaceAllString(s, "~old-RUN")
		return regexp.MustCompile(`\(run [0-9]{8}T[0-9]{6}-[0-9a-f]+\)`).ReplaceAllString(s, "(run RUN)")
	}
	out := strings.Split(norm(r.stdout), "\n")
	at := 0
	for _, want := range strings.Split(strings.TrimSuffix(texts[0], "\n"), "\n") {
		re := sampleMatcher(norm(want))
		for at < len(out) && !re.MatchString(out[at]) {
			at++
		}
		if at == len(out) {
			t.Fatalf("docs/operations.md's sample line %q is not in the output of a nightly rebuild (in order):\n%s", want, r.stdout)
		}
		at++
	}
	// The counts the sample shows agree with each other as they do in a
	// real run: every step of a replace-all is counted.
	n := e.plan.NumClones()
	for _, want := range []string{
		fmt.Sprintf("applying: %d step(s)", 2*n),
		fmt.Sprintf("[%d/%d]", 2*n, 2*n),
		fmt.Sprintf("Apply complete: 0 created, %d replaced, 0 destroyed in ", n),
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the nightly rebuild's output lacks %q:\n%s", want, r.stdout)
		}
	}
}

// docCommandLines returns every iclone-plan command line of README.md and
// docs/*.md: in code blocks (continuation lines joined; the binary may be
// a path or `go run ./cmd/iclone-plan`) and in inline code spans, each as
// "file: the arguments after iclone-plan", cut at a comment, a
// redirection, a pipe or the end of the span.
func docCommandLines(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	files = append(files, filepath.Join(repoRoot, "README.md"))
	invocation := regexp.MustCompile(`(?:^|[\s/])iclone-plan\s+([a-z][^#|>;&)]*)`)
	span := regexp.MustCompile("`((?:[^`\n]*/)?iclone-plan [^`\n]+)`")
	var out []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		md := string(data)
		var code []string
		for _, lang := range []string{"sh", "bash", "cron", "ini"} {
			for _, b := range fencedBlocks(md, lang) {
				code = append(code, strings.Split(strings.ReplaceAll(b, "\\\n", " "), "\n")...)
			}
		}
		for _, m := range span.FindAllStringSubmatch(md, -1) {
			code = append(code, m[1])
		}
		for _, line := range code {
			for _, ix := range invocation.FindAllStringSubmatchIndex(line, -1) {
				// "kubectl -n iclone-plan create ..." names a namespace,
				// not the command: a word after a flag is the flag's value.
				if before := strings.Fields(line[:ix[0]]); len(before) > 0 && strings.HasPrefix(before[len(before)-1], "-") {
					continue
				}
				out = append(out, filepath.Base(f)+": "+strings.TrimSpace(line[ix[2]:ix[3]]))
			}
		}
	}
	return out
}

// TestDocCommandLines: every iclone-plan command line the README and the
// docs show names a command that exists and only flags that command has
// (parsed by the real command tree, as the binary would parse it).
func TestDocCommandLines(t *testing.T) {
	lines := docCommandLines(t)
	if len(lines) < 10 {
		t.Fatalf("only %d iclone-plan command lines found in the docs: %q", len(lines), lines)
	}
	for _, l := range lines {
		file, args, _ := strings.Cut(l, ": ")
		var words []string
		for _, w := range strings.Fields(args) {
			words = append(words, strings.Trim(w, `'"`))
		}
		root := newRootCmd(strings.NewReader(""), io.Discard, io.Discard)
		cmd, rest, err := root.Find(words)
		if err != nil || cmd == root {
			t.Errorf("%s: `iclone-plan %s`: no such command (%v)", file, args, err)
			continue
		}
		if err := cmd.ParseFlags(rest); err != nil && !errors.Is(err, pflag.ErrHelp) {
			t.Errorf("%s: `iclone-plan %s`: %v", file, args, err)
		}
	}
	t.Logf("%d iclone-plan command lines in README.md and docs/*.md parse:\n%s", len(lines), strings.Join(lines, "\n"))
}
