package macgen

import (
	"strings"
	"testing"
)

func TestParseMACAndString(t *testing.T) {
	tests := []struct {
		in   string
		want MAC
		ok   bool
	}{
		{"00:50:56:00:00:01", 0x005056000001, true},
		{"00:50:56:3F:ff:Ab", 0x0050563fffab, true},
		{"ff:ff:ff:ff:ff:ff", 0xffffffffffff, true},
		{"00-50-56-00-00-01", 0, false},
		{"00:50:56:0:00:01", 0, false},
		{"00:50:56:00:00:0g", 0, false},
		{"00:50:56:00:00:01:", 0, false},
		{"0050.5600.0001", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseMAC(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseMAC(%q) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
			continue
		}
		if tt.ok && got.String() != strings.ToLower(tt.in) {
			t.Errorf("ParseMAC(%q).String() = %q", tt.in, got.String())
		}
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		mac        string
		allowLocal bool
		wantErr    string // substring; "" means valid
	}{
		{"00:50:56:00:00:00", false, ""},
		{"00:50:56:3f:ff:ff", false, ""},
		{"00:50:56:40:00:00", false, "outside VMware's manual range"},
		{"00:50:56:80:00:01", false, "keep the fourth octet at 3f or below"},
		{"00:0c:29:00:00:01", false, "start it with 00:50:56"},
		{"01:50:56:00:00:01", false, "multicast"},
		{"03:00:00:00:00:01", true, "multicast"},
		{"02:00:00:00:00:01", false, "set allowLocalMACs: true"},
		{"02:00:00:00:00:01", true, ""},
		{"0a:bc:de:00:00:01", true, ""},
		{"ff:ff:ff:ff:ff:ff", true, "multicast"},
	}
	for _, tt := range tests {
		m, err := ParseMAC(tt.mac)
		if err != nil {
			t.Fatal(err)
		}
		err = Check(m, tt.allowLocal)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("Check(%s, %v) = %v; want nil", tt.mac, tt.allowLocal, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("Check(%s, %v) = %v; want error containing %q", tt.mac, tt.allowLocal, err, tt.wantErr)
		}
	}
}

func TestCheckTemplate(t *testing.T) {
	tests := []struct {
		tmpl       string
		wantOffset int // -1: valid
		wantMsg    string
	}{
		{"00:50:56:10:01:{index:02x}", -1, ""},
		{"00:50:56:{index/256:02x}:01:{index:02x}", -1, ""}, // placeholder syntax is not macgen's business
		{"00:50:56:10:1{index:x}:00", -1, ""},
		{"00:50:56:00:00:01", -1, ""},
		{"00:50:56:10:{index:02x}", 0, "has 5 colon-separated octets, want 6"},
		{"00:50:56:10:01:02:{index:02x}", 0, "has 7 colon-separated octets"},
		{"00:50:56:1:01:{index:02x}", 9, `octet "1" must be two hex digits`},
		{"00:50:zz:10:01:{index:02x}", 6, `octet "zz" must be two hex digits`},
		{"00:50:56:10:01:g{index}", 15, "only hex digits around its placeholder"},
		{"00:50:56:10:01:{index:02x}-", 26, "only hex digits around its placeholder"},
	}
	for _, tt := range tests {
		p := CheckTemplate(tt.tmpl)
		if tt.wantOffset < 0 {
			if p != nil {
				t.Errorf("CheckTemplate(%q) = %+v; want nil", tt.tmpl, *p)
			}
			continue
		}
		if p == nil || p.Offset != tt.wantOffset || !strings.Contains(p.Msg, tt.wantMsg) {
			t.Errorf("CheckTemplate(%q) = %+v; want offset %d msg containing %q", tt.tmpl, p, tt.wantOffset, tt.wantMsg)
		}
	}
}

func TestParseDatastorePath(t *testing.T) {
	tests := []struct {
		in, ds, path string
		wantErr      string
	}{
		{"[datastore1] serial/lab-web-01.log", "datastore1", "serial/lab-web-01.log", ""},
		{"[ds 2] a b/c.log", "ds 2", "a b/c.log", ""},
		{"[ds]x.log", "", "", "a blank and a path must follow ]"},
		{"[ds] ", "", "", "a blank and a path must follow ]"},
		{"ds/x.log", "", "", "must start with [datastore]"},
		{"[ds x.log", "", "", "] is missing"},
		{"[] x.log", "", "", "datastore name is empty"},
		{"[ ds] x.log", "", "", "surrounding blanks"},
		{"[ds] /x.log", "", "", "drop the leading /"},
		{"[ds]  x.log", "", "", "exactly one blank"},
		{"[ds] logs/", "", "", "names a folder"},
		{"[ds] a//b.log", "", "", "empty, . or .. segment"},
		{"[ds] ../b.log", "", "", "empty, . or .. segment"},
		{"[ds] a\tb.log", "", "", "control character"},
	}
	for _, tt := range tests {
		ds, path, err := ParseDatastorePath(tt.in)
		if tt.wantErr == "" {
			if err != nil || ds != tt.ds || path != tt.path {
				t.Errorf("ParseDatastorePath(%q) = %q, %q, %v; want %q, %q", tt.in, ds, path, err, tt.ds, tt.path)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ParseDatastorePath(%q) error = %v; want it to contain %q", tt.in, err, tt.wantErr)
		}
	}
}

func TestCollisions(t *testing.T) {
	planned := Set{}
	planned.Add(0x005056000001, "lab-web-01 adapter 1")
	planned.Add(0x005056000002, "lab-web-02 adapter 1")
	planned.Add(0x005056000003, "lab-web-03 adapter 1")
	if prev, ok := planned.Add(0x005056000001, "lab-db-01 adapter 1"); ok || prev != "lab-web-01 adapter 1" {
		t.Fatalf("Add of a duplicate = %q, %v", prev, ok)
	}
	inv := map[MAC][]string{
		0x005056000003: {"vm old-b adapter 1", "vm old-a adapter 2"},
		0x005056000001: {"vm other adapter 1"},
		0x005056000009: {"vm unrelated adapter 1"},
	}
	got := Collisions(planned, inv)
	want := []string{
		"MAC 00:50:56:00:00:01 of lab-web-01 adapter 1 is already used by vm other adapter 1",
		"MAC 00:50:56:00:00:03 of lab-web-03 adapter 1 is already used by vm old-a adapter 2",
		"MAC 00:50:56:00:00:03 of lab-web-03 adapter 1 is already used by vm old-b adapter 1",
	}
	if len(got) != len(want) {
		t.Fatalf("Collisions = %v; want %d", got, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i].String(), want[i]+";") {
			t.Errorf("collision %d = %q; want prefix %q", i, got[i], want[i])
		}
	}
	if c := Collisions(nil, inv); len(c) != 0 {
		t.Errorf("Collisions(nil) = %v", c)
	}
}
