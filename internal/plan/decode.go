package plan

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/iclone-plan/iclone-plan/internal/suggest"
	"gopkg.in/yaml.v3"
)

// Load reads the plan file at path and parses it with Parse. The error is an
// ErrorList when the plan is invalid, and another error when the file cannot
// be read.
func Load(path string) (*Plan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	return Parse(path, data)
}

// Parse parses and validates the plan in data; filename is used in
// positions. It returns every problem at once as an ErrorList, sorted by
// position. It does no I/O.
func Parse(filename string, data []byte) (*Plan, error) {
	d := &decoder{file: filename, src: data}
	p := d.parse()
	if len(d.errs) > 0 {
		d.errs.RemoveMultiples()
		return nil, d.errs
	}
	return p, nil
}

type decoder struct {
	file  string
	src   []byte
	lines [][]byte
	errs  ErrorList
	// merges counts merge keys (<<) seen, to avoid reporting the keys they
	// would have merged as missing.
	merges int
}

func (d *decoder) pos(n *yaml.Node) Position { return Position{d.file, n.Line, n.Column} }

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	d.errs.Add(d.pos(n), fmt.Sprintf(format, args...))
}

var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (d *decoder) parse() *Plan {
	start := Position{d.file, 1, 1}
	if len(d.src) > MaxFileSize {
		d.errs.Add(start, fmt.Sprintf("the plan file is larger than %d MiB; split it into several plans", MaxFileSize>>20))
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(d.src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.errs.Add(start, "the plan is empty; start it with version: 1")
		} else {
			d.yamlError(err)
		}
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		d.errorf(&extra, "a plan file holds one YAML document; remove this --- and what follows, or move it to its own file")
	case !errors.Is(err, io.EOF):
		d.yamlError(err)
	}
	if len(doc.Content) == 0 {
		d.errs.Add(start, "the plan is empty; start it with version: 1")
		return nil
	}
	root := deref(doc.Content[0])
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		d.errs.Add(start, "the plan is empty; start it with version: 1")
		return nil
	}
	return d.plan(root)
}

func (d *decoder) yamlError(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	pos := Position{d.file, 1, 1}
	if m := yamlLineErr.FindStringSubmatch(err.Error()); m != nil {
		pos.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	// yaml.v3 gives the line of a syntax error, not its column: point at
	// the likeliest culprit on the line and say what usually causes it.
	var text string
	if lines := strings.Split(string(d.src), "\n"); pos.Line >= 1 && pos.Line <= len(lines) {
		text = strings.TrimSuffix(lines[pos.Line-1], "\r")
	}
	col := strings.IndexFunc(text, func(r rune) bool { return r != ' ' && r != '\t' }) // the line's first token
	hint := "quote values that start with { [ * & ! % @ or `"
	switch {
	case strings.Contains(msg, "cannot start any token") && strings.Contains(text, "\t"):
		col = strings.Index(text, "\t")
		hint = "YAML indents with spaces, not tabs: replace the tab"
	case strings.Contains(msg, "cannot start any token"):
		if i := strings.IndexAny(text[max(col, 0):], "@`"); i >= 0 {
			col += i
		}
	case strings.Contains(msg, "mapping values are not allowed"):
		hint = "indent this key as its siblings are, or quote a value that holds \": \""
	case strings.Contains(msg, "did not find expected '-' indicator"):
		hint = "indent the entries of the list below this line alike, and their keys alike"
	case strings.Contains(msg, "unexpected end of stream"):
		hint = "close the quote or bracket opened here"
		if i := strings.IndexAny(text[max(col, 0):], "\"'[{"); i >= 0 {
			col += i
		}
	case strings.Contains(msg, "did not find expected key"):
		hint = "indent this line as the keys of its mapping are, or close the quote or bracket opened above"
	}
	if col >= 0 {
		pos.Col = col + 1
	}
	d.errs.Add(pos, "invalid YAML: "+msg+"; "+hint)
}

// deref follows aliases to the anchored node. yaml.v3 never expands aliases
// of a Node tree; the loader only descends into the fixed plan structure, so
// an alias costs what the node it names costs once, and cycles end at a type
// error.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return "a string"
		case "!!int":
			return "an integer"
		case "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!null":
			return "empty"
		case "!!timestamp":
			return "a timestamp"
		}
		return "a " + n.ShortTag() + " value"
	case yaml.AliasNode:
		return "an alias"
	}
	return "a document"
}

// mapping walks the mapping n, reporting unknown keys (when keys is not nil),
// duplicate and merge keys, and calls fn for every other entry. It reports
// false when n is not a mapping.
func (d *decoder) mapping(n *yaml.Node, what string, keys []string, fn func(key string, k, v *yaml.Node)) bool {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s must be a mapping of keys to values, not %s", what, kindName(n))
		return false
	}
	seen := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, "a key in %s must be a plain string, not %s", what, kindName(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			d.merges++
			d.errorf(k, "merge keys (<<) are not supported; put settings shared by groups under defaults")
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.errorf(k, "key %q repeats in %s (first at line %d); keep one", k.Value, what, first.Line)
			continue
		}
		seen[k.Value] = k
		if k.Value == "name" && what == "defaults" {
			d.errorf(k, "name cannot be set in defaults; every group names itself")
			continue
		}
		if keys != nil && !contains(keys, k.Value) {
			if s := suggest.Closest(k.Value, keys); s != "" {
				d.errorf(k, "unknown key %q in %s; did you mean %s?", k.Value, what, s)
			} else {
				d.errorf(k, "unknown key %q in %s; known keys are %s", k.Value, what, strings.Join(keys, ", "))
			}
			continue
		}
		fn(k.Value, k, v)
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (d *decoder) str(n *yaml.Node, what string) (string, bool) {
	n = deref(n)
	if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!str" || n.ShortTag() == "!!timestamp") {
		return n.Value, true // an unquoted date is text as written
	}
	hint := ""
	switch {
	case n.Kind == yaml.MappingNode && n.Style&yaml.FlowStyle != 0:
		hint = `; a value that starts with { is a YAML mapping: quote it, e.g. "{name}"`
	case n.Kind == yaml.SequenceNode && n.Style&yaml.FlowStyle != 0:
		hint = `; a value that starts with [ is a YAML list: quote it, e.g. "[datastore1] file.log"`
	case n.Kind == yaml.ScalarNode && n.ShortTag() != "!!null":
		hint = fmt.Sprintf("; quote it: %q", n.Value)
	}
	d.errorf(n, "%s must be a string, not %s%s", what, kindName(n), hint)
	return "", false
}

func (d *decoder) int(n *yaml.Node, what string, lo, hi int, hint string) (int, bool) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		d.errorf(n, "%s must be an integer, not %s", what, kindName(n))
		return 0, false
	}
	var v int64
	if err := n.Decode(&v); err != nil || v < int64(lo) || v > int64(hi) {
		d.errorf(n, "%s %s is out of range %d..%d%s", what, n.Value, lo, hi, hint)
		return 0, false
	}
	return int(v), true
}

func (d *decoder) bool(n *yaml.Node, what string) (bool, bool) {
	n = deref(n)
	var v bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&v) != nil {
		d.errorf(n, "%s must be true or false, not %s", what, kindName(n))
		return false, false
	}
	return v, true
}

// parseDuration is time.ParseDuration plus a leading day count: "7d",
// "1d12h".
func parseDuration(s string) (time.Duration, error) {
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n > 100000 {
			return 0, errors.New("bad day count")
		}
		days = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return 0, errors.New("bad duration")
	}
	return days + v, nil
}

// fmtDuration formats v the way plans write durations: whole days as "7d",
// else Go's form without zero units ("90m", "1h30m", "10s").
func fmtDuration(v time.Duration) string {
	if v > 0 && v%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", v/(24*time.Hour))
	}
	s := v.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// fmtLimit formats a range limit: like fmtDuration, but a single day reads
// 24h.
func fmtLimit(v time.Duration) string {
	if v == 24*time.Hour {
		return "24h"
	}
	return fmtDuration(v)
}

func (d *decoder) duration(n *yaml.Node, what string, lo, hi time.Duration, hint string) (time.Duration, bool) {
	s, ok := d.str(deref(n), what)
	if !ok {
		return 0, false
	}
	v, err := parseDuration(s)
	if err != nil {
		d.errorf(deref(n), "%s %q is not a duration; write e.g. 90s, 10m, 24h or 7d", what, s)
		return 0, false
	}
	if v < lo || v > hi {
		d.errorf(deref(n), "%s %s is out of range %s..%s%s", what, s, fmtLimit(lo), fmtLimit(hi), hint)
		return 0, false
	}
	return v, true
}

// posIn returns the position of byte off of the scalar n's value. It maps
// through quotes and the simple escapes of single-line scalars; for block
// scalars and multi-line values it returns the position of n.
func (d *decoder) posIn(n *yaml.Node, off int) Position {
	p := d.pos(n)
	if n.Kind != yaml.ScalarNode || off <= 0 || off > len(n.Value) || strings.ContainsAny(n.Value, "\r\n") {
		return p
	}
	if d.lines == nil {
		d.lines = bytes.Split(d.src, []byte("\n"))
	}
	if n.Line < 1 || n.Line > len(d.lines) {
		return p
	}
	line := d.lines[n.Line-1]
	start := 0
	for c := 1; c < n.Column; c++ {
		if start >= len(line) {
			return p
		}
		_, size := utf8.DecodeRune(line[start:])
		start += size
	}
	raw := line[start:]
	switch n.Style {
	case 0:
		if !bytes.HasPrefix(raw, []byte(n.Value)) {
			return p
		}
		p.Col += utf8.RuneCountInString(n.Value[:off])
		return p
	case yaml.SingleQuotedStyle, yaml.DoubleQuotedStyle:
		q := byte('\'')
		if n.Style == yaml.DoubleQuotedStyle {
			q = '"'
		}
		if len(raw) == 0 || raw[0] != q {
			return p
		}
		ri, di, col := 1, 0, p.Col+1
		for di < off {
			if ri >= len(raw) {
				return p
			}
			c := raw[ri]
			switch {
			case q == '\'' && c == '\'':
				if ri+1 >= len(raw) || raw[ri+1] != '\'' {
					return p
				}
				ri, di, col = ri+2, di+1, col+2
			case q == '"' && c == '"':
				return p
			case q == '"' && c == '\\':
				if ri+1 >= len(raw) || !strings.ContainsRune(`"\/nt0abefrv `, rune(raw[ri+1])) {
					return p // \x, \u and friends: not worth mapping
				}
				ri, di, col = ri+2, di+1, col+2
			default:
				_, size := utf8.DecodeRune(raw[ri:])
				ri, di, col = ri+size, di+size, col+1
			}
		}
		p.Col = col
		return p
	}
	return p
}

// template compiles the template in the scalar n, reporting every syntax
// error at the column of the bad placeholder.
func (d *decoder) template(n *yaml.Node, s, what string, sc scope) (*Template, bool) {
	t, errs := parseTemplate(s, sc)
	for _, e := range errs {
		d.errs.Add(d.posIn(deref(n), e.Off), what+": "+e.Msg)
	}
	return t, len(errs) == 0
}
