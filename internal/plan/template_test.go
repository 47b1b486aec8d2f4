package plan

import (
	"strconv"
	"strings"
	"testing"
)

func TestTemplateRender(t *testing.T) {
	v := Vars{Plan: "lab", Group: "web", Name: "lab-web-07", Index: 7}
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
	}
	for _, tt := range tests {
		tm, errs := parseTemplate(tt.tmpl, true)
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
		tmpl      string
		allowName bool
		want      []string // "offset: message substring"
	}{
		{"{}", true, []string{"0: empty placeholder {}"}},
		{"a{index", true, []string{"1: unclosed {"}},
		{"a{in{index}", true, []string{"1: unclosed {"}},
		{"a}b", true, []string{"1: unmatched }"}},
		{"{Index}", true, []string{"0: unknown placeholder {Index}; did you mean {index}?"}},
		{"{host}", true, []string{"0: unknown placeholder {host}; use {plan}, {group}, {name} or {index}"}},
		{"x-{name}", false, []string{"2: {name} cannot be used in cloneName"}},
		{"{plan+1}", true, []string{"0: placeholder {plan+1}: only {index} takes an offset or a format"}},
		{"{index+}", true, []string{"0: placeholder {index+}: the offset must be a number"}},
		{"{index+1000001}", true, []string{"0: placeholder {index+1000001}: the offset must be a number from 0 to 1000000"}},
		{"{index-2}", true, []string{"0: placeholder {index-2} renders a negative number"}},
		{"{index*2}", true, []string{"0: unknown placeholder {index*2}"}},
		{"{index/0}", true, []string{"0: placeholder {index/0}: / needs a number from 1 to 1000000"}},
		{"{index%}", true, []string{"0: placeholder {index%}: % needs a number from 1 to 1000000"}},
		{"{index/2%3}", true, []string{`0: placeholder {index/2%3}: unexpected "%3"`}},
		{"{index+1x}", true, []string{`0: placeholder {index+1x}: unexpected "x"`}},
		{"{index:}", true, []string{"0: placeholder {index:}: empty format"}},
		{"{index:3}", true, []string{"0: placeholder {index:3}: a width pads with zeros and must start with 0; write {index:03}"}},
		{"{index+1:2x}", true, []string{"0: placeholder {index+1:2x}: a width pads with zeros and must start with 0; write {index+1:02x}"}},
		{"{index:021}", true, []string{`0: placeholder {index:021}: bad format "021"`}},
		{"{index:0q}", true, []string{`0: placeholder {index:0q}: bad format "0q"`}},
		{`{"a":1}`, true, []string{`0: unknown placeholder {"a":1}`}},
		{"{indx}-{grop}}", true, []string{"0: unknown placeholder {indx}; did you mean {index}?", "7: unknown placeholder {grop}; did you mean {group}?", "13: unmatched }"}},
	}
	for _, tt := range tests {
		_, errs := parseTemplate(tt.tmpl, tt.allowName)
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
