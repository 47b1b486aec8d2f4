package plan

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ipSyntax is how an {ip:...} placeholder is written, for messages.
const ipSyntax = "{ip:10.10.1.10+index}, {ip:10.10.1.10+index-1} or {ip:10.10.1.10+index/24}"

// parseIP compiles the body of an {ip:BASE+index[±N][/BITS]} placeholder
// (what follows "ip:"); ph is the whole placeholder, for messages.
func parseIP(ph, body string) (tpart, string) {
	base, rest, ok := strings.Cut(body, "+index")
	if !ok {
		return tpart{}, fmt.Sprintf("placeholder %s: write the base address and +index: %s", ph, ipSyntax)
	}
	addr, err := netip.ParseAddr(base)
	if err != nil || !addr.Is4() {
		return tpart{}, fmt.Sprintf("placeholder %s: %q is not an IPv4 address such as 10.10.1.10; write %s", ph, base, ipSyntax)
	}
	a4 := addr.As4()
	p := tpart{ph: 'a', ip: uint32(a4[0])<<24 | uint32(a4[1])<<16 | uint32(a4[2])<<8 | uint32(a4[3])}
	rest, bits, hasBits := strings.Cut(rest, "/")
	if rest != "" {
		n, err := strconv.Atoi(rest[1:])
		if (rest[0] != '+' && rest[0] != '-') || err != nil || rest[1] < '0' || rest[1] > '9' || n > maxOffset {
			return tpart{}, fmt.Sprintf("placeholder %s: unexpected %q after +index; an offset is +N or -N, e.g. {ip:%s+index-1}", ph, rest, base)
		}
		if rest[0] == '-' {
			n = -n
		}
		if n < -1 {
			return tpart{}, fmt.Sprintf("placeholder %s counts below its base for index 1 (index starts at 1); lower the base instead, or use an offset of -1 or more", ph)
		}
		p.off = n
	}
	if hasBits {
		n, err := strconv.Atoi(bits)
		if err != nil || bits[0] < '0' || bits[0] > '9' || n < 1 || n > 32 {
			return tpart{}, fmt.Sprintf("placeholder %s: the subnet must be a prefix length from 1 to 32, e.g. {ip:%s+index/24}", ph, base)
		}
		p.bits = n
	}
	return p, ""
}

// appendIP appends the address of the {ip:...} placeholder p for index, and
// says what is wrong with it: past 255.255.255.255 (rendered with a first
// octet past 255, which is no address) or outside the subnet.
func (p tpart) appendIP(b []byte, index int) ([]byte, string) {
	n := uint64(p.ip) + uint64(max(index+p.off, 0))
	b = fmt.Appendf(b, "%d.%d.%d.%d", n>>24, n>>16&0xff, n>>8&0xff, n&0xff)
	if n > 0xffffffff {
		return b, fmt.Sprintf("%s counts past 255.255.255.255", p.src())
	}
	if p.bits == 0 {
		return b, ""
	}
	mask := ^uint32(0) << (32 - p.bits)
	network := p.ip & mask
	first, last := network, network|^mask
	if p.bits <= 30 { // the network and broadcast addresses are no hosts'
		first, last = first+1, last-1
	}
	if a := uint32(n); a < first || a > last {
		return b, fmt.Sprintf("%s renders %s, outside the hosts %s-%s of %s/%d; lower count, or widen the subnet",
			p.src(), fmtIP(uint64(a)), fmtIP(uint64(first)), fmtIP(uint64(last)), fmtIP(uint64(network)), p.bits)
	}
	return b, ""
}

// src writes the {ip:...} placeholder p back as a plan writes it.
func (p tpart) src() string {
	s := "{ip:" + fmtIP(uint64(p.ip)) + "+index"
	if p.off > 0 {
		s += "+" + strconv.Itoa(p.off)
	} else if p.off < 0 {
		s += strconv.Itoa(p.off)
	}
	if p.bits > 0 {
		s += "/" + strconv.Itoa(p.bits)
	}
	return s + "}"
}

func fmtIP(n uint64) string {
	return fmt.Sprintf("%d.%d.%d.%d", n>>24, n>>16&0xff, n>>8&0xff, n&0xff)
}

// badIPv4 finds, in a rendered value, a dotted quad of decimal numbers (an
// IPv4 address as written, not part of a longer dotted run such as a
// version) with a number past 255. It returns the quad and the number.
func badIPv4(s string) (quad string, octet int, found bool) {
	for i := 0; i < len(s); {
		if !isDigitOrDot(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isDigitOrDot(s[j]) {
			j++
		}
		run := strings.TrimSuffix(s[i:j], ".") // the end of a sentence
		i = j
		parts := strings.Split(run, ".")
		if len(parts) != 4 {
			continue
		}
		worst := -1
		for _, part := range parts {
			n, err := strconv.Atoi(part)
			if err != nil || part == "" || len(part) > 7 {
				worst = -1
				break
			}
			if n > 255 && worst < 0 {
				worst = n
			}
		}
		if worst >= 0 {
			return run, worst, true
		}
	}
	return "", 0, false
}

func isDigitOrDot(c byte) bool { return c == '.' || c >= '0' && c <= '9' }

// ipSuggestion returns the template that renders what t does with its
// IPv4 address written as {ip:...}, when t's value is literal text around
// one address that counts with the index, as "10.10.1.{index+10}/24" is
// ("{ip:10.10.1.10+index}/24"), or "".
func ipSuggestion(t *Template, v Vars) string {
	last := v.Index
	for _, p := range t.parts {
		if p.ph != 0 && p.ph != 'i' {
			return "" // {name} and the like would be rendered into it
		}
	}
	v.Index = 0
	s0 := t.Render(v)
	v.Index = 1
	s1 := t.Render(v)
	st0, en0, a0, ok0 := firstIPv4(s0)
	st1, en1, a1, ok1 := firstIPv4(s1)
	if !ok0 || !ok1 || a1 != a0+1 || s0[:st0] != s1[:st1] || s0[en0:] != s1[en1:] ||
		strings.ContainsAny(s0[:st0]+s0[en0:], "{}") {
		return ""
	}
	prefix, suffix := s0[:st0], s0[en0:]
	// Only a form that renders the same for every index up to the first
	// bad one: "10.10.{index/100}.{index+7}" counts differently.
	for i := 2; i < last; i++ {
		v.Index = i
		if t.Render(v) != prefix+fmtIP(a0+uint64(i))+suffix {
			return ""
		}
	}
	return prefix + "{ip:" + s0[st0:en0] + "+index}" + suffix
}

// firstIPv4 finds the first valid IPv4 address in s, delimited as badIPv4
// delimits them, and returns its bounds and value.
func firstIPv4(s string) (start, end int, addr uint64, ok bool) {
	for i := 0; i < len(s); {
		if !isDigitOrDot(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isDigitOrDot(s[j]) {
			j++
		}
		run := strings.TrimSuffix(s[i:j], ".")
		if a, err := netip.ParseAddr(run); err == nil && a.Is4() {
			b := a.As4()
			return i, i + len(run), uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3]), true
		}
		i = j
	}
	return 0, 0, 0, false
}
