package plan

import (
	"fmt"
	"strings"
	"testing"
)

// plan10k is a plan of 10,000 clones in four groups, each with a templated
// and an auto MAC, a serial file and three guestinfo entries.
func plan10k() []byte {
	var b strings.Builder
	b.WriteString("version: 1\nname: big\ndatacenter: DC\ndefaults:\n  folder: /DC/vm/big\n  guestinfo:\n    domain: big.example\n    hostname: \"{name}\"\ngroups:\n")
	for g, n := range []int{4000, 3000, 2000, 1000} {
		fmt.Fprintf(&b, `  - name: g%d
    source: /DC/vm/golden/g%d
    count: %d
    cloneName: "big-g%d-{index:05}"
    nics:
      - adapter: 1
        mac: "00:50:56:%02x:{index/256:02x}:{index%%256:02x}"
      - adapter: 2
        mac: auto
    serial:
      - port: 1
        file: "[ds1] serial/{name}.log"
    guestinfo:
      ip: "10.%d.{index/256}.{index%%256}"
`, g, g, n, g, 0x10+g, g)
	}
	return []byte(b.String())
}

func TestPlan10kIsValid(t *testing.T) {
	if testing.Short() {
		t.Skip("large plan")
	}
	p, err := Parse("big.yaml", plan10k())
	if err == nil {
		checkInvariants(t, p)
		if p.NumClones() != 10000 {
			t.Fatalf("%d clones", p.NumClones())
		}
		return
	}
	t.Fatal(err)
}

// BenchmarkParse10k measures loading and validating a plan of 10,000 clones:
//
//	go test ./internal/plan -run '^$' -bench Parse10k -benchmem
func BenchmarkParse10k(b *testing.B) {
	data := plan10k()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("big.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

// planOf returns a plan of groups × count clones shaped like plan10k.
func planOf(groups, count int) []byte {
	var b strings.Builder
	b.WriteString("version: 1\nname: big\ndefaults:\n  guestinfo:\n    hostname: \"{name}\"\ngroups:\n")
	for g := 0; g < groups; g++ {
		fmt.Fprintf(&b, "  - name: g%d\n    source: golden/g%d\n    count: %d\n    cloneName: \"big-g%d-{index:05}\"\n"+
			"    nics:\n      - adapter: 1\n        mac: \"00:50:56:%02x:{index/256:02x}:{index%%256:02x}\"\n      - adapter: 2\n"+
			"    serial:\n      - port: 1\n        file: \"[ds1] serial/{name}.log\"\n", g, g, count, g, 0x10+g)
	}
	return []byte(b.String())
}

// BenchmarkParseMax measures the largest plan the loader accepts in clones:
// 50,000 clones (5 groups of 10,000), each with a templated and an auto MAC,
// a serial file and guestinfo.
//
//	go test ./internal/plan -run '^$' -bench ParseMax -benchmem
func BenchmarkParseMax(b *testing.B) {
	data := planOf(5, MaxCount)
	b.ReportAllocs()
	for b.Loop() {
		p, err := Parse("max.yaml", data)
		if err != nil {
			b.Fatal(err)
		}
		if p.NumClones() != MaxClones {
			b.Fatalf("%d clones", p.NumClones())
		}
	}
}
