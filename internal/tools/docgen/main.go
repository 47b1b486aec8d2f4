// Command docgen writes docs/plan-reference.md, the reference of every key
// of a plan file, from the JSON Schema in schema/plan.schema.json: for each
// key its type, default, whether it is required, its constraints, its
// description and an example in place.
//
//	go run ./internal/tools/docgen            # rewrite docs/plan-reference.md
//	go run ./internal/tools/docgen -o -       # print it
//
// The schema is the single source: `task docs` regenerates the page, and the
// package's test fails when the committed page is stale. Every property must
// carry a description and at least one example; docgen refuses a schema
// that lacks one.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/iclone-plan/iclone-plan/schema"
)

func main() {
	out := flag.String("o", "docs/plan-reference.md", "output `file`; - for standard output")
	flag.Parse()
	doc, err := Generate(schema.JSON)
	if err != nil {
		fmt.Fprintln(os.Stderr, "docgen:", err)
		os.Exit(1)
	}
	if *out == "-" {
		_, err = os.Stdout.Write(doc)
	} else {
		err = os.WriteFile(*out, doc, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "docgen:", err)
		os.Exit(1)
	}
}

// node is a JSON value that remembers the order of object keys.
type node struct {
	keys []string         // object keys, in order
	obj  map[string]*node // object members
	arr  []*node          // array items
	val  any              // scalar, or the plain Go value of the whole node
}

func parse(data []byte) (*node, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	n, err := parseValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after the schema")
	}
	return n, nil
}

func parseValue(dec *json.Decoder) (*node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		n := &node{obj: map[string]*node{}}
		plain := map[string]any{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			k := kt.(string)
			v, err := parseValue(dec)
			if err != nil {
				return nil, err
			}
			n.keys = append(n.keys, k)
			n.obj[k] = v
			plain[k] = v.val
		}
		_, err := dec.Token()
		n.val = plain
		return n, err
	case json.Delim('['):
		n := &node{}
		var plain []any
		for dec.More() {
			v, err := parseValue(dec)
			if err != nil {
				return nil, err
			}
			n.arr = append(n.arr, v)
			plain = append(plain, v.val)
		}
		_, err := dec.Token()
		n.val = plain
		return n, err
	}
	return &node{val: tok}, nil
}

func (n *node) get(k string) *node {
	if n == nil || n.obj == nil {
		return nil
	}
	return n.obj[k]
}

func (n *node) str(k string) string {
	s, _ := n.get(k).value().(string)
	return s
}

func (n *node) value() any {
	if n == nil {
		return nil
	}
	return n.val
}

// Property is one documented key.
type Property struct {
	Path        string // e.g. execution.rate, groups[].nics[].mac
	Type        string
	Default     string // "" when there is none
	Required    string // "yes", "no", or a sentence
	Constraints []string
	Description string
	Examples    []string // YAML in place
	Anchor      string
	// Pointer is the property's schema as a URI fragment, e.g.
	// #/$defs/execution/properties/rate, and Values its examples as JSON
	// values: the test validates each example against the property's schema.
	Pointer string
	Values  []any
}

// section is a group of properties under one heading.
type section struct {
	Title, Intro string
	Props        []Property
}

// walker turns the schema into sections.
type walker struct {
	root *node
	defs *node
}

func (w *walker) resolve(n *node) *node {
	for n != nil {
		ref := n.str("$ref")
		if ref == "" {
			return n
		}
		target := w.defs.get(strings.TrimPrefix(ref, "#/$defs/"))
		// Keys beside $ref (description, examples, default) override.
		merged := &node{obj: map[string]*node{}}
		for _, k := range target.keys {
			merged.keys = append(merged.keys, k)
			merged.obj[k] = target.obj[k]
		}
		for _, k := range n.keys {
			if k == "$ref" {
				continue
			}
			if _, ok := merged.obj[k]; !ok {
				merged.keys = append(merged.keys, k)
			}
			merged.obj[k] = n.obj[k]
		}
		n = merged
	}
	return n
}

// typeOf describes a property's type.
func (w *walker) typeOf(p *node) string {
	if c := p.get("const"); c != nil {
		return "integer, always " + fmt.Sprint(c.value())
	}
	if e := p.get("enum"); e != nil {
		var vs []string
		for _, v := range e.arr {
			vs = append(vs, fmt.Sprint(v.value()))
		}
		return "string, one of " + strings.Join(vs, ", ")
	}
	switch t := p.get("type").value().(type) {
	case string:
		switch t {
		case "array":
			items := w.resolve(p.get("items"))
			if items.str("type") == "object" {
				return "list of mappings"
			}
			return "list of " + w.typeOf(items)
		case "object":
			if ap := p.get("additionalProperties"); ap != nil && ap.obj != nil {
				return "mapping of string to " + w.typeOf(w.resolve(ap))
			}
			return "mapping"
		}
		return t
	case []any:
		var vs []string
		for _, v := range t {
			vs = append(vs, fmt.Sprint(v))
		}
		return strings.Join(vs, ", ")
	}
	if p.str("pattern") != "" && p.get("type") == nil {
		return "string"
	}
	return "mapping"
}

func (w *walker) constraints(p *node) []string {
	var out []string
	num := func(k string) (string, bool) {
		v := p.get(k)
		if v == nil {
			return "", false
		}
		return fmt.Sprint(v.value()), true
	}
	lo, hasLo := num("minimum")
	hi, hasHi := num("maximum")
	switch {
	case hasLo && hasHi:
		out = append(out, fmt.Sprintf("from %s to %s", lo, hi))
	case hasLo:
		out = append(out, "at least "+lo)
	case hasHi:
		out = append(out, "at most "+hi)
	}
	if v, ok := num("minLength"); ok && v != "1" {
		out = append(out, "at least "+v+" characters")
	} else if ok {
		out = append(out, "not empty")
	}
	if v, ok := num("maxItems"); ok {
		out = append(out, "at most "+v+" entries")
	}
	if v, ok := num("maxProperties"); ok {
		out = append(out, "at most "+v+" entries")
	}
	if pat := p.str("pattern"); pat != "" {
		out = append(out, "matches `"+pat+"`")
	}
	if pn := p.get("propertyNames"); pn != nil {
		if pat := pn.str("pattern"); pat != "" {
			out = append(out, "keys match `"+pat+"`")
		}
		if not := pn.get("not"); not != nil && not.str("pattern") != "" {
			out = append(out, "keys do not match `"+not.str("pattern")+"`")
		}
	}
	return out
}

// examplePath is a key path for the in-place example: names, with "[]" for
// list items.
type pathElem struct {
	key  string
	list bool // the key holds a list; the next element is inside an item
}

// inPlace renders v as YAML at the given path, e.g. groups[].nics[].mac.
func inPlace(path []pathElem, v any) (string, error) {
	var wrap func(i int) any
	wrap = func(i int) any {
		if i == len(path) {
			return v
		}
		inner := wrap(i + 1)
		if path[i].list && i < len(path)-1 {
			inner = []any{inner}
		}
		return yamlMap{{path[i].key, inner}}
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(toYAML(wrap(0))); err != nil {
		return "", err
	}
	return b.String(), nil
}

// yamlMap is an ordered mapping for the YAML encoder.
type yamlMap []struct {
	k string
	v any
}

// toYAML converts to yaml.Node so that key order is kept and JSON numbers
// stay numbers.
func toYAML(v any) *yaml.Node {
	switch t := v.(type) {
	case yamlMap:
		n := &yaml.Node{Kind: yaml.MappingNode}
		for _, kv := range t {
			n.Content = append(n.Content, scalar(kv.k, "!!str"), toYAML(kv.v))
		}
		return n
	case *node:
		if t.obj != nil {
			var m yamlMap
			for _, k := range t.keys {
				m = append(m, struct {
					k string
					v any
				}{k, t.obj[k]})
			}
			return toYAML(m)
		}
		if _, ok := t.val.([]any); ok {
			n := &yaml.Node{Kind: yaml.SequenceNode}
			for _, e := range t.arr {
				n.Content = append(n.Content, toYAML(e))
			}
			return n
		}
		return toYAML(t.val)
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		for _, e := range t {
			n.Content = append(n.Content, toYAML(e))
		}
		return n
	case json.Number:
		return scalar(t.String(), "!!int")
	case bool:
		return scalar(strconv.FormatBool(t), "!!bool")
	case string:
		return scalar(t, "!!str")
	}
	return scalar(fmt.Sprint(v), "")
}

func scalar(v, tag string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Value: v, Tag: tag}
}

// properties documents the properties of object schema obj at path.
func (w *walker) properties(obj *node, pointer string, prefix []pathElem, required map[string]string) ([]Property, error) {
	var out []Property
	props := obj.get("properties")
	if props == nil {
		return nil, nil
	}
	for _, name := range props.keys {
		raw := props.get(name)
		p := w.resolve(raw)
		path := append(append([]pathElem(nil), prefix...), pathElem{key: name, list: p.str("type") == "array"})
		dotted := dottedPath(path)
		desc := p.str("description")
		if len(desc) < 20 {
			return nil, fmt.Errorf("%s has no description", dotted)
		}
		ex := raw.get("examples")
		if ex == nil {
			ex = p.get("examples")
		}
		if ex == nil || len(ex.arr) == 0 {
			return nil, fmt.Errorf("%s has no examples in the schema", dotted)
		}
		var examples []string
		var values []any
		for _, e := range ex.arr {
			values = append(values, e.value())
			y, err := inPlace(path, e)
			if err != nil {
				return nil, fmt.Errorf("%s: example: %v", dotted, err)
			}
			examples = append(examples, y)
		}
		prop := Property{
			Path: dotted, Type: w.typeOf(p), Description: desc,
			Constraints: w.constraints(p), Examples: examples,
			Anchor: anchor("`" + dotted + "`"), Required: "no",
			Pointer: pointer + "/properties/" + name, Values: values,
		}
		if r, ok := required[name]; ok {
			prop.Required = r
		}
		if d := p.get("default"); d != nil {
			b, _ := json.Marshal(d.value())
			prop.Default = "`" + strings.Trim(string(b), `"`) + "`"
		}
		out = append(out, prop)
	}
	return out, nil
}

func dottedPath(path []pathElem) string {
	var b strings.Builder
	for i, e := range path {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(e.key)
		if e.list && i < len(path)-1 {
			b.WriteString("[]")
		}
	}
	return b.String()
}

// anchor is the fragment GitHub gives a heading: lowercase, punctuation
// (backticks, dots, brackets, parentheses) dropped, spaces made dashes.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

func requiredOf(n *node, why string) map[string]string {
	out := map[string]string{}
	if r := n.get("required"); r != nil {
		for _, v := range r.arr {
			out[v.value().(string)] = why
		}
	}
	return out
}

// Generate renders the reference page from the schema's JSON.
func Generate(schemaJSON []byte) ([]byte, error) {
	sections, err := collect(schemaJSON)
	if err != nil {
		return nil, err
	}
	return render(sections), nil
}

// collect documents every property of the schema, by section.
func collect(schemaJSON []byte) ([]section, error) {
	root, err := parse(schemaJSON)
	if err != nil {
		return nil, fmt.Errorf("parsing the schema: %w", err)
	}
	w := &walker{root: root, defs: root.get("$defs")}
	var sections []section

	top, err := w.properties(root, "#", nil, requiredOf(root, "yes"))
	if err != nil {
		return nil, err
	}
	sections = append(sections, section{Title: "Top-level keys", Intro: root.str("description"), Props: top})

	exec := w.defs.get("execution")
	ep, err := w.properties(exec, "#/$defs/execution", []pathElem{{key: "execution"}}, nil)
	if err != nil {
		return nil, err
	}
	sections = append(sections, section{Title: "Execution settings (`execution`)", Intro: exec.str("description"), Props: ep})

	group := w.defs.get("group")
	gp, err := w.properties(group, "#/$defs/group", []pathElem{{key: "groups", list: true}}, map[string]string{"name": "yes"})
	if err != nil {
		return nil, err
	}
	settings := w.defs.get("groupSettings")
	req := map[string]string{"source": "yes, in the group or in `defaults`", "count": "yes, in the group or in `defaults`"}
	sp, err := w.properties(settings, "#/$defs/groupSettings", []pathElem{{key: "groups", list: true}}, req)
	if err != nil {
		return nil, err
	}
	sections = append(sections, section{Title: "Groups (`groups[]`, and `defaults`)",
		Intro: group.str("description") + " Every key but `name` may also be set in [`defaults`](#defaults), for every group that does not set it.",
		Props: append(gp, sp...)})

	for _, sub := range []struct{ def, key, title string }{{"nic", "nics", "NIC edits (`groups[].nics[]`)"}, {"serial", "serial", "Serial ports (`groups[].serial[]`)"}} {
		d := w.defs.get(sub.def)
		ps, err := w.properties(d, "#/$defs/"+sub.def, []pathElem{{key: "groups", list: true}, {key: sub.key, list: true}}, requiredOf(d, "yes"))
		if err != nil {
			return nil, err
		}
		sections = append(sections, section{Title: sub.title, Intro: d.str("description"), Props: ps})
	}
	return sections, nil
}

func render(sections []section) []byte {
	var b bytes.Buffer
	b.WriteString(`<!-- Generated by go run ./internal/tools/docgen (task docs) from schema/plan.schema.json. Do not edit. -->

# Plan file reference

Every key of an iclone-plan plan file (format version 1), generated from the
JSON Schema in [schema/plan.schema.json](../schema/plan.schema.json), which
editors also use: start a plan with

    # yaml-language-server: $schema=../../schema/plan.schema.json

(the path to the schema, relative to the plan; ` + "`iclone-plan schema > plan.schema.json`" + `
saves a copy) for completion and checks as you type.
` + "`iclone-plan validate PLAN`" + ` checks everything the schema checks and
what it cannot: rendered names and MACs, uniqueness across the plan, and
template syntax. ` + "`iclone-plan schema`" + ` prints the schema.

Templates (cloneName, mac, serial file, guestinfo and extraConfig values)
take the placeholders ` + "`{plan}`, `{group}`, `{index}`" + ` (1-based) and, except in
cloneName, ` + "`{name}`" + ` (the rendered clone name). The index takes an offset
` + "`{index+10}`" + `, a division ` + "`{index/256}`" + `, a remainder ` + "`{index%256}`" + ` and a format
` + "`{index:03}`" + ` (zero-padded decimal), ` + "`{index:02x}` or `{index:02X}`" + ` (hex).
Guestinfo and extraConfig values also take ` + "`{mac:N}`" + `, the MAC of network adapter N,
and ` + "`{ip:10.10.1.10+index}`" + `, an IPv4 address counted from a base, carrying into the
next octet (` + "`10.10.1.255`, then `10.10.2.0`" + `), with an optional offset
` + "`{ip:10.10.1.10+index-1}`" + ` and subnet ` + "`{ip:10.10.1.10+index/24}`" + `: an address
outside the subnet's hosts is an error naming the clone. So is any rendered value
holding a dotted quad with a number past 255, as ` + "`10.10.1.{index+10}`" + ` renders
from index 246 on.
Durations are Go durations with an optional leading day count: ` + "`90s`, `10m`, `1h30m`, `7d`, `1d12h`" + `.

Examples of complete plans: [plans/examples](../plans/examples).

`)
	for _, s := range sections {
		fmt.Fprintf(&b, "- [%s](#%s)\n", s.Title, anchor(s.Title))
		for _, p := range s.Props {
			fmt.Fprintf(&b, "  - [`%s`](#%s)\n", p.Path, p.Anchor)
		}
	}
	for _, s := range sections {
		fmt.Fprintf(&b, "\n## %s\n\n%s\n", s.Title, s.Intro)
		for _, p := range s.Props {
			fmt.Fprintf(&b, "\n### `%s`\n\n", p.Path)
			fmt.Fprintf(&b, "| type | default | required |\n|---|---|---|\n| %s | %s | %s |\n\n",
				p.Type, orDash(p.Default), p.Required)
			b.WriteString(p.Description + "\n")
			if len(p.Constraints) > 0 {
				fmt.Fprintf(&b, "\nSchema: %s.\n", strings.Join(p.Constraints, "; "))
			}
			if len(p.Examples) == 1 {
				b.WriteString("\nExample:\n")
			} else {
				b.WriteString("\nExamples:\n")
			}
			for _, ex := range p.Examples {
				fmt.Fprintf(&b, "\n```yaml\n%s```\n", ex)
			}
		}
	}
	return b.Bytes()
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
