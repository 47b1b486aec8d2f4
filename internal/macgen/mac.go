// Package macgen handles the MAC addresses and serial-port files of a plan:
// parsing and range checks of MACs, the shape of MAC templates, deterministic
// "auto" MACs, collision checks (within a plan and against an inventory) and
// serial-port file paths in "[datastore] path" form.
//
// It imports only the standard library. The template language itself
// ({index}, {name}, ...) lives in internal/plan; this package checks what
// templates look like and what they render to.
package macgen

import (
	"fmt"
	"strings"
)

// MAC is a 48-bit IEEE 802 MAC address held in the low 48 bits of a uint64,
// most significant octet first (00:50:56:00:00:01 is 0x005056000001). The zero
// value is 00:00:00:00:00:00.
type MAC uint64

// VMware's range for manually assigned MACs: vCenter accepts static MACs in
// 00:50:56:00:00:00–00:50:56:3F:FF:FF; the rest of the 00:50:56 prefix is
// reserved for addresses vCenter and ESXi generate themselves.
const (
	ManualFirst MAC = 0x005056000000
	ManualLast  MAC = 0x0050563FFFFF

	// ManualSize is the number of addresses in the manual range (2^22).
	ManualSize = int(ManualLast-ManualFirst) + 1

	// ManualRange is the manual range as users read it in messages.
	ManualRange = "00:50:56:00:00:00-00:50:56:3f:ff:ff"
)

// String returns the address in lowercase colon form, e.g. "00:50:56:0a:00:01".
func (m MAC) String() string {
	const hex = "0123456789abcdef"
	var b [17]byte
	for i := 0; i < 6; i++ {
		o := byte(m >> (40 - 8*uint(i)))
		b[3*i] = hex[o>>4]
		b[3*i+1] = hex[o&0xf]
		if i < 5 {
			b[3*i+2] = ':'
		}
	}
	return string(b[:])
}

// Multicast reports whether the I/G bit (the low bit of the first octet) is
// set. A NIC cannot use a multicast address.
func (m MAC) Multicast() bool { return (m>>40)&1 == 1 }

// Local reports whether the U/L bit (the second-lowest bit of the first
// octet) is set: a locally administered address.
func (m MAC) Local() bool { return (m>>40)&2 == 2 }

// InManualRange reports whether m lies in VMware's manual range.
func (m MAC) InManualRange() bool { return m >= ManualFirst && m <= ManualLast }

// ParseMAC parses six two-digit hexadecimal octets separated by colons
// (either case). It accepts nothing else: no dashes, no dots, no one-digit
// octets, because the canonical form is what reservations and inventories
// compare against.
func ParseMAC(s string) (MAC, error) {
	bad := func() (MAC, error) {
		return 0, fmt.Errorf("%q is not a MAC address; write six two-digit hex octets separated by colons, e.g. 00:50:56:00:00:01", s)
	}
	if len(s) != 17 {
		return bad()
	}
	var m MAC
	for i := 0; i < 6; i++ {
		if i < 5 && s[3*i+2] != ':' {
			return bad()
		}
		hi, ok1 := unhex(s[3*i])
		lo, ok2 := unhex(s[3*i+1])
		if !ok1 || !ok2 {
			return bad()
		}
		m = m<<8 | MAC(hi<<4|lo)
	}
	return m, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// Check reports whether m may be assigned to a virtual NIC: it must be
// unicast and inside VMware's manual range, or, only when allowLocal is set
// (the plan's allowLocalMACs opt-in), a locally administered unicast address.
// The error says what to do instead.
func Check(m MAC, allowLocal bool) error {
	switch {
	case m.Multicast():
		return fmt.Errorf("MAC %s is multicast (low bit of the first octet is set); a NIC needs a unicast address in VMware's manual range %s", m, ManualRange)
	case m.InManualRange():
		return nil
	case m.Local() && allowLocal:
		return nil
	case m.Local():
		return fmt.Errorf("MAC %s is locally administered; use VMware's manual range %s, or set allowLocalMACs: true at the top of the plan to allow locally administered addresses", m, ManualRange)
	case m>>24 == 0x005056:
		return fmt.Errorf("MAC %s is outside VMware's manual range %s (the rest of 00:50:56 is reserved for addresses vCenter generates); keep the fourth octet at 3f or below", m, ManualRange)
	default:
		return fmt.Errorf("MAC %s is outside VMware's manual range %s, which vCenter requires for static MACs; start it with 00:50:56 and keep the fourth octet at 3f or below", m, ManualRange)
	}
}

// TemplateProblem is a defect in the shape of a MAC template, found before
// anything is rendered. Offset is the byte offset in the template of the
// octet at fault.
type TemplateProblem struct {
	Offset int
	Msg    string
}

// CheckTemplate checks the shape of a MAC template such as
// "00:50:56:10:01:{index:02x}": six colon-separated octets, each either two
// literal hex digits or containing a placeholder ({...}; "{{" and "}}" are
// literal braces and therefore never valid in a MAC) with only hex digits
// around it. Placeholder syntax is not checked here; the template language
// does that. It returns nil when the shape is right.
func CheckTemplate(tmpl string) *TemplateProblem {
	type part struct {
		start, end int
		ph         bool
	}
	var parts []part
	cur := part{}
	depth := 0
	for i := 0; i < len(tmpl); i++ {
		c := tmpl[i]
		switch {
		case c == '{':
			depth++
			cur.ph = true
		case c == '}':
			if depth > 0 {
				depth--
			}
		case c == ':' && depth == 0:
			cur.end = i
			parts = append(parts, cur)
			cur = part{start: i + 1}
		}
	}
	cur.end = len(tmpl)
	parts = append(parts, cur)
	if len(parts) != 6 {
		return &TemplateProblem{0, fmt.Sprintf("MAC template %q has %d colon-separated octets, want 6; write e.g. 00:50:56:10:01:{index:02x}, or use mac: auto", tmpl, len(parts))}
	}
	for _, p := range parts {
		s := tmpl[p.start:p.end]
		if !p.ph {
			if len(s) != 2 {
				return &TemplateProblem{p.start, fmt.Sprintf("MAC template octet %q must be two hex digits", s)}
			}
			if _, ok := unhex(s[0]); !ok {
				return &TemplateProblem{p.start, fmt.Sprintf("MAC template octet %q must be two hex digits", s)}
			}
			if _, ok := unhex(s[1]); !ok {
				return &TemplateProblem{p.start, fmt.Sprintf("MAC template octet %q must be two hex digits", s)}
			}
			continue
		}
		depth := 0
		for i := 0; i < len(s); i++ {
			switch c := s[i]; {
			case c == '{':
				depth++
			case c == '}':
				depth--
			case depth == 0:
				if _, ok := unhex(c); !ok {
					return &TemplateProblem{p.start + i, fmt.Sprintf("MAC template octet %q may contain only hex digits around its placeholder", s)}
				}
			}
		}
	}
	return nil
}

// ParseDatastorePath checks a rendered serial-port file in vSphere's
// "[datastore] path" form, e.g. "[datastore1] serial/lab-web-01.log", and
// returns its parts. The datastore name must be non-empty without
// surrounding blanks; the path is relative to the datastore root, non-empty,
// without "..", empty segments or a trailing slash.
func ParseDatastorePath(s string) (datastore, path string, err error) {
	form := func(why string) error {
		return fmt.Errorf("serial file %q is not in \"[datastore] path\" form (%s); write e.g. \"[datastore1] serial/{name}.log\"", s, why)
	}
	if !strings.HasPrefix(s, "[") {
		return "", "", form("it must start with [datastore]")
	}
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return "", "", form("] is missing")
	}
	datastore = s[1:end]
	if datastore == "" || strings.TrimSpace(datastore) != datastore {
		return "", "", form("the datastore name is empty or has surrounding blanks")
	}
	rest := s[end+1:]
	if !strings.HasPrefix(rest, " ") || strings.TrimLeft(rest, " ") == "" {
		return "", "", form("a blank and a path must follow ]")
	}
	path = rest[1:]
	switch {
	case strings.HasPrefix(path, " "):
		return "", "", form("use exactly one blank after ]")
	case strings.HasPrefix(path, "/"):
		return "", "", form("the path is relative to the datastore root; drop the leading /")
	case strings.HasSuffix(path, "/"):
		return "", "", form("the path names a folder, not a file")
	case strings.ContainsAny(path, "\x00\n\r\t[]"):
		return "", "", form("the path contains a control character or bracket")
	}
	for _, seg := range strings.Split(path, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", "", form("the path has an empty, . or .. segment")
		}
	}
	return datastore, path, nil
}
