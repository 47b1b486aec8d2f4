package plan

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/iclone-plan/iclone-plan/internal/macgen"
)

const fullPlan = `# yaml-language-server: $schema=../../schema/plan.schema.json
version: 1
name: lab
datacenter: Lab
defaults:
  source: /Lab/vm/golden/base
  folder: /Lab/vm/lab
  maxAge: 7d
  cloneName: "{plan}-{group}-{index:02}"
  guestinfo:
    domain: lab.example
    hostname: "default-{name}"
execution:
  parallelism: 16
  rate: 30/m
  onFailure: continue
  maxFailures: 3
groups:
  - name: web
    source: /Lab/vm/golden/web
    count: 2
    resourcePool: /Lab/host/Cluster/Resources/lab
    nics:
      - adapter: 1
        mac: "00:50:56:10:01:{index:02x}"
        network: Lab-Net
      - adapter: 2
    serial:
      - port: 1
        file: "[datastore1] serial/{name}.log"
    guestinfo:
      hostname: "{name}"
      ip: 10.10.1.{index+10}
      vlan: 10
    extraConfig:
      custom.key: "{group}"
  - name: db
    count: 1
    maxAge: 36h
    cloneName: "db{index}"
  - name: spare
    count: 0
`

func TestParseFullPlan(t *testing.T) {
	p, err := Parse("lab.yaml", []byte(fullPlan))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "lab" || p.Datacenter != "Lab" || p.Version != 1 || p.File != "lab.yaml" || p.AllowLocalMACs {
		t.Errorf("plan header = %q %q %d %q %v", p.Name, p.Datacenter, p.Version, p.File, p.AllowLocalMACs)
	}
	wantExec := DefaultExecution
	wantExec.Parallelism = 16
	wantExec.Rate = Rate{PerSecond: 0.5, Text: "30/m"}
	wantExec.OnFailure = OnFailureContinue
	wantExec.MaxFailures = 3
	if p.Execution != wantExec {
		t.Errorf("Execution = %+v; want %+v", p.Execution, wantExec)
	}
	if p.Execution.Rate.Interval() != 2*time.Second {
		t.Errorf("Interval = %v", p.Execution.Rate.Interval())
	}
	if len(p.Groups) != 3 || p.NumClones() != 3 {
		t.Fatalf("%d groups, %d clones", len(p.Groups), p.NumClones())
	}
	web, db, spare := p.Groups[0], p.Groups[1], p.Groups[2]
	if web.MaxAge != 7*24*time.Hour || db.MaxAge != 36*time.Hour || spare.MaxAge != 7*24*time.Hour {
		t.Errorf("maxAge %v %v %v", web.MaxAge, db.MaxAge, spare.MaxAge)
	}
	if web.Pos != (Position{"lab.yaml", 19, 5}) {
		t.Errorf("web.Pos = %v", web.Pos)
	}
	if p.Group("db") != db || p.Group("nope") != nil {
		t.Error("Plan.Group lookup")
	}
	autoMAC := web.Clones[1].NICs[1].MAC
	want := []Clone{
		{
			Group: "web", Index: 1, Name: "lab-web-01", Folder: "/Lab/vm/lab", Source: "/Lab/vm/golden/web",
			ResourcePool: "/Lab/host/Cluster/Resources/lab",
			NICs:         []NIC{{1, "00:50:56:10:01:01", "Lab-Net"}, {2, web.Clones[0].NICs[1].MAC, ""}},
			Serial:       []SerialPort{{1, "[datastore1] serial/lab-web-01.log"}},
			ExtraConfig: map[string]string{
				"guestinfo.domain": "lab.example", "guestinfo.hostname": "lab-web-01",
				"guestinfo.ip": "10.10.1.11", "guestinfo.vlan": "10", "custom.key": "web",
			},
		},
		{
			Group: "web", Index: 2, Name: "lab-web-02", Folder: "/Lab/vm/lab", Source: "/Lab/vm/golden/web",
			ResourcePool: "/Lab/host/Cluster/Resources/lab",
			NICs:         []NIC{{1, "00:50:56:10:01:02", "Lab-Net"}, {2, autoMAC, ""}},
			Serial:       []SerialPort{{1, "[datastore1] serial/lab-web-02.log"}},
			ExtraConfig: map[string]string{
				"guestinfo.domain": "lab.example", "guestinfo.hostname": "lab-web-02",
				"guestinfo.ip": "10.10.1.12", "guestinfo.vlan": "10", "custom.key": "web",
			},
		},
		{
			Group: "db", Index: 1, Name: "db1", Folder: "/Lab/vm/lab", Source: "/Lab/vm/golden/base",
			ExtraConfig: map[string]string{"guestinfo.domain": "lab.example", "guestinfo.hostname": "default-db1"},
		},
	}
	var got []Clone
	for c := range p.Clones() {
		got = append(got, *c)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("clones:\n%+v\nwant:\n%+v", got, want)
	}
	// The auto MACs are those of macgen for (lab, web, index, 2).
	if web.Clones[0].NICs[1].MAC != "00:50:56:3b:1a:02" {
		t.Errorf("auto MAC of lab/web/1/2 = %s", web.Clones[0].NICs[1].MAC)
	}
	if !web.NICs[1].Auto || web.NICs[0].Auto || web.NICs[0].MAC.String() != "00:50:56:10:01:{index:02x}" {
		t.Errorf("NIC specs %+v", web.NICs)
	}
	// Parsing twice gives identical plans (auto MACs are deterministic).
	p2, err := Parse("lab.yaml", []byte(fullPlan))
	if err != nil || !reflect.DeepEqual(p, p2) {
		t.Errorf("second parse differs: %v", err)
	}
}

func TestDefaultsAndMinimalPlan(t *testing.T) {
	p, err := Parse("m.yaml", []byte("version: 1\nname: m\ngroups:\n  - name: ci\n    source: runners/golden\n    count: 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Execution != DefaultExecution {
		t.Errorf("Execution = %+v; want defaults", p.Execution)
	}
	g := p.Groups[0]
	if g.CloneName.String() != DefaultCloneName || g.Clones[2].Name != "m-ci-03" || g.Clones[2].ExtraConfig != nil || g.Clones[2].NICs != nil {
		t.Errorf("group %+v clone %+v", g, g.Clones[2])
	}
}

func TestAllowLocalMACs(t *testing.T) {
	src := "version: 1\nname: m\nallowLocalMACs: true\ngroups:\n  - name: ci\n    source: a/b\n    count: 2\n    nics:\n      - adapter: 1\n        mac: \"0a:00:00:00:00:{index:02X}\"\n"
	p, err := Parse("m.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Groups[0].Clones[1].NICs[0].MAC; got != "0a:00:00:00:00:02" {
		t.Errorf("MAC = %s; want lowercase 0a:00:00:00:00:02", got)
	}
	// Without the opt-in the same plan is rejected, and multicast never passes.
	if _, err := Parse("m.yaml", []byte(strings.Replace(src, "allowLocalMACs: true\n", "", 1))); err == nil || !strings.Contains(err.Error(), "allowLocalMACs: true") {
		t.Errorf("without allowLocalMACs: %v", err)
	}
	if _, err := Parse("m.yaml", []byte(strings.Replace(src, "0a:", "0b:", 1))); err == nil || !strings.Contains(err.Error(), "multicast") {
		t.Errorf("multicast with allowLocalMACs: %v", err)
	}
}

// {mac:N} in guestinfo and extraConfig renders the clone's adapter N MAC,
// auto or from a template, and defaults' values can use it.
func TestMACPlaceholder(t *testing.T) {
	src := `version: 1
name: m
defaults:
  guestinfo:
    nic1.mac: "{mac:1}"
groups:
  - name: web
    source: a/web
    count: 3
    nics:
      - adapter: 1
        mac: auto
      - adapter: 2
        mac: "00:50:56:20:00:{index:02x}"
    guestinfo:
      nics: "{mac:1},{mac:2}"
    extraConfig:
      custom.mac2: "{{{mac:2}}}"
`
	p, err := Parse("m.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range p.Groups[0].Clones {
		m1, m2 := c.NICs[0].MAC, c.NICs[1].MAC
		if m1 == "" || m2 != fmt.Sprintf("00:50:56:20:00:%02x", c.Index) {
			t.Fatalf("clone %s NICs %+v", c.Name, c.NICs)
		}
		want := map[string]string{"guestinfo.nic1.mac": m1, "guestinfo.nics": m1 + "," + m2, "custom.mac2": "{" + m2 + "}"}
		for k, v := range want {
			if c.ExtraConfig[k] != v {
				t.Errorf("clone %s %s = %q, want %q", c.Name, k, c.ExtraConfig[k], v)
			}
		}
	}
	// A group whose nics do not set adapter 1 cannot use the default.
	bad := strings.Replace(src, "      - adapter: 1\n        mac: auto\n", "", 1)
	if _, err := Parse("m.yaml", []byte(bad)); err == nil || !strings.Contains(err.Error(), "uses {mac:1}, but the group sets no MAC for network adapter 1") {
		t.Errorf("{mac:1} without adapter 1: %v", err)
	}
}

// TestErrorColumns checks that template errors point at the placeholder
// through quotes, escapes and multi-byte characters, and at the value when
// the scalar is a block.
func TestErrorColumns(t *testing.T) {
	head := "version: 1\nname: m\ngroups:\n  - name: ci\n    source: a/b\n    count: 1\n    cloneName: "
	tests := []struct {
		value string
		col   int // of the bad placeholder on line 7
		line  int
	}{
		{`x-{bad}`, 18, 7},
		{`"x-{bad}"`, 19, 7},
		{`'x-{bad}'`, 19, 7},
		{`'it''s-{bad}'`, 23, 7},
		{`"a\"b-{bad}"`, 22, 7},
		{`"ünï-{bad}"`, 21, 7},
		{`"a\u00e9-{bad}"`, 16, 7},  // \u escapes are not mapped: the value's start
		{"|\n      x-{bad}", 16, 7}, // block scalars: the value's start
	}
	for _, tt := range tests {
		_, err := Parse("m.yaml", []byte(head+tt.value+"\n"))
		var list ErrorList
		if !errors.As(err, &list) || len(list) != 1 {
			t.Errorf("%s: %v", tt.value, err)
			continue
		}
		if list[0].Pos.Line != tt.line || list[0].Pos.Col != tt.col {
			t.Errorf("%s: error at %d:%d; want %d:%d (%v)", tt.value, list[0].Pos.Line, list[0].Pos.Col, tt.line, tt.col, list[0])
		}
	}
}

func TestAliasesAreFollowed(t *testing.T) {
	src := `version: 1
name: m
groups:
  - name: a
    source: x/y
    count: 2
    nics: &nics
      - adapter: 1
      - adapter: 2
    guestinfo: &gi
      role: web
  - name: b
    source: x/y
    count: 2
    nics: *nics
    guestinfo: *gi
`
	p, err := Parse("m.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	b := p.Groups[1]
	if len(b.Clones[0].NICs) != 2 || b.Clones[0].ExtraConfig["guestinfo.role"] != "web" {
		t.Errorf("aliases not followed: %+v", b.Clones[0])
	}
}

// TestHostileInput checks that YAML bombs and huge plans are rejected
// quickly, without expanding them.
func TestHostileInput(t *testing.T) {
	laughs := "version: 1\nname: m\na: &a [x, x, x, x, x, x, x, x, x, x]\n"
	prev := "a"
	for i := 0; i < 9; i++ {
		name := fmt.Sprintf("l%d", i)
		laughs += fmt.Sprintf("%s: &%s [*%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s]\n", name, name, prev, prev, prev, prev, prev, prev, prev, prev, prev, prev)
		prev = name
	}
	// A billion laughs fed into the places the loader reads.
	laughs += "groups:\n  - name: g\n    source: a/b\n    count: 1\n    nics: *l8\n    guestinfo: *l8\n"

	// A thousand aliases of one group with 10000 clones.
	var gb strings.Builder
	gb.WriteString("version: 1\nname: m\nx: &one {name: g, source: a/b, count: 10000}\ngroups: [")
	for i := 0; i < 999; i++ {
		gb.WriteString("*one, ")
	}
	gb.WriteString("*one]\n")

	tests := []struct {
		name, src, want string
	}{
		{"billion laughs", laughs, `unknown key "a" in the plan`},
		{"billion laughs in nics", laughs, "a NIC must be a mapping of keys to values, not a list"},
		{"billion laughs in guestinfo", laughs, "guestinfo must be a mapping of keys to values, not a list"},
		{"deep nesting", "version: 1\nname: m\ngroups: " + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "\n", "invalid YAML"},
		{"deep mapping nesting", "version: 1\nname: m\ngroups: " + strings.Repeat("{a: ", 20000) + "b" + strings.Repeat("}", 20000) + "\n", "invalid YAML"},
		{"alias cycle", "version: 1\nname: m\ngroups: &g\n  - *g\n", "a group must be a mapping"},
		{"1000 aliased groups", gb.String(), "the plan has 10000000 clones, more than 50000"},
		{"huge file", "version: 1\nname: m\n# " + strings.Repeat("x", MaxFileSize) + "\n", "larger than 8 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("bomb.yaml", []byte(tt.src))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %.300v; want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestSpecHash(t *testing.T) {
	base := Clone{
		Group: "web", Index: 1, Name: "lab-web-01", Folder: "/Lab/vm/lab", Source: "/Lab/vm/golden/web",
		NICs:        []NIC{{1, "00:50:56:10:01:01", "Lab-Net"}, {2, "00:50:56:3b:1a:02", ""}},
		Serial:      []SerialPort{{1, "[ds] a.log"}},
		ExtraConfig: map[string]string{"guestinfo.hostname": "lab-web-01", "a": "b"},
	}
	h := base.SpecHash()
	if len(h) != 16 || strings.Trim(h, "0123456789abcdef") != "" {
		t.Fatalf("SpecHash = %q; want 16 hex digits", h)
	}
	// Identity is not part of the spec; order of NICs and map order are not either.
	same := base
	same.Name, same.Index, same.Group = "other", 9, "db"
	same.NICs = []NIC{base.NICs[1], base.NICs[0]}
	same.ExtraConfig = map[string]string{"a": "b", "guestinfo.hostname": "lab-web-01"}
	if same.SpecHash() != h {
		t.Error("SpecHash depends on identity or order")
	}
	// Every part of the spec changes it, and fields cannot bleed into each other.
	changes := map[string]func(c *Clone){
		"source":      func(c *Clone) { c.Source += "x" },
		"folder":      func(c *Clone) { c.Folder = "" },
		"pool":        func(c *Clone) { c.ResourcePool = "/Lab/host/c/Resources" },
		"mac":         func(c *Clone) { c.NICs = []NIC{{1, "00:50:56:10:01:02", "Lab-Net"}, base.NICs[1]} },
		"network":     func(c *Clone) { c.NICs = []NIC{{1, "00:50:56:10:01:01", ""}, base.NICs[1]} },
		"adapter":     func(c *Clone) { c.NICs = []NIC{{3, "00:50:56:10:01:01", "Lab-Net"}, base.NICs[1]} },
		"serial":      func(c *Clone) { c.Serial = nil },
		"serial port": func(c *Clone) { c.Serial = []SerialPort{{2, "[ds] a.log"}} },
		"extraConfig": func(c *Clone) { c.ExtraConfig = map[string]string{"guestinfo.hostname": "lab-web-01", "a": "c"} },
		"shift":       func(c *Clone) { c.ExtraConfig = map[string]string{"guestinfo.hostname": "lab-web-01", "ab": ""} },
		"folder/pool": func(c *Clone) { c.Folder, c.ResourcePool = "", c.Folder },
	}
	seen := map[string]string{h: "base"}
	for name, change := range changes {
		c := base
		change(&c)
		got := c.SpecHash()
		if prev, dup := seen[got]; dup {
			t.Errorf("change %q gives the hash of %q", name, prev)
		}
		seen[got] = name
	}
	// Pinned: the marker stored in vCenter must not change between releases.
	// The value was computed independently (a Python transcription of the
	// documented encoding), not by running SpecHash.
	if h != "e5b6c1c1f99d5c86" {
		t.Errorf("SpecHash(base) = %s; want e5b6c1c1f99d5c86", h)
	}
}

func TestErrorList(t *testing.T) {
	var l ErrorList
	if l.Err() != nil {
		t.Error("empty list is an error")
	}
	l.Add(Position{"b.yaml", 1, 1}, "z")
	l.Add(Position{"a.yaml", 3, 1}, "y")
	l.Add(Position{"a.yaml", 2, 9}, "x")
	l.Add(Position{"a.yaml", 2, 9}, "x")
	l.RemoveMultiples()
	if got := l.Error(); got != "a.yaml:2:9: x\na.yaml:3:1: y\nb.yaml:1:1: z" {
		t.Errorf("Error() = %q", got)
	}
	if (Position{}).String() != "-" || (Position{File: "f"}).String() != "f" || (Position{"f", 2, 0}).String() != "f:2" {
		t.Error("Position.String of partial positions")
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(path, []byte("version: 1\nname: m\ngroups: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Load(path)
	if err != nil || p.File != path || len(p.Groups) != 0 {
		t.Errorf("Load = %+v, %v", p, err)
	}
	_, err = Load(filepath.Join(dir, "missing.yaml"))
	var list ErrorList
	if err == nil || errors.As(err, &list) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file = %v; want a plain not-exist error", err)
	}
}

func TestPlanMACsAndCollisions(t *testing.T) {
	p, err := Parse("lab.yaml", []byte(fullPlan))
	if err != nil {
		t.Fatal(err)
	}
	set := p.MACs()
	if len(set) != 4 {
		t.Fatalf("MACs() has %d entries; want 4: %v", len(set), set)
	}
	m, _ := macgen.ParseMAC("00:50:56:10:01:02")
	if set[m] != "lab-web-02 adapter 1" {
		t.Errorf("owner of %s = %q", m, set[m])
	}
	got := macgen.Collisions(set, map[macgen.MAC][]string{m: {"vm /Lab/vm/other adapter 1"}})
	if len(got) != 1 || got[0].Planned != "lab-web-02 adapter 1" || got[0].Present != "vm /Lab/vm/other adapter 1" {
		t.Errorf("Collisions = %v", got)
	}
}

// TestUnquotedDates checks that an unquoted date, which YAML types as a
// timestamp, is taken as the text written (as the JSON Schema sees it).
func TestUnquotedDates(t *testing.T) {
	src := "version: 1\nname: m\ngroups:\n  - name: g\n    source: a/b\n    count: 1\n    cloneName: 2024-01-01\n    guestinfo:\n      built: 2024-01-01\n"
	p, err := Parse("m.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if c := p.Groups[0].Clones[0]; c.Name != "2024-01-01" || c.ExtraConfig["guestinfo.built"] != "2024-01-01" {
		t.Errorf("clone %+v", c)
	}
}

// The ready block: defaults apply to every group, a group's own block
// replaces them whole; the clone's readiness is rendered, and a clone with
// a ready key learns its name in guestinfo.iclone.name.
func TestReadyBlock(t *testing.T) {
	p, err := Parse("ready.yaml", []byte(`version: 1
name: lab
defaults:
  ready: true
  connectAfterReady: true
groups:
  - name: web
    source: /DC/vm/web
    count: 2
    cloneName: "web-{index}"
  - name: db
    source: /DC/vm/db
    count: 1
    ready:
      key: guestinfo.db.done
      value: "{name}-{index:02}"
      timeout: 90s
    connectAfterReady: false
  - name: tools-only
    source: /DC/vm/db
    count: 1
    ready: {key: ""}
  - name: none
    source: /DC/vm/db
    count: 1
    ready: false
    connectAfterReady: false
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		group   string
		ready   *CloneReady
		connect bool
		name    string // guestinfo.iclone.name, "" for none
	}{
		{"web", &CloneReady{Tools: true, Key: "guestinfo.iclone.ready", Value: "web-1", Timeout: DefaultReadyTimeout}, true, "web-1"},
		{"db", &CloneReady{Tools: true, Key: "guestinfo.db.done", Value: "lab-db-01-01", Timeout: 90 * time.Second}, false, "lab-db-01"},
		{"tools-only", &CloneReady{Tools: true, Timeout: DefaultReadyTimeout}, true, ""},
		{"none", nil, false, ""},
	}
	for _, tt := range tests {
		c := p.Group(tt.group).Clones[0]
		if !reflect.DeepEqual(c.Ready, tt.ready) || c.ConnectAfterReady != tt.connect || c.ExtraConfig[NameKey] != tt.name {
			t.Errorf("group %s: ready %+v, connectAfterReady %v, name key %q; want %+v, %v, %q",
				tt.group, c.Ready, c.ConnectAfterReady, c.ExtraConfig[NameKey], tt.ready, tt.connect, tt.name)
		}
	}
}
