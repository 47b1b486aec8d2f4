package ship

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"encoding/hex"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// repoRoot is the repository's top directory, from this package's.
const repoRoot = "../.."

// targets are the release's GOOS/GOARCH pairs.
var targets = []string{"darwin/amd64", "darwin/arm64", "linux/amd64", "linux/arm64", "windows/amd64"}

// archiveFiles are what every archive holds besides the binary.
var archiveFiles = []string{"README.md", "LICENSE", "CHANGELOG.md", "plans/examples/lab.yaml", "plans/examples/guest/linux/iclone-customize.sh"}

// goreleaserConfig is the part of .goreleaser.yaml the tests read.
type goreleaserConfig struct {
	Version int `yaml:"version"`
	Builds  []struct {
		Main    string   `yaml:"main"`
		Binary  string   `yaml:"binary"`
		Env     []string `yaml:"env"`
		Flags   []string `yaml:"flags"`
		Ldflags []string `yaml:"ldflags"`
		Goos    []string `yaml:"goos"`
		Goarch  []string `yaml:"goarch"`
		Ignore  []struct {
			Goos   string `yaml:"goos"`
			Goarch string `yaml:"goarch"`
		} `yaml:"ignore"`
	} `yaml:"builds"`
	Archives []struct {
		Formats         []string `yaml:"formats"`
		FormatOverrides []struct {
			Goos    string   `yaml:"goos"`
			Formats []string `yaml:"formats"`
		} `yaml:"format_overrides"`
		Files []string `yaml:"files"`
	} `yaml:"archives"`
	Checksum struct {
		NameTemplate string `yaml:"name_template"`
		Algorithm    string `yaml:"algorithm"`
	} `yaml:"checksum"`
}

func readGoreleaser(t *testing.T) goreleaserConfig {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, ".goreleaser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c goreleaserConfig
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf(".goreleaser.yaml: %v", err)
	}
	return c
}

// The release configuration builds the five targets statically, stripped
// and without local paths, stamps what --version prints, and archives the
// files a user needs (each of which exists).
func TestGoreleaserConfig(t *testing.T) {
	c := readGoreleaser(t)
	if c.Version != 2 || len(c.Builds) != 1 || len(c.Archives) != 1 {
		t.Fatalf("want version 2 with one build and one archive: %+v", c)
	}
	b := c.Builds[0]
	if b.Main != "./cmd/iclone-plan" || b.Binary != "iclone-plan" {
		t.Errorf("build main %q binary %q", b.Main, b.Binary)
	}
	var got []string
	for _, goos := range b.Goos {
		for _, goarch := range b.Goarch {
			if !slices.ContainsFunc(b.Ignore, func(i struct {
				Goos   string `yaml:"goos"`
				Goarch string `yaml:"goarch"`
			}) bool {
				return i.Goos == goos && i.Goarch == goarch
			}) {
				got = append(got, goos+"/"+goarch)
			}
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, targets) {
		t.Errorf("targets %v, want %v", got, targets)
	}
	if !slices.Contains(b.Env, "CGO_ENABLED=0") || !slices.Contains(b.Flags, "-trimpath") || !slices.Contains(b.Flags, "-buildvcs=true") {
		t.Errorf("build env %v flags %v: want CGO_ENABLED=0, -trimpath and -buildvcs=true", b.Env, b.Flags)
	}
	ld := strings.Join(b.Ldflags, " ")
	for _, want := range []string{"-s", "-w", "-X main.buildVersion="} {
		if !strings.Contains(" "+ld, " "+want) {
			t.Errorf("ldflags %q lack %q", ld, want)
		}
	}
	a := c.Archives[0]
	if !slices.Equal(a.Formats, []string{"tar.gz"}) || len(a.FormatOverrides) != 1 ||
		a.FormatOverrides[0].Goos != "windows" || !slices.Equal(a.FormatOverrides[0].Formats, []string{"zip"}) {
		t.Errorf("archive formats %v %+v: want tar.gz, zip on windows", a.Formats, a.FormatOverrides)
	}
	for _, f := range archiveFiles {
		if !slices.ContainsFunc(a.Files, func(pat string) bool { return globMatch(pat, f) }) {
			t.Errorf("archives do not include %s", f)
		}
	}
	for _, pat := range a.Files {
		if m, _ := filepath.Glob(filepath.Join(repoRoot, strings.TrimSuffix(pat, "/**/*"))); len(m) == 0 {
			t.Errorf("archive file %q matches nothing", pat)
		}
	}
	if c.Checksum.Algorithm != "sha256" || c.Checksum.NameTemplate != "checksums.txt" {
		t.Errorf("checksum %+v: want sha256 in checksums.txt", c.Checksum)
	}
}

// globMatch matches name against an archive files pattern: a directory
// followed by /**/* (files below its subdirectories), or a path.Match glob.
func globMatch(pat, name string) bool {
	if dir, ok := strings.CutSuffix(pat, "/**/*"); ok {
		rest, ok := strings.CutPrefix(name, dir+"/")
		return ok && strings.Contains(rest, "/")
	}
	ok, _ := path.Match(pat, name)
	return ok
}

// distEnv names the dist directory of a release build to verify:
//
//	go run github.com/goreleaser/goreleaser/v2@v2.15.1 release --snapshot --clean
//	ICLONE_PLAN_DIST=$PWD/dist go test ./internal/ship -run Release
//
// (`task release` does both.)
const distEnv = "ICLONE_PLAN_DIST"

// The release build made one archive per target, each listed in
// checksums.txt with its sha256, each holding the binary for its target
// (static, stripped) with the README, LICENSE, CHANGELOG and the examples.
func TestReleaseArchives(t *testing.T) {
	dist := os.Getenv(distEnv)
	if dist == "" {
		t.Skip("set " + distEnv + " to a release build's dist directory (task release)")
	}
	sums := readChecksums(t, filepath.Join(dist, "checksums.txt"))
	archives, _ := filepath.Glob(filepath.Join(dist, "iclone-plan_*"))
	archives = slices.DeleteFunc(archives, func(p string) bool {
		return !strings.HasSuffix(p, ".tar.gz") && !strings.HasSuffix(p, ".zip")
	})
	if len(archives) != len(targets) || len(sums) != len(targets) {
		t.Errorf("%d archives and %d checksums, want %d of each", len(archives), len(sums), len(targets))
	}
	for name, sum := range sums {
		if got := fileSHA256(t, filepath.Join(dist, name)); got != sum {
			t.Errorf("%s: sha256 %s, checksums.txt says %s", name, got, sum)
		}
	}
	for _, target := range targets {
		goos, goarch, _ := strings.Cut(target, "/")
		ext, bin := ".tar.gz", "iclone-plan"
		if goos == "windows" {
			ext, bin = ".zip", "iclone-plan.exe"
		}
		var archive string
		for _, a := range archives {
			if strings.HasSuffix(a, "_"+goos+"_"+goarch+ext) {
				archive = a
			}
		}
		if archive == "" {
			t.Errorf("%s: no archive", target)
			continue
		}
		if _, ok := sums[filepath.Base(archive)]; !ok {
			t.Errorf("%s is not in checksums.txt", filepath.Base(archive))
		}
		files := readArchive(t, archive)
		for _, want := range append([]string{bin}, archiveFiles...) {
			if _, ok := files[want]; !ok {
				t.Errorf("%s lacks %s (has %d files)", filepath.Base(archive), want, len(files))
			}
		}
		if b, ok := files[bin]; ok {
			checkBinary(t, target, b)
		}
	}
}

func readChecksums(t *testing.T, file string) map[string]string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sums := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(sum) != 64 {
			t.Fatalf("checksums.txt: bad line %q", sc.Text())
		}
		sums[name] = sum
	}
	return sums
}

func fileSHA256(t *testing.T, file string) string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// readArchive returns the regular files of a .tar.gz or .zip by path; the
// binary's content is kept, the other files' only named.
func readArchive(t *testing.T, file string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	keep := func(name string) bool { return strings.HasPrefix(path.Base(name), "iclone-plan") }
	if strings.HasSuffix(file, ".zip") {
		z, err := zip.OpenReader(file)
		if err != nil {
			t.Fatal(err)
		}
		defer z.Close()
		for _, f := range z.File {
			if f.FileInfo().IsDir() {
				continue
			}
			files[f.Name] = nil
			if keep(f.Name) {
				r, err := f.Open()
				if err != nil {
					t.Fatal(err)
				}
				files[f.Name], err = io.ReadAll(r)
				r.Close()
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		return files
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		} else if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		files[h.Name] = nil
		if keep(h.Name) {
			if files[h.Name], err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// checkBinary checks b is an executable for target: its format and
// machine, no dynamic loader (static) and no symbol table (stripped).
func checkBinary(t *testing.T, target string, b []byte) {
	t.Helper()
	r := bytes.NewReader(b)
	switch target {
	case "linux/amd64", "linux/arm64":
		f, err := elf.NewFile(r)
		if err != nil {
			t.Errorf("%s: not ELF: %v", target, err)
			return
		}
		want := map[string]elf.Machine{"linux/amd64": elf.EM_X86_64, "linux/arm64": elf.EM_AARCH64}[target]
		if f.Machine != want {
			t.Errorf("%s: ELF machine %v", target, f.Machine)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s: dynamically linked (has an interpreter)", target)
			}
		}
		if f.Section(".symtab") != nil {
			t.Errorf("%s: not stripped (has .symtab)", target)
		}
	case "darwin/amd64", "darwin/arm64":
		f, err := macho.NewFile(r)
		if err != nil {
			t.Errorf("%s: not Mach-O: %v", target, err)
			return
		}
		want := map[string]macho.Cpu{"darwin/amd64": macho.CpuAmd64, "darwin/arm64": macho.CpuArm64}[target]
		if f.Cpu != want {
			t.Errorf("%s: Mach-O CPU %v", target, f.Cpu)
		}
		// A stripped Mach-O keeps only the undefined symbols it imports
		// from libSystem.
		if f.Symtab != nil {
			defined := 0
			for _, s := range f.Symtab.Syms {
				if s.Sect != 0 {
					defined++
				}
			}
			if defined > 0 {
				t.Errorf("%s: not stripped (%d defined symbols)", target, defined)
			}
		}
	case "windows/amd64":
		f, err := pe.NewFile(r)
		if err != nil {
			t.Errorf("%s: not PE: %v", target, err)
			return
		}
		if f.Machine != pe.IMAGE_FILE_MACHINE_AMD64 {
			t.Errorf("%s: PE machine %#x", target, f.Machine)
		}
		if len(f.Symbols) > 0 {
			t.Errorf("%s: not stripped (%d symbols)", target, len(f.Symbols))
		}
	}
}
