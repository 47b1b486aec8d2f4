package main

// The hardening suites of issue 8: each proves an invariant of
// docs/design.md (section 7) against the real CLI (a subprocess) and the simulator, and
// prints how many inputs or trials it ran. docs/guarantees.md lists them.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/find"

	"github.com/iclone-plan/iclone-plan/internal/sim"
)

// fullSnapshot is snapshotOf plus the datacenter's VM folders (apply
// creates folders, and the plan's lease is a folder).
func (e *e2e) fullSnapshot() map[string]string {
	e.t.Helper()
	inv := e.inventory()
	out := snapshotOf(inv)
	for f := range inv.Folders {
		out["folder "+f] = "exists"
	}
	return out
}

// snapshotDiff describes how after differs from before, "" if it does not.
func snapshotDiff(before, after map[string]string) string {
	keys := slices.Collect(maps.Keys(before))
	for k := range after {
		if _, ok := before[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		if before[k] != after[k] {
			fmt.Fprintf(&b, "  %s\n    before: %s\n    after:  %s\n", k, before[k], after[k])
		}
	}
	return b.String()
}

// foreign keeps the entries of a snapshot that are not VMs of plan: what
// a run must never modify.
func foreign(snap map[string]string, plan string) map[string]string {
	out := map[string]string{}
	for k, v := range snap {
		if strings.HasPrefix(k, "folder ") || strings.Contains(v, " iclone.plan="+plan+"]") || strings.Contains(v, " iclone.plan="+plan+" ") {
			continue
		}
		out[k] = v
	}
	return out
}

// labVariant writes a copy of the e2e lab plan with the replacements
// applied (old, new, old, new, ...), each of which must match.
func labVariant(t *testing.T, dir, name string, repl ...string) string {
	t.Helper()
	data, err := os.ReadFile(e2ePlan)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(repl); i += 2 {
		if !bytes.Contains(data, []byte(repl[i])) {
			t.Fatalf("%s: the lab plan has no %q", name, repl[i])
		}
		data = bytes.ReplaceAll(data, []byte(repl[i]), []byte(repl[i+1]))
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// powerOffVM powers off the VM at path (in datacenter Lab).
func (e *e2e) powerOffVM(path string) {
	e.t.Helper()
	ctx := context.Background()
	vm, err := find.NewFinder(e.client.Vim, false).VirtualMachine(ctx, path)
	if err != nil {
		e.t.Fatal(err)
	}
	task, err := vm.PowerOff(ctx)
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		e.t.Fatal(err)
	}
}

// TestHardeningBadInput: every kind of bad input, to plan, apply and
// destroy: a clear error, exit 1, and no change at all in the inventory.
func TestHardeningBadInput(t *testing.T) {
	e := newE2E(t, e2ePlan, sim.Options{})
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if err := os.Mkdir(filepath.Join(dir, "a-directory"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A powered-off VM with the NICs and (none of the) serial ports of a
	// source, for the powered-off source case.
	e.addDecoy("/Lab/vm/golden", "off-golden", "00:50:56:3f:00:01", "00:50:56:3f:00:02")
	e.powerOffVM("/Lab/vm/golden/off-golden")

	var deep strings.Builder
	deep.WriteString("version: 1\nname: deep\ngroups: ")
	deep.WriteString(strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + "\n")
	var deepMap strings.Builder
	deepMap.WriteString("version: 1\nname: deep\ndefaults:\n")
	for i := range 600 {
		fmt.Fprintf(&deepMap, "%sk%d:\n", strings.Repeat(" ", 2*(i+1)), i)
	}

	type input struct {
		name, file, want string
		cmds             []string // default: plan, apply, destroy
	}
	all := []string{"plan", "apply", "destroy"}
	inputs := []input{
		{"empty file", "testdata/hardening/empty.yaml", "the plan is empty", all},
		{"binary garbage", "testdata/hardening/garbage.bin", "invalid YAML", all},
		{"directory", filepath.Join(dir, "a-directory"), "is a directory", all},
		{"missing file", filepath.Join(dir, "missing.yaml"), "does not exist", all},
		{"nesting bomb (100,000 flow levels)", write("deep.yaml", []byte(deep.String())), "exceeded max depth", all},
		{"nesting bomb (600 mapping levels)", write("deepmap.yaml", []byte(deepMap.String())), "is not a valid plan", all},
		{"alias bomb (10^9 expansions)", "testdata/hardening/aliases.yaml", "is not a valid plan", all},
		{"file over 8 MiB", write("huge.yaml", append([]byte("version: 1\nname: huge\n"), bytes.Repeat([]byte("# padding padding padding padding\n"), 300000)...)), "larger than 8 MiB", all},
		{"NUL bytes", write("nul.yaml", []byte("version: 1\x00\nname: x\n")), "control characters", all},
		{"UTF-16 text", write("utf16.yaml", []byte("\xff\xfev\x00e\x00r\x00s\x00i\x00o\x00n\x00:\x00 \x001\x00\n\x00")), "is not a valid plan", all},
		{"a scalar", write("scalar.yaml", []byte("42\n")), "must be a mapping", all},
		{"a list", write("list.yaml", []byte("- version: 1\n")), "must be a mapping", all},
		{"huge count", labVariant(t, dir, "hugecount.yaml", "count: 4", "count: 1000000000"), "count 1000000000 is out of range 0..10000", all},
		{"count one over the limit", labVariant(t, dir, "count10001.yaml", "count: 4", "count: 10001"), "count 10001 is out of range", all},
		{"negative count", labVariant(t, dir, "negcount.yaml", "count: 4", "count: -1"), "count -1 is out of range", all},
		{"unknown plan version", labVariant(t, dir, "v2.yaml", "version: 1", "version: 2"), "version 2 is not supported", all},
		{"missing plan version", labVariant(t, dir, "v0.yaml", "version: 1\n", ""), "version", all},
		{"name too long for index 100 only", labVariant(t, dir, "name100.yaml", "count: 4", "count: 100",
			`cloneName: "lab-web-{index:02}"`, `cloneName: "`+strings.Repeat("n", 78)+`{index}"`,
			`"00:50:56:10:01:{index:02x}"`, `"00:50:56:10:{index/256:02x}:{index%256:02x}"`),
			"for index 100, which is longer than 80 characters", all},
		{"names that collide for indexes 2 and 3 only", labVariant(t, dir, "collide.yaml",
			`cloneName: "lab-web-{index:02}"`, `cloneName: "lab-web-{index/2}"`), "", nil},
		{"MAC invalid for index 6 only", labVariant(t, dir, "mac6.yaml", "count: 4", "count: 10",
			`"00:50:56:10:01:{index:02x}"`, `"00:50:56:10:01:{index+250:02x}"`), `mac renders "00:50:56:10:01:100", which is not a MAC address`, all},
		{"MAC out of VMware's range for index 2 only", labVariant(t, dir, "macrange.yaml",
			`"00:50:56:10:01:{index:02x}"`, `"00:50:56:3f:ff:{index+253:02x}"`), "", nil},
		{"unknown placeholder", labVariant(t, dir, "placeholder.yaml", `hostname: "{name}"`, `hostname: "{nmae}"`), "nmae", all},
		{"unknown key", labVariant(t, dir, "unknownkey.yaml", "    count: 4", "    count: 4\n    cuont: 4"), `unknown key "cuont"`, all},
		{"source that does not exist", labVariant(t, dir, "nosource.yaml", "/Lab/vm/golden/web", "/Lab/vm/golden/nope"),
			"source VM /Lab/vm/golden/nope of group \"web\" does not exist", []string{"plan", "apply"}},
		{"source powered off", labVariant(t, dir, "offsource.yaml", "/Lab/vm/golden/db", "/Lab/vm/golden/off-golden"),
			"powered", []string{"plan", "apply"}},
		{"network that does not exist", labVariant(t, dir, "nonet.yaml", "network: Lab-Net", "network: No-Such-Net"),
			`network "No-Such-Net" of group "web" adapter 1 does not exist`, []string{"plan", "apply"}},
		{"adapter the source lacks", labVariant(t, dir, "adapter3.yaml", "      - adapter: 2\n        mac: auto", "      - adapter: 3\n        mac: auto"),
			"edits network adapter 3 but source VM /Lab/vm/golden/web has 2", []string{"plan", "apply"}},
		{"datastore that does not exist", labVariant(t, dir, "nods.yaml", "[datastore1]", "[nods]"),
			`datastore "nods" of group "web" serial port 1 does not exist`, []string{"plan", "apply"}},
		{"datacenter that does not exist", labVariant(t, dir, "nodc.yaml", "/Lab/", "/Nowhere/", "datacenter: Lab", "datacenter: Nowhere"),
			`datacenter "Nowhere" not found`, all},
		{"resource pool that does not exist", labVariant(t, dir, "nopool.yaml", "    folder: /Lab/vm/lab/db", "    folder: /Lab/vm/lab/db\n    resourcePool: /Lab/host/nope/Resources"),
			"resource pool /Lab/host/nope/Resources of group \"db\" does not exist", []string{"plan", "apply"}},
		{"MAC held by a VM the plan does not own", labVariant(t, dir, "macheld.yaml", `"00:50:56:10:02:{index:02x}"`, `"00:50:56:3f:00:{index:02x}"`),
			"is already used by VM /Lab/vm/golden/off-golden", []string{"plan", "apply"}},
	}
	// Cases whose exact message is whatever the loader says: only exit 1
	// and an error naming the file are required.
	for i := range inputs {
		if inputs[i].cmds == nil {
			inputs[i].cmds = all
			inputs[i].want = "is not a valid plan"
		}
	}

	// Saved plans: tampered, from a future version, not a saved plan,
	// from another plan, from another vCenter, stale.
	savedDir := t.TempDir()
	saved := filepath.Join(savedDir, "lab.plan")
	if r := e.cli("plan", "--out", saved, e2ePlan); r.code != 0 {
		t.Fatal(r)
	}
	var doc map[string]any
	data, _ := os.ReadFile(saved)
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	writeDoc := func(name string, edit func(map[string]any)) string {
		d := maps.Clone(doc)
		edit(d)
		out, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return write(name, out)
	}
	rehash := func(d map[string]any, src string) {
		sum := sha256.Sum256([]byte(src))
		d["planSource"], d["planSha256"] = src, hex.EncodeToString(sum[:])
	}
	apply := []string{"apply"}
	inputs = append(inputs,
		input{"saved plan, tampered", writeDoc("tampered.plan", func(d map[string]any) {
			d["planSource"] = strings.Replace(d["planSource"].(string), "count: 4", "count: 5", 1)
		}), "does not match its hash", apply},
		input{"saved plan, future version", writeDoc("future.plan", func(d map[string]any) { d["version"] = 99 }), "version 99", apply},
		input{"saved plan, truncated JSON", write("truncated.plan", data[:len(data)/2]), "not valid JSON", apply},
		input{"JSON that is not a saved plan", write("other.json", []byte(`{"format": "something-else"}`)), "is not a saved plan", apply},
		input{"saved plan of another plan", writeDoc("another.plan", func(d map[string]any) {
			rehash(d, strings.Replace(d["planSource"].(string), "name: lab\n", "name: lab2\n", 1))
		}), `was saved for plan "lab" in /Lab but holds plan "lab2"`, apply},
		input{"saved plan with other changes than reviewed", writeDoc("otherchanges.plan", func(d map[string]any) {
			rehash(d, strings.Replace(d["planSource"].(string), "count: 2", "count: 1", 1))
		}), "the changes it shows are not the changes its plan makes now", apply},
	)
	// A saved plan from another vCenter with the very same inventory (a
	// second simulator seeded alike).
	other := newE2E(t, e2ePlan, sim.Options{})
	fromOther := filepath.Join(savedDir, "other-vcenter.plan")
	if r := other.cli("plan", "--out", fromOther, e2ePlan); r.code != 0 {
		t.Fatal(r)
	}
	inputs = append(inputs, input{"saved plan from another vCenter", fromOther, "was saved against vCenter " + other.sim.URL().Host, apply})

	before := e.fullSnapshot()
	runs := 0
	for _, in := range inputs {
		for _, cmd := range in.cmds {
			args := []string{cmd}
			if cmd != "plan" {
				args = append(args, "--auto-approve")
			}
			start := time.Now()
			r := e.cli(append(args, in.file)...)
			runs++
			out := r.stdout + r.stderr
			switch {
			case r.code != ExitError:
				t.Errorf("%s: %s exit %d, want 1:\n%v", in.name, cmd, r.code, r)
			case !strings.Contains(r.stderr, "Error: "):
				t.Errorf("%s: %s: no error on stderr:\n%v", in.name, cmd, r)
			case in.want != "" && !strings.Contains(out, in.want):
				t.Errorf("%s: %s: the output does not say %q:\n%v", in.name, cmd, in.want, r)
			case len(out) > 20000:
				t.Errorf("%s: %s: %d bytes of output; an error must be short", in.name, cmd, len(out))
			case time.Since(start) > 20*time.Second:
				t.Errorf("%s: %s took %v", in.name, cmd, time.Since(start))
			}
			if d := snapshotDiff(before, e.fullSnapshot()); d != "" {
				t.Fatalf("%s: %s changed the inventory:\n%s", in.name, cmd, d)
			}
		}
	}

	// The stale saved plan: saved, then the inventory changed (an apply).
	if r := e.cli("apply", "--auto-approve", e2ePlan); r.code != 0 {
		t.Fatal(r)
	}
	before = e.fullSnapshot()
	r := e.cli("apply", "--auto-approve", saved)
	runs++
	if r.code != ExitError || !strings.Contains(r.stderr, "the inventory changed since") {
		t.Errorf("saved plan, stale inventory: %v", r)
	}
	if d := snapshotDiff(before, e.fullSnapshot()); d != "" {
		t.Fatalf("a stale saved plan changed the inventory:\n%s", d)
	}
	t.Logf("%d bad inputs, %d CLI runs (plan, apply, destroy): each exit 1 with an error, inventory unchanged", len(inputs)+1, runs)
}
