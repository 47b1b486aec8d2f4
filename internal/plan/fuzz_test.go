package plan

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/iclone-plan/iclone-plan/internal/macgen"
)

// FuzzParse feeds arbitrary bytes to the loader. Seeds: the invalid corpus,
// the example plans and the full plan of the tests; what the fuzzer finds
// lives in testdata/fuzz/FuzzParse. Run it with
//
//	go test ./internal/plan -run '^$' -fuzz FuzzParse -fuzztime 3m
//
// The loader must never panic, and it either returns a plan that keeps the
// plan invariants or a sorted ErrorList whose errors all have a position.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/invalid/*.yaml")
	examples, _ := filepath.Glob("../../plans/examples/*.yaml")
	for _, p := range append(seeds, examples...) {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(fullPlan))
	fuzzing := flag.Lookup("test.fuzz").Value.String() != ""
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		p, err := Parse("f.yaml", data)
		// A hang detector while fuzzing only (never in plain go test, where a
		// loaded machine must not make it fail): the largest valid plan
		// loads in well under a second.
		if d := time.Since(start); fuzzing && d > 5*time.Second {
			t.Fatalf("Parse took %v", d)
		}
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error %T is not a non-empty ErrorList: %v", err, err)
			}
			if !slices.IsSortedFunc(list, compareErrors) {
				t.Fatalf("errors are not sorted:\n%v", list)
			}
			for _, e := range list {
				if e.Pos.File != "f.yaml" || e.Pos.Line < 1 || e.Pos.Col < 1 || e.Msg == "" {
					t.Fatalf("error without position or message: %q", e)
				}
			}
			return
		}
		checkInvariants(t, p)
	})
}

// checkInvariants checks what a valid plan promises the planner: unique,
// well-formed clone names, unique valid MACs and unique serial files.
func checkInvariants(t *testing.T, p *Plan) {
	t.Helper()
	names := map[string]bool{}
	macs := map[string]bool{}
	files := map[string]bool{}
	n := 0
	for c := range p.Clones() {
		n++
		if c.Name == "" || len(c.Name) > 4*MaxNameLen || names[c.Name] {
			t.Fatalf("clone name %q is empty, too long or repeated", c.Name)
		}
		names[c.Name] = true
		for _, nic := range c.NICs {
			m, err := macgen.ParseMAC(nic.MAC)
			if err != nil || m.String() != nic.MAC || macgen.Check(m, p.AllowLocalMACs) != nil || macs[nic.MAC] {
				t.Fatalf("clone %s adapter %d: bad or repeated MAC %q", c.Name, nic.Adapter, nic.MAC)
			}
			macs[nic.MAC] = true
		}
		for _, s := range c.Serial {
			if _, _, err := macgen.ParseDatastorePath(s.File); err != nil || files[s.File] {
				t.Fatalf("clone %s: bad or repeated serial file %q", c.Name, s.File)
			}
			files[s.File] = true
		}
		for k := range c.ExtraConfig {
			if len(k) >= 7 && (k[:7] == "iclone." || k[:7] == "ICLONE.") {
				t.Fatalf("clone %s: reserved key %q", c.Name, k)
			}
		}
	}
	if n != p.NumClones() || n > MaxClones {
		t.Fatalf("%d clones iterated, NumClones %d", n, p.NumClones())
	}
}
