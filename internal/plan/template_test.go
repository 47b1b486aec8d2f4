package plan

import (
	"strconv"
	"strings"
	"testing"
)

func TestTemplateRender(t *testing.T) {
	v := Vars{Plan: "lab", Group: "web", Name: "lab-web-07", Index: 7, MACs: map[int]string{1: "00:50:56:10:00:07", 2: "00:50:56:20:00:07"}}
	tests := []struct{ tmpl, want string }{
		{"plain", "plain"},
		{"", ""},
		{"{plan}-{group}-{index}", "lab-web-7"},
		{"{index:03}", "007"},
		{"{index:3d}", ""}, // invalid, see TestTemplateErrors
		{"{index:d}", "7"},
		{"{index+10}", "17"},
		{"{index-1}", "6"},
		{"{index+10:03}", "017"},
		{"{index+249:02x}", "100"}, // a width is a minimum
		{"{index+248:02x}", "ff"},
		{"{index+248:02X}", "FF"},
		{"{index:x}", "7"},
		{"{index:04x}", "0007"},
		{"{name}.log", "lab-web-07.log"},
		{"{{literal}} {{{index}}}", "{literal} {7}"},
		{`{"host":"{name}"}`, ""}, // JSON needs doubled braces: see TestTemplateErrors
		{`{{"host":"{name}"}}`, `{"host":"lab-web-07"}`},
		{"10.10.1.{index+10}", "10.10.1.17"},
		{"ünï-{index}", "ünï-7"},
		{"{index/256:02x}:{index%256:02x}", "00:07"},
		{"{index+700/256:02x}:{index+700%256:02x}", "02:c3"},
		{"{index/2}", "3"},
		{"{index%2}", "1"},
		{"{mac:2}", "00:50:56:20:00:07"},
		{"{name}={mac:1},{mac:2}", "lab-web-07=00:50:56:10:00:07,00:50:56:20:00:07"},
		{"{ip:10.10.1.10+index}", "10.10.1.17"},
		{"{ip:10.10.1.250+index}", "10.10.2.1"}, // carries into the next octet
		{"{ip:10.10.255.255+index}", "10.11.0.6"},
		{"{ip:10.10.1.10+index-1}", "10.10.1.16"},
		{"{ip:10.10.1.10+index+300}/24", "10.10.2.61/24"},
		{"{ip:10.10.1.0+index/24}/24", "10.10.1.7/24"},
		{"{ip:10.10.1.10+index/32}", "10.10.1.17"},  // rendered; Check says it is outside
		{"{ip:255.255.255.250+index}", "256.0.0.1"}, // no address: Check says so
		{"gw={ip:10.0.0.1+index} ip={ip:10.0.0.100+index}", "gw=10.0.0.8 ip=10.0.0.107"},
	}
	for _, tt := range tests {
		tm, errs := parseTemplate(tt.tmpl, inConfig)
		if tt.want == "" && tt.tmpl != "" {
			if len(errs) == 0 {
				t.Errorf("parseTemplate(%q) accepted an invalid template", tt.tmpl)
			}
			continue
		}
		if len(errs) > 0 {
			t.Errorf("parseTemplate(%q): %v", tt.tmpl, errs)
			continue
		}
		if got := tm.Render(v); got != tt.want {
			t.Errorf("Render(%q) = %q; want %q", tt.tmpl, got, tt.want)
		}
		if tm.String() != tt.tmpl {
			t.Errorf("String() = %q; want %q", tm.String(), tt.tmpl)
		}
	}
}

func TestTemplateErrors(t *testing.T) {
	tests := []struct {
		tmpl string
		sc   scope
		want []string // "offset: message substring"
	}{
		{"{}", inConfig, []string{"0: empty placeholder {}"}},
		{"a{index", inConfig, []string{"1: unclosed {"}},
		{"a{in{index}", inConfig, []string{"1: unclosed {"}},
		{"a}b", inConfig, []string{"1: unmatched }"}},
		{"{Index}", inConfig, []string{"0: unknown placeholder {Index}; did you mean {index}?"}},
		{"{host}", inConfig, []string{"0: unknown placeholder {host}; use {plan}, {group}, {name} or {index}"}},
		{"x-{name}", inCloneName, []string{"2: {name} cannot be used in cloneName"}},
		{"{plan+1}", inConfig, []string{"0: placeholder {plan+1}: only {index} takes an offset or a format"}},
		{"{index+}", inConfig, []string{"0: placeholder {index+}: the offset must be a number"}},
		{"{index+1000001}", inConfig, []string{"0: placeholder {index+1000001}: the offset must be a number from 0 to 1000000"}},
		{"{index-2}", inConfig, []string{"0: placeholder {index-2} renders a negative number"}},
		{"{index*2}", inConfig, []string{"0: unknown placeholder {index*2}"}},
		{"{index/0}", inConfig, []string{"0: placeholder {index/0}: / needs a number from 1 to 1000000"}},
		{"{index%}", inConfig, []string{"0: placeholder {index%}: % needs a number from 1 to 1000000"}},
		{"{index/2%3}", inConfig, []string{`0: placeholder {index/2%3}: unexpected "%3"`}},
		{"{index+1x}", inConfig, []string{`0: placeholder {index+1x}: unexpected "x"`}},
		{"{index:}", inConfig, []string{"0: placeholder {index:}: empty format"}},
		{"{index:3}", inConfig, []string{"0: placeholder {index:3}: a width pads with zeros and must start with 0; write {index:03}"}},
		{"{index+1:2x}", inConfig, []string{"0: placeholder {index+1:2x}: a width pads with zeros and must start with 0; write {index+1:02x}"}},
		{"{index:021}", inConfig, []string{`0: placeholder {index:021}: bad format "021"`}},
		{"{index:0q}", inConfig, []string{`0: placeholder {index:0q}: bad format "0q"`}},
		{`{"a":1}`, inConfig, []string{`0: unknown placeholder {"a":1}`}},
		{"{mac}", inConfig, []string{"0: placeholder {mac}: name the network adapter, a number from 1 to 10"}},
		{"{mac:0}", inConfig, []string{"0: placeholder {mac:0}: name the network adapter"}},
		{"{mac:11}", inConfig, []string{"0: placeholder {mac:11}: name the network adapter"}},
		{"{mac:01}", inConfig, []string{"0: placeholder {mac:01}: name the network adapter"}},
		{"{mac:+1}", inConfig, []string{"0: placeholder {mac:+1}: name the network adapter"}},
		{"{mac+1}", inConfig, []string{"0: placeholder {mac+1}: name the network adapter"}},
		{"x{mac:1}", inClone, []string{"1: placeholder {mac:1} can only be used in guestinfo and extraConfig values"}},
		{"{mack:1}", inConfig, []string{"0: unknown placeholder {mack:1}; did you mean {mac}?"}},
		{"{ip:10.10.1+index}", inConfig, []string{`0: placeholder {ip:10.10.1+index}: "10.10.1" is not an IPv4 address`}},
		{"{ip:10.10.1.256+index}", inConfig, []string{`0: placeholder {ip:10.10.1.256+index}: "10.10.1.256" is not an IPv4 address`}},
		{"{ip:::1+index}", inConfig, []string{`0: placeholder {ip:::1+index}: "::1" is not an IPv4 address`}},
		{"{ip:10.10.1.10}", inConfig, []string{"0: placeholder {ip:10.10.1.10}: write the base address and +index"}},
		{"{ip:10.10.1.10+index/0}", inConfig, []string{"0: placeholder {ip:10.10.1.10+index/0}: the subnet must be a prefix length from 1 to 32"}},
		{"{ip:10.10.1.10+index/x}", inConfig, []string{"0: placeholder {ip:10.10.1.10+index/x}: the subnet must be a prefix length"}},
		{"{ip:10.10.1.10+index/}", inConfig, []string{"0: placeholder {ip:10.10.1.10+index/}: the subnet must be a prefix length"}},
		{"{ip:10.10.1.10+index+}", inConfig, []string{`0: placeholder {ip:10.10.1.10+index+}: unexpected "+" after +index`}},
		{"{ip:10.10.1.10+index+-1}", inConfig, []string{`0: placeholder {ip:10.10.1.10+index+-1}: unexpected "+-1" after +index`}},
		{"{ip:10.10.1.10+index:03}", inConfig, []string{`0: placeholder {ip:10.10.1.10+index:03}: unexpected ":03" after +index`}},
		{"{ip:10.10.1.10+index-2}", inConfig, []string{"0: placeholder {ip:10.10.1.10+index-2} counts below its base for index 1"}},
		{"x{ip:10.10.1.10+index}", inClone, []string{"1: placeholder {ip:10.10.1.10+index} can only be used in guestinfo and extraConfig values"}},
		{"{ipp:10.10.1.10+index}", inConfig, []string{"0: unknown placeholder {ipp:10.10.1.10+index}; did you mean {ip}?"}},
		{"{10.10.1.10+index}", inConfig, []string{"0: unknown placeholder {10.10.1.10+index}; use {plan}, {group}, {name} or {index}; write an address counted from a base as {ip:10.10.1.10+index}"}},
		{"{indx}-{grop}}", inConfig, []string{"0: unknown placeholder {indx}; did you mean {index}?", "7: unknown placeholder {grop}; did you mean {group}?", "13: unmatched }"}},
	}
	for _, tt := range tests {
		_, errs := parseTemplate(tt.tmpl, tt.sc)
		var got []string
		for _, e := range errs {
			got = append(got, strconv.Itoa(e.Off)+": "+e.Msg)
		}
		if len(got) != len(tt.want) {
			t.Errorf("parseTemplate(%q) = %q; want %d errors %q", tt.tmpl, got, len(tt.want), tt.want)
			continue
		}
		for i := range got {
			if !strings.HasPrefix(got[i], tt.want[i]) {
				t.Errorf("parseTemplate(%q) error %d = %q; want prefix %q", tt.tmpl, i, got[i], tt.want[i])
			}
		}
	}
}

// TestTemplateCheck: an {ip:...} address that leaves its subnet (or its
// hosts: the network and broadcast addresses) or passes 255.255.255.255 is a
// problem that names the placeholder; one inside is none.
func TestTemplateCheck(t *testing.T) {
	tests := []struct {
		tmpl  string
		index int
		want  string // "" for no problem
	}{
		{"{ip:10.10.1.10+index/24}", 244, ""},
		{"{ip:10.10.1.10+index/24}", 245, "{ip:10.10.1.10+index/24} renders 10.10.1.255, outside the hosts 10.10.1.1-10.10.1.254 of 10.10.1.0/24; lower count, or widen the subnet"},
		{"{ip:10.10.1.10+index/24}", 246, "{ip:10.10.1.10+index/24} renders 10.10.2.0, outside the hosts"},
		{"{ip:10.10.0.10+index/23}", 246, ""}, // 10.10.1.0 is a host of 10.10.0.0/23
		{"{ip:10.10.0.0+index-1/24}", 1, "{ip:10.10.0.0+index-1/24} renders 10.10.0.0, outside the hosts 10.10.0.1-10.10.0.254"},
		{"{ip:10.10.0.0+index-1/24}", 2, ""},
		{"{ip:10.10.1.10+index+5/30}", 1, "renders 10.10.1.16, outside the hosts 10.10.1.9-10.10.1.10 of 10.10.1.8/30"},
		{"{ip:10.0.0.1+index-1/32}", 1, ""},
		{"{ip:10.0.0.1+index-1/32}", 2, "renders 10.0.0.2, outside the hosts 10.0.0.1-10.0.0.1 of 10.0.0.1/32"},
		{"{ip:10.0.0.0+index/31}", 1, ""}, // a /31 has two hosts, no broadcast
		{"{ip:255.255.255.250+index}", 5, ""},
		{"{ip:255.255.255.250+index}", 6, "{ip:255.255.255.250+index} counts past 255.255.255.255"},
		{"{ip:10.10.1.10+index}", 10000, ""},
		{"10.10.1.{index+10}", 300, ""}, // the loader checks dotted quads: see badIPv4
	}
	for _, tt := range tests {
		tm, errs := parseTemplate(tt.tmpl, inConfig)
		if len(errs) > 0 {
			t.Fatalf("parseTemplate(%q): %v", tt.tmpl, errs)
		}
		got := tm.Check(Vars{Index: tt.index})
		if (got == "") != (tt.want == "") || !strings.Contains(got, tt.want) {
			t.Errorf("Check(%q, index %d) = %q; want %q", tt.tmpl, tt.index, got, tt.want)
		}
	}
}

func TestBadIPv4(t *testing.T) {
	tests := []struct {
		s     string
		quad  string
		octet int
	}{
		{"10.10.1.256", "10.10.1.256", 256},
		{"10.10.1.255", "", 0},
		{"10.10.1.310/24", "10.10.1.310", 310},
		{"ip=10.10.300.1,gw=10.10.1.1", "10.10.300.1", 300},
		{"gw=10.10.1.1 ip=10.10.1.1000.", "10.10.1.1000", 1000},
		{"v1.2.3.4.500", "", 0}, // five parts: a version, not an address
		{"1.2.3", "", 0},        // three
		{"10..1.300", "", 0},    // an empty part
		{"build 2024.10.1.300", "2024.10.1.300", 2024},
		{"00:50:56:10:01:ff", "", 0},
		{"", "", 0},
	}
	for _, tt := range tests {
		quad, octet, bad := badIPv4(tt.s)
		if quad != tt.quad || octet != tt.octet || bad != (tt.quad != "") {
			t.Errorf("badIPv4(%q) = %q, %d, %v; want %q, %d", tt.s, quad, octet, bad, tt.quad, tt.octet)
		}
	}
}

// TestIPSuggestion: the {ip:...} form suggested for a template that counts
// an address past an octet renders what the template did for every index
// before the first bad one, or there is no suggestion.
func TestIPSuggestion(t *testing.T) {
	tests := []struct {
		tmpl  string
		index int // the first bad index
		want  string
	}{
		{"10.10.1.{index+10}", 246, "{ip:10.10.1.10+index}"},
		{"10.10.1.{index+10}/24", 246, "{ip:10.10.1.10+index}/24"},
		{"ip=10.10.1.{index}", 256, "ip={ip:10.10.1.0+index}"},
		{"10.10.{index/100}.{index+7}", 249, ""}, // counts differently past 99
		{"{name} 10.10.1.{index+10}", 246, ""},   // the name would be baked in
		{"10.10.1.{index:02x}", 256, ""},         // hex: not one address a step
		{"10.10.1.{index+10} 10.10.2.1", 246, "{ip:10.10.1.10+index} 10.10.2.1"},
	}
	for _, tt := range tests {
		tm, errs := parseTemplate(tt.tmpl, inConfig)
		if len(errs) > 0 {
			t.Fatalf("parseTemplate(%q): %v", tt.tmpl, errs)
		}
		if got := ipSuggestion(tm, Vars{Name: "lab-web-01", Index: tt.index}); got != tt.want {
			t.Errorf("ipSuggestion(%q) = %q; want %q", tt.tmpl, got, tt.want)
		}
	}
}
