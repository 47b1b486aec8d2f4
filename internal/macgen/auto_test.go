package macgen

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// keys100k returns the auto-MAC keys of 100,000 clones spread over groups
// of different sizes: adapter 1 of every clone and adapter 2 of every tenth
// (about 110,000 keys).
func keys100k() []Key {
	var keys []Key
	sizes := []int{10000, 10000, 10000, 5000, 5000, 5000, 2500, 2500, 1}
	clones := 0
	for g := 0; clones < 100000; g++ {
		for i := 1; i <= sizes[g%len(sizes)] && clones < 100000; i++ {
			clones++
			group := fmt.Sprintf("g%02d", g)
			keys = append(keys, Key{Plan: "lab", Group: group, Index: i, Adapter: 1})
			if i%10 == 0 {
				keys = append(keys, Key{Plan: "lab", Group: group, Index: i, Adapter: 2})
			}
		}
	}
	return keys
}

// TestAutoProperties is the property test of the issue: auto MACs for
// 100,000 clones across groups are unique, in the manual range, unicast and
// globally administered, avoid the taken set, and are identical between two
// runs and independent of the order of the keys.
func TestAutoProperties(t *testing.T) {
	keys := keys100k()
	taken := Set{}
	// Explicit MACs that auto MACs must avoid: the first candidates of some keys.
	first, err := Auto(keys[:50], nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range first[:25] {
		taken.Add(m, fmt.Sprint("explicit ", i))
	}
	clones := map[[2]any]bool{}
	for _, k := range keys {
		clones[[2]any{k.Group, k.Index}] = true
	}
	if len(clones) != 100000 {
		t.Fatalf("%d clones", len(clones))
	}
	a, err := Auto(keys, taken)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[MAC]Key, len(a))
	for i, m := range a {
		if !m.InManualRange() || m.Multicast() || m.Local() {
			t.Fatalf("%v got %s: not a unicast MAC in the manual range", keys[i], m)
		}
		if Check(m, false) != nil {
			t.Fatalf("%v got %s: %v", keys[i], m, Check(m, false))
		}
		if k, dup := seen[m]; dup {
			t.Fatalf("%v and %v both got %s", k, keys[i], m)
		}
		if _, ok := taken[m]; ok {
			t.Fatalf("%v got taken MAC %s", keys[i], m)
		}
		seen[m] = keys[i]
	}
	// Taking 25 addresses moves the keys that held them and hardly any
	// other: displacement does not cascade.
	free, err := Auto(keys, nil)
	if err != nil {
		t.Fatal(err)
	}
	moved := 0
	for i := range a {
		if a[i] != free[i] {
			moved++
		}
	}
	if moved < 1 || moved > 50 {
		t.Errorf("taking 25 addresses moved %d of %d auto MACs", moved, len(a))
	}

	// A second run, on shuffled keys, gives every key the same MAC.
	perm := rand.New(rand.NewPCG(1, 2)).Perm(len(keys))
	shuffled := make([]Key, len(keys))
	for i, j := range perm {
		shuffled[i] = keys[j]
	}
	b, err := Auto(shuffled, taken)
	if err != nil {
		t.Fatal(err)
	}
	for i, j := range perm {
		if b[i] != a[j] {
			t.Fatalf("%v: %s in run 1, %s in run 2", keys[j], a[j], b[i])
		}
	}
}

// TestAutoPinned pins a few auto MACs: these values are the file format. If
// this test fails, every DHCP reservation made for auto MACs would break.
func TestAutoPinned(t *testing.T) {
	keys := []Key{
		{"lab", "web", 1, 1},
		{"lab", "web", 1, 2},
		{"lab", "web", 2, 1},
		{"lab", "db", 1, 1},
		{"nightly", "runner", 10000, 10},
	}
	got, err := Auto(keys, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Computed independently from the documented algorithm (a Python
	// transcription of the Auto doc comment), not by running this code.
	want := []string{"00:50:56:25:b1:f7", "00:50:56:3b:1a:02", "00:50:56:11:2a:a1", "00:50:56:26:96:37", "00:50:56:2e:78:fb"}
	for i := range keys {
		if got[i].String() != want[i] {
			t.Errorf("Auto(%v) = %s; want %s", keys[i], got[i], want[i])
		}
	}
}

// TestAutoAddingAGroup shows the stability promise: adding an unrelated group
// leaves the MACs of existing clones alone unless one of the new keys takes
// an address on their probe sequence (here: forced, to show the resolution).
func TestAutoAddingAGroup(t *testing.T) {
	var base []Key
	for i := 1; i <= 200; i++ {
		base = append(base, Key{"lab", "web", i, 1})
	}
	before, err := Auto(base, nil)
	if err != nil {
		t.Fatal(err)
	}
	var added []Key
	for i := 1; i <= 200; i++ {
		added = append(added, Key{"lab", "api", i, 1})
	}
	after, err := Auto(append(append([]Key{}, added...), base...), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range base {
		if after[len(added)+i] != before[i] {
			t.Errorf("%v moved from %s to %s when group api was added", base[i], before[i], after[len(added)+i])
		}
	}
	// An explicit MAC on web/1's address moves web/1, and only web/1.
	moved, err := Auto(base, Set{before[0]: "explicit"})
	if err != nil {
		t.Fatal(err)
	}
	if moved[0] == before[0] {
		t.Errorf("web/1 kept the taken address %s", before[0])
	}
	for i := 1; i < len(base); i++ {
		if moved[i] != before[i] {
			t.Errorf("%v moved although only web/1 was displaced", base[i])
		}
	}
}

func TestAutoFullSpace(t *testing.T) {
	// Fill all but three addresses; the linear fallback still finds them.
	taken := make(Set, ManualSize)
	for m := ManualFirst; m <= ManualLast; m++ {
		taken[m] = ""
	}
	free := []MAC{ManualFirst, ManualFirst + 0x123456, ManualLast}
	for _, m := range free {
		delete(taken, m)
	}
	got, err := Auto([]Key{{"p", "g", 1, 1}, {"p", "g", 2, 1}, {"p", "g", 3, 1}}, taken)
	if err != nil {
		t.Fatal(err)
	}
	set := map[MAC]bool{}
	for _, m := range got {
		set[m] = true
	}
	for _, m := range free {
		if !set[m] {
			t.Errorf("free address %s not used; got %v", m, got)
		}
	}
	if _, err := Auto(make([]Key, 4), taken); err == nil {
		t.Error("Auto of 4 keys into 3 free addresses succeeded")
	}
	// The same key twice gets the same address (and needs no second slot).
	same, err := Auto([]Key{{"p", "g", 1, 1}, {"p", "g", 1, 1}}, nil)
	if err != nil || same[0] != same[1] {
		t.Errorf("duplicate key: %v, %v", same, err)
	}
}

func BenchmarkAuto100k(b *testing.B) {
	keys := keys100k()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Auto(keys, nil); err != nil {
			b.Fatal(err)
		}
	}
}
