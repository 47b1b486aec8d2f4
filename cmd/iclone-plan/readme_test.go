package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const repoRoot = "../.."

// readmeSection returns the text of README.md's "## title" section.
func readmeSection(t *testing.T, title string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "\n## "+title+"\n")
	if !ok {
		t.Fatalf("README.md has no %q section", title)
	}
	if i := strings.Index(rest, "\n## "); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// fencedBlocks returns the contents of the ```lang blocks of md, in order.
func fencedBlocks(md, lang string) []string {
	var out []string
	var cur *strings.Builder
	sc := bufio.NewScanner(strings.NewReader(md))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case cur == nil && line == "```"+lang:
			cur = &strings.Builder{}
		case cur != nil && line == "```":
			out = append(out, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	return out
}

// quickStart returns the README's quick-start commands: the lines of the
// first sh block of the "Quick start" section.
func quickStart(t *testing.T) (cmds []string, sample string) {
	t.Helper()
	sec := readmeSection(t, "Quick start")
	blocks := fencedBlocks(sec, "sh")
	if len(blocks) == 0 {
		t.Fatal("the Quick start section has no ```sh block")
	}
	for _, line := range strings.Split(blocks[0], "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			cmds = append(cmds, line)
		}
	}
	if texts := fencedBlocks(sec, "text"); len(texts) > 0 {
		sample = texts[0]
	}
	return cmds, sample
}

// sampleMatcher turns a sample of output from the README into a pattern per
// line: "…" stands for anything (a line of it alone for any lines), and
// every number may differ (times, ports, object ids, durations).
func sampleMatcher(line string) *regexp.Regexp {
	q := regexp.QuoteMeta(line)
	q = strings.ReplaceAll(q, "…", ".*")
	q = regexp.MustCompile(`[0-9]+`).ReplaceAllString(q, `[0-9]+`)
	return regexp.MustCompile("^" + q + "$")
}

// The README's quick start, run exactly as written on a machine with only
// Go: the first command from the repository root through `sh`, its output
// checked against the README's sample of it (in order); the second must be
// the test command CI runs (.ci/run), which is what runs this test.
func TestReadmeQuickStart(t *testing.T) {
	cmds, sample := quickStart(t)
	if len(cmds) != 2 {
		t.Fatalf("the quick start has %d commands, want exactly 2: %q", len(cmds), cmds)
	}
	// The CLI's end-to-end tests take minutes on a 2-core machine: the
	// timeout gives them room beyond go test's default ten minutes.
	if cmds[1] != "go test -timeout 20m ./..." {
		t.Errorf("the second quick-start command is %q, want the test command `go test -timeout 20m ./...`", cmds[1])
	}
	ci, err := os.ReadFile(filepath.Join(repoRoot, ".ci/run"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(cmds[1]) + `$`).Match(ci) {
		t.Errorf("CI (.ci/run) does not run the README's test command %q", cmds[1])
	}
	if !strings.HasPrefix(cmds[0], "go run ./cmd/iclone-plan ") || !strings.Contains(cmds[0], "--sim") {
		t.Fatalf("the first quick-start command %q does not run iclone-plan against the simulator", cmds[0])
	}
	if testing.Short() {
		t.Skip("runs the quick start (about 20 seconds)")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	t.Parallel() // mostly waits on the plan's rate: overlaps with CPU-bound tests

	cmd := exec.Command("sh", "-c", cmds[0])
	cmd.Dir = repoRoot
	// A fresh user: no state from earlier runs, no vCenter in the
	// environment, not a terminal (the progress is timestamped lines).
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOVC_") && !strings.HasPrefix(kv, e2eMainEnv+"=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "XDG_STATE_HOME="+t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n--- stdout\n%s--- stderr\n%s", cmds[0], err, stdout.String(), stderr.String())
	}
	out := stdout.String()

	// The README's sample of the output, line by line and in order.
	lines := strings.Split(out, "\n")
	at := 0
	for _, want := range strings.Split(strings.TrimSuffix(sample, "\n"), "\n") {
		if want == "…" {
			continue
		}
		re := sampleMatcher(want)
		for at < len(lines) && !re.MatchString(lines[at]) {
			at++
		}
		if at == len(lines) {
			t.Fatalf("the README's sample line %q is not in the output (in order):\n%s", want, out)
		}
		at++
	}
	if len(sample) == 0 {
		t.Error("the quick start shows no sample of the output")
	}
	// Plan, progress and summary of a real run of every clone.
	for _, want := range []string{
		"Plan: 38 to create, 0 to replace, 0 to destroy.",
		"applying: 42 step(s)",
		"[42/42]",
		"Apply complete: 38 created, 0 replaced, 0 destroyed in ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the quick start's output lacks %q", want)
		}
	}
	if strings.ContainsAny(out, "\x1b\r") {
		t.Error("escape codes in the quick start's output to a pipe")
	}
	t.Logf("%s: %d lines of output", cmds[0], len(lines))
}

// Every relative link of README.md and docs/*.md leads to a file, and every
// #fragment of a link within docs/ to a heading.
func TestDocLinks(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	files = append(files, filepath.Join(repoRoot, "README.md"))
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// Links in code are not links.
		text := regexp.MustCompile("(?s)```.*?```").ReplaceAllString(string(data), "")
		text = regexp.MustCompile("`[^`\n]*`").ReplaceAllString(text, "")
		for _, m := range link.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path, frag, _ := strings.Cut(target, "#")
			full := f
			if path != "" {
				full = filepath.Join(filepath.Dir(f), path)
				if _, err := os.Stat(full); err != nil {
					t.Errorf("%s: broken link %s", filepath.Base(f), target)
					continue
				}
			}
			if frag != "" && strings.HasSuffix(full, ".md") {
				doc, _ := os.ReadFile(full)
				if !hasAnchor(string(doc), frag) {
					t.Errorf("%s: link %s: no heading with anchor #%s in %s", filepath.Base(f), target, frag, filepath.Base(full))
				}
			}
		}
	}
}

// hasAnchor reports whether md has a heading whose GitHub anchor is frag.
func hasAnchor(md, frag string) bool {
	for _, line := range strings.Split(md, "\n") {
		h := strings.TrimLeft(line, "#")
		if h == line || !strings.HasPrefix(h, " ") {
			continue
		}
		var b strings.Builder
		for _, r := range strings.ToLower(strings.TrimSpace(h)) {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteByte('-')
			}
		}
		if b.String() == frag {
			return true
		}
	}
	return false
}
