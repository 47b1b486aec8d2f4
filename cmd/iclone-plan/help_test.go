package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// Every command a user can see has examples in its --help.
func TestEveryCommandHasExamples(t *testing.T) {
	var paths [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		if c.Hidden {
			return
		}
		paths = append(paths, path)
		for _, sc := range c.Commands() {
			walk(sc, append(slices.Clone(path), sc.Name()))
		}
	}
	walk(newRootCmd(nil, &bytes.Buffer{}, &bytes.Buffer{}), nil)
	for _, want := range []string{"apply", "completion bash", "completion zsh", "completion fish", "help", "validate"} {
		found := false
		for _, p := range paths {
			found = found || strings.Join(p, " ") == want
		}
		if !found {
			t.Errorf("command %q not found", want)
		}
	}
	for _, p := range paths {
		var out, errb bytes.Buffer
		code := run(append(slices.Clone(p), "--help"), nil, &out, &errb)
		name := strings.TrimSpace("iclone-plan " + strings.Join(p, " "))
		if code != 0 {
			t.Errorf("%s --help: exit %d: %s", name, code, errb.String())
			continue
		}
		i := strings.Index(out.String(), "\nExamples:\n")
		if i < 0 {
			t.Errorf("%s --help has no examples:\n%s", name, out.String())
			continue
		}
		if !strings.Contains(out.String()[i:], "iclone-plan ") {
			t.Errorf("%s --help: the examples do not run iclone-plan", name)
		}
	}
	t.Logf("%d commands checked", len(paths))
}

// A build stamped the way `task build` stamps it reports the commit and the
// version it was given.
func TestVersionLinkerStamp(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "iclone-plan")
	const commit, ver = "0123456789abcdef0123456789abcdef01234567", "v9.8.7"
	build := exec.Command("go", "build", "-o", bin,
		"-ldflags", "-X main.buildCommit="+commit+" -X main.buildVersion="+ver, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^iclone-plan version v9\.8\.7, commit ` + commit + `, go1\.\S+ \w+/\w+\n$`)
	if !re.Match(out) {
		t.Errorf("--version of a stamped build: %q", out)
	}
	_ = os.Remove(bin)
}
