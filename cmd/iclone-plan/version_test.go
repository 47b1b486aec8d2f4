package main

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFormatVersion(t *testing.T) {
	const rev = "0123456789abcdef0123456789abcdef01234567"
	stamped := func(modified string) *debug.BuildInfo {
		return &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.0.0-20261130114719-0123456789ab"},
			Settings: []debug.BuildSetting{
				{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev},
				{Key: "vcs.time", Value: "2026-11-30T11:47:19Z"}, {Key: "vcs.modified", Value: modified}}}
	}
	plat := " " + runtime.GOOS + "/" + runtime.GOARCH
	tests := []struct {
		name, v, commit string
		bi              *debug.BuildInfo
		want            string
	}{
		{"go build in a clean checkout", "", "", stamped("false"),
			"v0.0.0-20261130114719-0123456789ab, commit " + rev + " (2026-11-30T11:47:19Z), go1.26.0" + plat},
		{"go build in a modified checkout", "", "", stamped("true"),
			"v0.0.0-20261130114719-0123456789ab, commit " + rev + "-dirty (2026-11-30T11:47:19Z), go1.26.0" + plat},
		{"go install module@version", "", "", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.3"}},
			"v1.2.3, commit unknown, go1.26.0" + plat},
		{"ldflags win, and the VCS time is not theirs", "v9.8.7", "abc", stamped("true"),
			"v9.8.7, commit abc, go1.26.0" + plat},
		{"no build information", "", "", nil, "(devel), commit unknown, go1.x" + plat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := formatVersion(tt.v, tt.commit, tt.bi, "go1.x"); got != tt.want {
				t.Errorf("formatVersion =\n %q, want\n %q", got, tt.want)
			}
		})
	}
}

// A plain `go build` in a checkout (no -ldflags) names the commit it was
// built from, with its time, and says -dirty once the tree is modified. The
// checkout is a fresh repository holding this tree's files in one commit,
// so the test builds the code under test and sees both states whatever the
// state of the tree it runs in.
func TestVersionPlainBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary twice")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skip("not in a git checkout:", err)
	}
	top := strings.TrimSpace(string(out))
	src := t.TempDir()
	files, err := exec.Command("git", "-C", top, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Split(strings.TrimRight(string(files), "\x00"), "\x00") {
		b, err := os.ReadFile(filepath.Join(top, f))
		if errors.Is(err, fs.ErrNotExist) { // deleted, not yet committed
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(src, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const when = "2026-01-02T03:04:05Z"
	gitEnv := append(os.Environ(), "GIT_AUTHOR_DATE="+when, "GIT_COMMITTER_DATE="+when,
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", src, "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Env = gitEnv
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	git("add", "-A")
	git("commit", "-q", "-m", "version test")
	head := git("rev-parse", "HEAD")

	// A plain go build: GOFLAGS overrides a -buildvcs=false that a machine's
	// go env may set.
	env := append(os.Environ(), "GOFLAGS=-buildvcs=auto")
	build := func() string {
		t.Helper()
		bin := filepath.Join(t.TempDir(), "iclone-plan")
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/iclone-plan")
		cmd.Dir, cmd.Env = src, env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		out, err := exec.Command(bin, "--version").Output()
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}

	clean := build()
	re := regexp.MustCompile(`^iclone-plan version v0\.0\.0-20260102030405-` + head[:12] + `, commit ` + head + ` \(` + when + `\), go1\.\S+ \w+/\w+\n$`)
	if !re.MatchString(clean) {
		t.Errorf("--version of a clean checkout at %s:\n%s", head, clean)
	}

	if err := os.WriteFile(filepath.Join(src, "README.md"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dirty := build()
	re = regexp.MustCompile(`^iclone-plan version v0\.0\.0-20260102030405-` + head[:12] + `\+dirty, commit ` + head + `-dirty \(` + when + `\), go1\.\S+ \w+/\w+\n$`)
	if !re.MatchString(dirty) {
		t.Errorf("--version of a modified checkout at %s:\n%s", head, dirty)
	}
}
