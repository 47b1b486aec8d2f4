package plan

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/iclone-plan/iclone-plan/internal/suggest"
)

// Template is a compiled plan template such as "lab-web-{index:02}". The
// language (docs/plan-reference.md):
//
//	{plan}          the plan's name
//	{group}         the group's name
//	{name}          the rendered clone name (not allowed inside cloneName)
//	{index}         the clone's 1-based index in its group
//	{index+10}      index with an offset (+N or -N; the result must not be negative)
//	{index:03}      zero-padded decimal, at least 3 digits
//	{index:02x}     zero-padded lowercase hex (X: uppercase); {index:x} unpadded
//	{index+10:03}   offset and format combined
//	{index/256}     integer division, after the offset
//	{index%256}     remainder, after the offset: together they spread an
//	                index over two MAC octets,
//	                "00:50:56:10:{index/256:02x}:{index%256:02x}"
//	{mac:N}         the MAC of the clone's network adapter N, as the plan
//	                sets it (a template or mac: auto); only in guestinfo and
//	                extraConfig values, and only for adapters under nics:
//	{ip:10.10.1.10+index}
//	                an IPv4 address counted from a base: the base plus the
//	                index, carrying into the next octet (10.10.1.255 is
//	                followed by 10.10.2.0); an offset counts from there,
//	                {ip:10.10.1.10+index-1}; only in guestinfo and
//	                extraConfig values
//	{ip:10.10.1.10+index/24}
//	                the same, bounded to the base's subnet: rendering an
//	                address outside 10.10.1.0/24, or its network or
//	                broadcast address, is an error naming the clone
//	{{  }}          a literal { or }
//
// The zero Template renders the empty string.
type Template struct {
	src   string
	parts []tpart
}

type tpart struct {
	lit   string
	ph    byte   // 0 for a literal; 'p'lan, 'g'roup, 'n'ame, 'i'ndex, 'm'ac, 'a'ddress
	arg   int    // the adapter of {mac:N}
	off   int    // index offset
	ip    uint32 // the base address of {ip:...}
	bits  int    // the subnet prefix length of {ip:.../N}; 0 for none
	div   int    // divisor, 0 for none
	mod   int    // modulus, 0 for none
	width int    // zero-padding width
	base  int    // 10 or 16
	upper bool   // uppercase hex
}

// Vars are the values a template is rendered with.
type Vars struct {
	Plan, Group, Name string
	Index             int
	MACs              map[int]string // by adapter, for {mac:N}
}

// scope says where a template is and so which placeholders it may use.
type scope uint8

const (
	inCloneName scope = iota // not {name}: it is the clone name itself
	inClone                  // {name} too
	inConfig                 // {name} and {mac:N} (guestinfo and extraConfig values)
)

// maxAdapters is the most network adapters a vSphere VM has.
const maxAdapters = 10

// templateError is a problem in a template at byte offset Off of its source.
type templateError struct {
	Off int
	Msg string
}

// maxOffset bounds index offsets so that rendered numbers stay small.
const maxOffset = 1_000_000

var placeholders = []string{"plan", "group", "name", "index", "mac", "ip"}

// parseTemplate compiles s for the scope it is used in (which placeholders
// it may use). It returns every problem it finds.
func parseTemplate(s string, sc scope) (*Template, []templateError) {
	t := &Template{src: s}
	var errs []templateError
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, tpart{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '}' {
			if i+1 < len(s) && s[i+1] == '}' {
				lit.WriteByte('}')
				i++
				continue
			}
			errs = append(errs, templateError{i, "unmatched }; write }} for a literal }"})
			continue
		}
		if c != '{' {
			lit.WriteByte(c)
			continue
		}
		if i+1 < len(s) && s[i+1] == '{' {
			lit.WriteByte('{')
			i++
			continue
		}
		end := strings.IndexAny(s[i+1:], "{}")
		if end < 0 || s[i+1+end] == '{' {
			errs = append(errs, templateError{i, "unclosed {; close the placeholder with }, or write {{ for a literal {"})
			if end < 0 {
				break
			}
			continue
		}
		body := s[i+1 : i+1+end]
		p, msg := parsePlaceholder(body, sc)
		if msg != "" {
			errs = append(errs, templateError{i, msg})
		} else {
			flush()
			t.parts = append(t.parts, p)
		}
		i += 1 + end
	}
	flush()
	return t, errs
}

func parsePlaceholder(body string, sc scope) (tpart, string) {
	ph := "{" + body + "}"
	if body == "" {
		return tpart{}, "empty placeholder {}; use {plan}, {group}, {name} or {index}, or write {{}} for literal braces"
	}
	name, rest := body, ""
	if i := strings.IndexAny(body, "+-/%:"); i >= 0 {
		name, rest = body[:i], body[i:]
	}
	p, done, msg := placeholderKind(ph, name, rest, sc)
	if done || msg != "" {
		return p, msg
	}
	if rest != "" && p.ph != 'i' {
		return tpart{}, fmt.Sprintf("placeholder %s: only {index} takes an offset or a format", ph)
	}
	for _, step := range []func(string, string, *tpart) (string, string){parseOffset, parseDivMod, parseFormat} {
		if rest, msg = step(ph, rest, &p); msg != "" {
			return tpart{}, msg
		}
	}
	return p, ""
}

// placeholderKind reads a placeholder's name. done reports that the
// placeholder is whole ({mac:N}, {ip:...}): rest was its argument, not an
// index modifier.
func placeholderKind(ph, name, rest string, sc scope) (p tpart, done bool, msg string) {
	p = tpart{base: 10}
	switch name {
	case "plan":
		p.ph = 'p'
	case "group":
		p.ph = 'g'
	case "name":
		if sc == inCloneName {
			return tpart{}, false, "{name} cannot be used in cloneName: it is the rendered cloneName itself; use {plan}, {group} and {index}"
		}
		p.ph = 'n'
	case "index":
		p.ph = 'i'
	case "mac":
		if sc != inConfig {
			return tpart{}, false, fmt.Sprintf("placeholder %s can only be used in guestinfo and extraConfig values", ph)
		}
		n, err := strconv.Atoi(strings.TrimPrefix(rest, ":"))
		if !strings.HasPrefix(rest, ":") || err != nil || n < 1 || n > maxAdapters || rest[1] == '+' || rest[1] == '0' {
			return tpart{}, false, fmt.Sprintf("placeholder %s: name the network adapter, a number from 1 to %d: {mac:1} is the MAC of network adapter 1", ph, maxAdapters)
		}
		p.ph, p.arg = 'm', n
		return p, true, ""
	case "ip":
		if sc != inConfig {
			return tpart{}, false, fmt.Sprintf("placeholder %s can only be used in guestinfo and extraConfig values", ph)
		}
		p, msg = parseIP(ph, strings.TrimPrefix(rest, ":"))
		return p, true, msg
	default:
		msg := fmt.Sprintf("unknown placeholder %s; use {plan}, {group}, {name} or {index}", ph)
		if strings.Count(name, ".") == 3 && strings.Contains(rest, "index") {
			msg += "; write an address counted from a base as {ip:10.10.1.10+index}"
		}
		if s := suggest.Closest(strings.TrimSpace(strings.ToLower(name)), placeholders); s != "" {
			msg = fmt.Sprintf("unknown placeholder %s; did you mean {%s}?", ph, s)
		}
		return tpart{}, false, msg
	}
	return p, false, ""
}

// leadingNumber returns the digits of rest after its first character and
// where they end.
func leadingNumber(rest string) (int, int, error) {
	j := 1
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	n, err := strconv.Atoi(rest[1:j])
	if j == 1 && err == nil {
		err = strconv.ErrSyntax
	}
	return n, j, err
}

// parseOffset reads an {index+N} or {index-N} offset at the start of rest
// into p and returns what follows it.
func parseOffset(ph, rest string, p *tpart) (string, string) {
	if rest == "" || (rest[0] != '+' && rest[0] != '-') {
		return rest, ""
	}
	n, j, err := leadingNumber(rest)
	if err != nil || n > maxOffset {
		return "", fmt.Sprintf("placeholder %s: the offset must be a number from 0 to %d, e.g. {index+10}", ph, maxOffset)
	}
	if rest[0] == '-' {
		n = -n
	}
	if n < -1 {
		return "", fmt.Sprintf("placeholder %s renders a negative number for index 1 (index starts at 1); use an offset of -1 or more", ph)
	}
	p.off = n
	return rest[j:], ""
}

// parseDivMod reads an {index/N} or {index%N} at the start of rest into p
// and returns what follows it.
func parseDivMod(ph, rest string, p *tpart) (string, string) {
	if rest == "" || (rest[0] != '/' && rest[0] != '%') {
		return rest, ""
	}
	n, j, err := leadingNumber(rest)
	if err != nil || n < 1 || n > maxOffset {
		return "", fmt.Sprintf("placeholder %s: %c needs a number from 1 to %d, e.g. {index/256} or {index%%256}", ph, rest[0], maxOffset)
	}
	if rest[0] == '/' {
		p.div = n
	} else {
		p.mod = n
	}
	return rest[j:], ""
}

// parseFormat reads the :format that ends rest ({index:03}, {index:02x})
// into p.
func parseFormat(ph, rest string, p *tpart) (string, string) {
	if rest == "" {
		return "", ""
	}
	if rest[0] != ':' {
		return "", fmt.Sprintf("placeholder %s: unexpected %q; write {index+N}, {index-N}, {index/N}, {index%%N}, {index:03} or {index:02x}", ph, rest)
	}
	head := strings.TrimSuffix(strings.TrimPrefix(ph, "{"), "}") // the placeholder up to its format, for suggestions
	if i := strings.IndexByte(head, ':'); i >= 0 {
		head = head[:i]
	}
	f := rest[1:]
	switch {
	case strings.HasSuffix(f, "x"):
		p.base, f = 16, f[:len(f)-1]
	case strings.HasSuffix(f, "X"):
		p.base, p.upper, f = 16, true, f[:len(f)-1]
	case strings.HasSuffix(f, "d"):
		f = f[:len(f)-1]
	}
	if f == "" {
		if p.base == 10 && !strings.HasSuffix(rest, "d") {
			return "", fmt.Sprintf("placeholder %s: empty format; write {index:03} or {index:02x}", ph)
		}
		return "", ""
	}
	w, err := strconv.Atoi(f)
	if err != nil || f[0] == '+' || f[0] == '-' || w > 20 {
		return "", fmt.Sprintf("placeholder %s: bad format %q; use 0 and a width up to 20, then x or X for hex: {index:03}, {index:02x}", ph, rest[1:])
	}
	if f[0] != '0' && w > 0 {
		return "", fmt.Sprintf("placeholder %s: a width pads with zeros and must start with 0; write {%s:0%s}", ph, head, rest[1:])
	}
	p.width = w
	return "", ""
}

// String returns the template's source text.
func (t *Template) String() string {
	if t == nil {
		return ""
	}
	return t.src
}

// Adapters returns the network adapters the template's {mac:N}
// placeholders name, in order of appearance.
func (t *Template) Adapters() []int {
	if t == nil {
		return nil
	}
	var out []int
	for _, p := range t.parts {
		if p.ph == 'm' {
			out = append(out, p.arg)
		}
	}
	return out
}

// Uses reports whether the template contains the placeholder name ("plan",
// "group", "name", "index", "mac" or "ip"); an {ip:...} placeholder uses
// "index" too.
func (t *Template) Uses(name string) bool {
	if t == nil {
		return false
	}
	ph := map[string]byte{"plan": 'p', "group": 'g', "name": 'n', "index": 'i', "mac": 'm', "ip": 'a'}[name]
	for _, p := range t.parts {
		// {ip:...+index} counts with the index, so it uses it too.
		if p.ph != 0 && (p.ph == ph || name == "index" && p.ph == 'a') {
			return true
		}
	}
	return false
}

// Render returns the template with its placeholders replaced by v. An
// {ip:...} address past its subnet renders all the same; Check says so.
func (t *Template) Render(v Vars) string {
	out, _ := t.render(v)
	return out
}

// Check returns what is wrong with the template rendered with v: an {ip:...}
// address past 255.255.255.255 or outside its subnet. It returns "" when
// nothing is.
func (t *Template) Check(v Vars) string {
	_, problem := t.render(v)
	return problem
}

// render renders the template and reports the first address out of range.
func (t *Template) render(v Vars) (string, string) {
	if t == nil {
		return "", ""
	}
	if len(t.parts) == 1 && t.parts[0].ph == 0 {
		return t.parts[0].lit, ""
	}
	b := make([]byte, 0, len(t.src)+8)
	problem := ""
	for _, p := range t.parts {
		switch p.ph {
		case 0:
			b = append(b, p.lit...)
		case 'p':
			b = append(b, v.Plan...)
		case 'g':
			b = append(b, v.Group...)
		case 'n':
			b = append(b, v.Name...)
		case 'm':
			b = append(b, v.MACs[p.arg]...)
		case 'a':
			var msg string
			b, msg = p.appendIP(b, v.Index)
			if problem == "" {
				problem = msg
			}
		case 'i':
			b = p.appendIndex(b, v.Index)
		}
	}
	return string(b), problem
}

// appendIndex appends the {index...} placeholder p rendered for index.
func (p tpart) appendIndex(b []byte, index int) []byte {
	n := index + p.off
	if p.div > 0 {
		n /= p.div
	}
	if p.mod > 0 {
		n %= p.mod
	}
	var num [24]byte
	d := strconv.AppendInt(num[:0], int64(n), p.base)
	if p.upper {
		for k := range d {
			if d[k] >= 'a' {
				d[k] -= 'a' - 'A'
			}
		}
	}
	for k := len(d); k < p.width; k++ {
		b = append(b, '0')
	}
	return append(b, d...)
}
