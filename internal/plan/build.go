package plan

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/iclone-plan/iclone-plan/internal/macgen"
	"gopkg.in/yaml.v3"
)

// compiled is a group ready to render: its templates with the nodes they came
// from, for positions.
type compiled struct {
	g        *Group
	nameNode *yaml.Node // nil for DefaultCloneName
	// renderable: the group's name and cloneName are valid, so its clones
	// can be rendered and checked.
	renderable bool
	nics       []compiledNIC
	serial     []compiledSerial
	kvs        []compiledKV
}

type compiledNIC struct {
	spec NICSpec
	node *yaml.Node
}

type compiledSerial struct {
	spec SerialSpec
	node *yaml.Node
}

type compiledKV struct {
	key  string // full extraConfig key
	t    *Template
	node *yaml.Node
}

// merge applies defaults to g: every key g does not set is taken from defs;
// guestinfo and extraConfig merge entry by entry, the group's entries winning.
func merge(g, defs *rawGroup) {
	take := func(f *opt[string], def opt[string]) {
		if !f.set {
			*f = def
		}
	}
	take(&g.source, defs.source)
	take(&g.cloneName, defs.cloneName)
	take(&g.folder, defs.folder)
	take(&g.pool, defs.pool)
	if !g.count.set {
		g.count = defs.count
	}
	if !g.maxAge.set {
		g.maxAge = defs.maxAge
	}
	if !g.nics.set {
		g.nics = defs.nics
	}
	if !g.serial.set {
		g.serial = defs.serial
	}
	mergeKV := func(f *opt[[]rawKV], def opt[[]rawKV]) {
		if !def.set {
			return
		}
		if !f.set {
			*f = def
			return
		}
		var out []rawKV
		for _, kv := range def.v {
			if !hasKey(f.v, kv.key) {
				out = append(out, kv)
			}
		}
		f.v = append(out, f.v...)
	}
	mergeKV(&g.guestinfo, defs.guestinfo)
	mergeKV(&g.extraConfig, defs.extraConfig)
	if !g.ready.set {
		g.ready = defs.ready
	}
	if !g.connectAfterReady.set {
		g.connectAfterReady = defs.connectAfterReady
	}
}

func hasKey(kvs []rawKV, key string) bool {
	for _, kv := range kvs {
		if kv.key == key {
			return true
		}
	}
	return false
}

// build applies defaults, checks every group, renders the clones and assigns
// auto MACs. A group is rendered whenever its clone names can be, even when
// other parts of it or of the file are wrong, so that validate reports
// rendering problems together with the structural ones; a field that failed
// to compile is left out of rendering, so that one mistake is reported once
// rather than once per clone.
func (d *decoder) build(p *Plan, defs *rawGroup, raws []*rawGroup, groupsNode *yaml.Node) {
	var cs []*compiled
	names := map[string]*yaml.Node{}
	total, rendered := 0, 0
	for _, r := range raws {
		if r.n.Kind != yaml.MappingNode {
			continue
		}
		merge(r, defs)
		c := d.compile(p, r)
		if c.g.Name != "" {
			if first, dup := names[c.g.Name]; dup {
				d.errorf(r.name.n, "group name %q is used twice (first at line %d); give every group its own name", c.g.Name, first.Line)
				c.renderable = false // its names would all collide with the first's
			} else {
				names[c.g.Name] = r.name.n
			}
		}
		p.Groups = append(p.Groups, c.g)
		total += c.g.Count
		rendered += c.g.Count * (1 + len(c.nics) + len(c.serial) + len(c.kvs))
		// Mistakes elsewhere in the group or the file do not hide what
		// rendering finds: every problem is reported in one run.
		if c.renderable {
			cs = append(cs, c)
		}
	}
	if total > MaxClones {
		d.errorf(groupsNode, "the plan has %d clones, more than %d (beyond what one vCenter holds); split it into several plans", total, MaxClones)
		return
	}
	if rendered > MaxRendered {
		d.errorf(groupsNode, "the plan renders %d values (names, MACs, serial files, extraConfig entries), more than %d; split it into several plans", rendered, MaxRendered)
		return
	}
	d.render(p, cs)
}

// compile checks one merged group and compiles its templates, field by
// field: identity, inventory paths, cloneName, NICs, serial ports, the ready
// block, then guestinfo and extraConfig.
func (d *decoder) compile(p *Plan, r *rawGroup) *compiled {
	c := &compiled{g: &Group{Pos: d.pos(r.n), Count: r.count.v, MaxAge: r.maxAge.v}}
	label := d.compileName(c.g, r)
	d.compilePaths(p, c.g, r, label)
	d.compileCloneName(c, r, label)
	d.compileNICs(c, r)
	d.compileSerial(c, r)
	d.compileReady(c.g, r, label)
	d.compileConfig(c, r)
	return c
}

// compileName checks the group's name and returns how messages call the
// group: "group NAME", or "group" while it has no valid name.
func (d *decoder) compileName(g *Group, r *rawGroup) string {
	if !r.name.set {
		d.errorf(r.n, "a group needs name:, e.g. name: web")
	} else if kindOK(r.name.n) {
		if !nameRE.MatchString(r.name.v) {
			d.errorf(r.name.n, "group name %q is invalid; use 1 to 32 lowercase letters, digits and dashes, starting with a letter or digit", r.name.v)
		} else {
			g.Name = r.name.v
		}
	}
	if g.Name == "" {
		return "group"
	}
	return "group " + g.Name
}

// compilePaths checks source, folder and resourcePool, and that the group
// has a source and a count (its own or from defaults).
func (d *decoder) compilePaths(p *Plan, g *Group, r *rawGroup, label string) {
	if !r.source.set && !r.merged {
		d.errorf(r.n, "%s needs source:, the inventory path of a running VM to clone (in the group or in defaults)", label)
	} else if kindOK(r.source.n) {
		d.invPath(r.source.n, r.source.v, "source", p.Datacenter, "vm", 3)
		g.Source = r.source.v
	}
	if r.folder.set && kindOK(r.folder.n) {
		d.invPath(r.folder.n, r.folder.v, "folder", p.Datacenter, "vm", 2)
		g.Folder = r.folder.v
	}
	if r.pool.set && kindOK(r.pool.n) {
		d.invPath(r.pool.n, r.pool.v, "resourcePool", p.Datacenter, "host", 3)
		g.ResourcePool = r.pool.v
	}
	if !r.count.set && !r.merged {
		d.errorf(r.n, "%s needs count:, the number of clones (0..%d)", label, MaxCount)
	}
}

// compileCloneName compiles cloneName (or DefaultCloneName) and checks that
// a group of several clones gives them different names.
func (d *decoder) compileCloneName(c *compiled, r *rawGroup, label string) {
	tmpl := DefaultCloneName
	if r.cloneName.set {
		tmpl, c.nameNode = r.cloneName.v, r.cloneName.n
	}
	if c.nameNode != nil && !kindOK(c.nameNode) {
		return
	}
	t, ok := d.template(orNode(c.nameNode, r.n), tmpl, "cloneName", inCloneName)
	if !ok {
		return
	}
	c.g.CloneName = t
	if c.g.Count > 1 && !t.Uses("index") {
		d.errorf(orNode(c.nameNode, r.n), "cloneName %q gives all %d clones of %s the same name; include {index}, e.g. %q", tmpl, c.g.Count, label, tmpl+"-{index:02}")
		return
	}
	c.renderable = c.g.Name != ""
}

// compileNICs compiles the NIC entries: mac: auto (or no mac), or a MAC
// template checked octet by octet.
func (d *decoder) compileNICs(c *compiled, r *rawGroup) {
	for _, n := range r.nics.v {
		if n.adapter == 0 || n.dup {
			continue // reported: no valid adapter, or a second entry for one
		}
		spec := NICSpec{Adapter: n.adapter, Network: n.network}
		node := n.n
		switch {
		case n.macNode == nil || n.mac == "auto":
			spec.Auto = true
		case !kindOK(n.macNode):
			continue
		default:
			node = n.macNode
			if prob := macgen.CheckTemplate(n.mac); prob != nil {
				d.errs.Add(d.posIn(n.macNode, prob.Offset), "mac: "+prob.Msg)
				continue
			}
			t, ok := d.template(n.macNode, n.mac, "mac", inClone)
			if !ok {
				continue
			}
			spec.MAC = t
		}
		c.g.NICs = append(c.g.NICs, spec)
		c.nics = append(c.nics, compiledNIC{spec, node})
	}
}

// compileSerial compiles the serial files, which must be datastore paths.
func (d *decoder) compileSerial(c *compiled, r *rawGroup) {
	for _, s := range r.serial.v {
		if s.port == 0 || s.dup || s.fileNode == nil || !kindOK(s.fileNode) {
			continue
		}
		t, ok := d.template(s.fileNode, s.file, "serial file", inClone)
		if !ok {
			continue
		}
		if !strings.HasPrefix(s.file, "[") {
			d.errorf(s.fileNode, `serial file %q is not in "[datastore] path" form; write e.g. "[datastore1] serial/{name}.log"`, s.file)
			continue
		}
		spec := SerialSpec{Port: s.port, File: t}
		c.g.Serial = append(c.g.Serial, spec)
		c.serial = append(c.serial, compiledSerial{spec, s.fileNode})
	}
}

// compileReady fills the ready block from its defaults and what the plan
// sets, and checks connectAfterReady, which needs it.
func (d *decoder) compileReady(g *Group, r *rawGroup, label string) {
	if rr := r.ready.v; r.ready.set && rr != nil {
		g.Ready = d.readySpec(r.ready.n, rr, label)
	}
	if r.connectAfterReady.set && r.connectAfterReady.v {
		if g.Ready == nil {
			d.errorf(r.connectAfterReady.n, "connectAfterReady needs a ready block in %s: without one the NICs would never be connected; add ready: true", label)
		}
		g.ConnectAfterReady = true
	}
}

// readySpec compiles the ready block rr, written at n.
func (d *decoder) readySpec(n *yaml.Node, rr *rawReady, label string) *ReadySpec {
	spec := &ReadySpec{Tools: true, Key: DefaultReadyKey, Timeout: DefaultReadyTimeout}
	if rr.tools.set {
		spec.Tools = rr.tools.v
	}
	if rr.timeout.set {
		spec.Timeout = rr.timeout.v
	}
	value, valueNode := "{name}", n
	if rr.key.set && kindOK(rr.key.n) {
		key := strings.TrimPrefix(rr.key.v, "guestinfo.")
		if key != "" && !configKeyRE.MatchString(key) {
			d.errorf(rr.key.n, "ready.key %q is invalid; use up to 128 letters, digits and _ . : - (the guestinfo key the guest sets when it is customized)", rr.key.v)
		}
		spec.Key = key
	}
	if rr.value.set && kindOK(rr.value.n) {
		value, valueNode = rr.value.v, rr.value.n
	}
	if t, ok := d.template(valueNode, value, "ready.value", inClone); ok {
		spec.Value = t
	}
	if !spec.Tools && spec.Key == "" {
		d.errorf(n, "the ready block of %s waits for nothing; set tools: true or a key", label)
	}
	return spec
}

// compileConfig compiles the guestinfo entries (as extraConfig
// guestinfo.KEY) and the extraConfig entries, which share one key space.
func (d *decoder) compileConfig(c *compiled, r *rawGroup) {
	seen := map[string]*yaml.Node{}
	for _, kv := range r.guestinfo.v {
		if strings.HasPrefix(strings.ToLower(kv.key), "guestinfo.") {
			d.errorf(kv.keyNode, "guestinfo key %q repeats the prefix; write it without guestinfo. (it is added)", kv.key)
			continue
		}
		d.configEntry(c, seen, "guestinfo."+kv.key, kv, "guestinfo key")
	}
	for _, kv := range r.extraConfig.v {
		d.configEntry(c, seen, kv.key, kv, "extraConfig key")
	}
}

func (d *decoder) configEntry(c *compiled, seen map[string]*yaml.Node, key string, kv rawKV, what string) {
	lower := strings.ToLower(key)
	switch {
	case !configKeyRE.MatchString(kv.key):
		d.errorf(kv.keyNode, "%s %q is invalid; use up to 128 letters, digits and _ . : -", what, kv.key)
		return
	case strings.HasPrefix(lower, "iclone."):
		d.errorf(kv.keyNode, "extraConfig key %q is reserved: iclone.* keys are the ownership markers iclone-plan sets itself; choose another key", kv.key)
		return
	}
	if first, dup := seen[lower]; dup {
		d.errorf(kv.keyNode, "%s %q is also set at line %d (extraConfig keys ignore case, and guestinfo: x is extraConfig guestinfo.x); keep one", what, kv.key, first.Line)
		return
	}
	seen[lower] = kv.keyNode
	t, ok := d.template(kv.valNode, kv.value, key, inConfig)
	if !ok {
		return
	}
	for _, a := range t.Adapters() {
		if !slices.ContainsFunc(c.nics, func(n compiledNIC) bool { return n.spec.Adapter == a }) {
			d.errorf(kv.valNode, "%s %q uses {mac:%d}, but the group sets no MAC for network adapter %d: only adapters under nics: have a MAC the plan knows; add adapter %d there (mac: auto, or a template)", what, kv.key, a, a, a)
			return
		}
	}
	c.kvs = append(c.kvs, compiledKV{key, t, kv.valNode})
}

// kindOK reports whether n held a value of the right kind (a string): fields
// whose value had the wrong type were reported already.
func kindOK(n *yaml.Node) bool {
	return n != nil && n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!str" || n.ShortTag() == "!!timestamp")
}

func orNode(n, def *yaml.Node) *yaml.Node {
	if n != nil {
		return n
	}
	return def
}

// invPath checks an inventory path. Absolute paths are /DC/vm/... for VMs and
// folders and /DC/host/... for resource pools, in the plan's datacenter when
// it names one; relative paths are resolved by the vSphere package against
// the datacenter (as govc does).
func (d *decoder) invPath(n *yaml.Node, s, what, dc, kind string, minSegs int) {
	example := "/" + orStr(dc, "DC") + "/" + kind + "/..."
	switch {
	case strings.TrimSpace(s) == "":
		d.errorf(n, "%s is empty; write an inventory path such as %s", what, example)
		return
	case s != "/" && strings.HasSuffix(s, "/"), strings.Contains(s, "//"), strings.IndexFunc(s, unicode.IsControl) >= 0:
		d.errorf(n, "%s %q is not an inventory path; write e.g. %s without empty segments or trailing /", what, s, example)
		return
	case !strings.HasPrefix(s, "/") && what == "folder":
		// A folder is created if missing: a path meant to be absolute
		// would silently create a folder tree under the VM folder.
		want := "/" + orStr(dc, "DC") + "/vm/" + s
		if segs := strings.Split(s, "/"); len(segs) > 1 && segs[1] == "vm" {
			want = "/" + s
		}
		d.errorf(n, "folder %q lacks the leading /; write the folder's full inventory path, e.g. %s", s, want)
		return
	case !strings.HasPrefix(s, "/"):
		return
	}
	segs := strings.Split(s[1:], "/")
	if dc != "" && segs[0] != dc {
		d.errorf(n, "%s %q is outside datacenter %s; start it with /%s/%s/", what, s, dc, dc, kind)
		return
	}
	if len(segs) < 2 || segs[1] != kind || len(segs) < minSegs {
		d.errorf(n, "%s %q is not under a datacenter's %s folder; write e.g. %s", what, s, kind, example)
	}
}

func orStr(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// problem collects one kind of rendering problem of one template in one
// group: the first is reported, the rest counted, so a bad template yields
// one error rather than one per clone.
type problem struct {
	pos   Position
	msg   string
	more  int
	group string
}

func (pr *problem) add(pos Position, msg string) {
	if pr.msg == "" {
		pr.pos, pr.msg = pos, msg
	} else {
		pr.more++
	}
}

type problems struct {
	d     *decoder
	group string
	m     map[string]*problem
	order []string
}

func (ps *problems) add(kind string, pos Position, format string, args ...any) {
	pr := ps.m[kind]
	if pr == nil {
		pr = &problem{group: ps.group}
		ps.m[kind] = pr
		ps.order = append(ps.order, kind)
	}
	if pr.msg != "" {
		pr.more++ // do not format messages that are only counted
		return
	}
	pr.add(pos, fmt.Sprintf(format, args...))
}

// has reports whether a problem of kind was found already.
func (ps *problems) has(kind string) bool { return ps.m[kind] != nil }

func (ps *problems) flush() {
	for _, k := range ps.order {
		pr := ps.m[k]
		msg := pr.msg
		if pr.more > 0 {
			msg += fmt.Sprintf(" (and %d more clones of group %s)", pr.more, pr.group)
		}
		ps.d.errs.Add(pr.pos, msg)
	}
}

type owner struct {
	name    string
	adapter int
	line    int
}

func (o owner) String() string {
	if o.adapter > 0 {
		return fmt.Sprintf("%s adapter %d (line %d)", o.name, o.adapter, o.line)
	}
	return fmt.Sprintf("%s (line %d)", o.name, o.line)
}

// render renders every clone of the compiled groups and checks what only
// rendering shows: names, MACs and serial files, and their uniqueness across
// the plan. Auto MACs are assigned last, around every explicit MAC.
func (d *decoder) render(p *Plan, cs []*compiled) {
	r := &renderer{d: d, p: p, names: map[string]owner{}, macs: map[macgen.MAC]owner{}, taken: macgen.Set{}, files: map[string]owner{}}
	for _, c := range cs {
		r.group(c)
	}
	r.assignAutoMACs()
}

// renderer holds what rendering checks across the whole plan: every name,
// MAC and serial file rendered so far with its owner, and the work left for
// once every explicit MAC is known.
type renderer struct {
	d     *decoder
	p     *Plan
	names map[string]owner
	macs  map[macgen.MAC]owner
	taken macgen.Set
	files map[string]owner
	// autoKeys and autoRefs are the NICs with mac: auto, in the same order.
	autoKeys []macgen.Key
	autoRefs []autoRef
	// withMACs render the extraConfig values that use {mac:N}.
	withMACs []func()
}

// autoRef is a NIC of a clone that gets an auto MAC.
type autoRef struct {
	clone *Clone
	nic   int
}

// group renders every clone of c, reporting each kind of problem once for
// the group.
func (r *renderer) group(c *compiled) {
	g := c.g
	ps := &problems{d: r.d, group: g.Name, m: map[string]*problem{}}
	g.Clones = make([]Clone, g.Count)
	for i := 1; i <= g.Count; i++ {
		cl := &g.Clones[i-1]
		v := r.cloneName(c, ps, i)
		*cl = Clone{Group: g.Name, Index: i, Name: v.Name, Folder: g.Folder, Source: g.Source, ResourcePool: g.ResourcePool}
		r.nics(c, ps, cl, v)
		r.serial(c, ps, cl, v)
		r.config(c, ps, cl, v)
		r.ready(g, cl, v)
	}
	ps.flush()
}

// namePos is where messages about a group's rendered names point: its
// cloneName, or the group when the name is the default.
func (r *renderer) namePos(c *compiled) Position {
	if c.nameNode != nil {
		return r.d.pos(c.nameNode)
	}
	return c.g.Pos
}

// cloneName renders the name of clone i of c, checks it and that no other
// clone of the plan has it, and returns the template variables of the clone.
func (r *renderer) cloneName(c *compiled, ps *problems, i int) Vars {
	g, namePos := c.g, r.namePos(c)
	v := Vars{Plan: r.p.Name, Group: g.Name, Index: i}
	name := g.CloneName.Render(v)
	v.Name = name
	if why := badCloneName(name); why != "" {
		ps.add("name", namePos, "cloneName renders %q for index %d, which %s", name, i, why)
	}
	if prev, dup := r.names[name]; dup {
		ps.add("dupname", namePos, "clone name %q of group %s (index %d) is also rendered for %s; make the groups' cloneName templates differ, e.g. with {group}", name, g.Name, i, prev)
	} else {
		r.names[name] = owner{name: "group " + g.Name + " index " + fmt.Sprint(i), line: namePos.Line}
	}
	return v
}

// nics renders the clone's NICs: explicit MACs now, checked and unique in
// the plan; auto MACs are queued for assignAutoMACs.
func (r *renderer) nics(c *compiled, ps *problems, cl *Clone, v Vars) {
	if len(c.nics) > 0 {
		cl.NICs = make([]NIC, len(c.nics))
	}
	for j, n := range c.nics {
		cl.NICs[j] = NIC{Adapter: n.spec.Adapter, Network: n.spec.Network}
		if n.spec.Auto {
			r.autoKeys = append(r.autoKeys, macgen.Key{Plan: r.p.Name, Group: cl.Group, Index: cl.Index, Adapter: n.spec.Adapter})
			r.autoRefs = append(r.autoRefs, autoRef{cl, j})
			continue
		}
		if m, ok := r.mac(n, ps, cl, v); ok {
			cl.NICs[j].MAC = m.String()
		}
	}
}

// mac renders the explicit MAC of NIC n of the clone and checks it.
func (r *renderer) mac(n compiledNIC, ps *problems, cl *Clone, v Vars) (macgen.MAC, bool) {
	kind := fmt.Sprint("mac", n.spec.Adapter)
	pos := r.d.pos(n.node)
	s := n.spec.MAC.Render(v)
	m, err := macgen.ParseMAC(s)
	if err != nil {
		ps.add(kind, pos, "clone %s (index %d) adapter %d: mac renders %q, which is not a MAC address; keep every octet two hex digits: an {index:02x} octet holds indexes up to 255, so lower count or spread {index} over two octets: {index/256:02x}:{index%%256:02x}", cl.Name, cl.Index, n.spec.Adapter, s)
		return m, false
	}
	if err := macgen.Check(m, r.p.AllowLocalMACs); err != nil {
		ps.add(kind, pos, "clone %s (index %d) adapter %d: %v", cl.Name, cl.Index, n.spec.Adapter, err)
		return m, false
	}
	if prev, dup := r.macs[m]; dup {
		ps.add(kind+"dup", pos, "clone %s adapter %d: MAC %s is also the MAC of %s; every MAC in a plan must be unique, so make the mac templates differ", cl.Name, n.spec.Adapter, m, prev)
		return m, false
	}
	r.macs[m] = owner{name: cl.Name, adapter: n.spec.Adapter, line: pos.Line}
	r.taken[m] = cl.Name
	return m, true
}

// serial renders the clone's serial files, each a datastore path that no
// other serial port of the plan uses.
func (r *renderer) serial(c *compiled, ps *problems, cl *Clone, v Vars) {
	if len(c.serial) > 0 {
		cl.Serial = make([]SerialPort, len(c.serial))
	}
	for j, s := range c.serial {
		kind := fmt.Sprint("serial", s.spec.Port)
		pos := r.d.pos(s.node)
		f := s.spec.File.Render(v)
		if _, _, err := macgen.ParseDatastorePath(f); err != nil {
			ps.add(kind, pos, "clone %s (index %d) serial port %d: %v", cl.Name, cl.Index, s.spec.Port, err)
			continue
		}
		if prev, dup := r.files[f]; dup {
			ps.add(kind+"dup", pos, "clone %s serial port %d: file %q is also the serial file of %s; two VMs cannot share a serial file, so include {name} or {index} in the file template", cl.Name, s.spec.Port, f, prev)
			continue
		}
		r.files[f] = owner{name: cl.Name + " serial port " + fmt.Sprint(s.spec.Port), line: pos.Line}
		cl.Serial[j] = SerialPort{Port: s.spec.Port, File: f}
	}
}

// config renders the clone's guestinfo and extraConfig values and checks
// the addresses they hold; those with {mac:N} are rendered again once every
// MAC is known (auto MACs last).
func (r *renderer) config(c *compiled, ps *problems, cl *Clone, v Vars) {
	if len(c.kvs) == 0 {
		return
	}
	cl.ExtraConfig = make(map[string]string, len(c.kvs))
	for _, kv := range c.kvs {
		s, problem := kv.t.render(v)
		r.checkAddresses(kv, ps, cl, v, s, problem)
		if !kv.t.Uses("mac") {
			cl.ExtraConfig[kv.key] = s
			continue
		}
		r.withMACs = append(r.withMACs, func() {
			v := v
			v.MACs = make(map[int]string, len(cl.NICs))
			for _, n := range cl.NICs {
				v.MACs[n.Adapter] = n.MAC
			}
			cl.ExtraConfig[kv.key] = kv.t.Render(v)
		})
	}
}

// checkAddresses reports a value s of kv, rendered for the clone, whose
// {ip:...} address left its subnet (problem), or that counts an IPv4 address
// with the index past an octet: "10.10.1.{index+10}" renders 10.10.1.256
// for index 246.
func (r *renderer) checkAddresses(kv compiledKV, ps *problems, cl *Clone, v Vars, s, problem string) {
	if !kv.t.Uses("index") {
		return
	}
	kind := "ip " + kv.key
	if problem != "" {
		ps.add(kind, r.d.pos(kv.node), "clone %s (index %d): %s: %s", cl.Name, cl.Index, kv.key, problem)
		return
	}
	quad, octet, bad := badIPv4(s)
	if !bad {
		return
	}
	if ps.has(kind) {
		ps.add(kind, Position{}, "") // counted only
		return
	}
	hint := "write the address as {ip:BASE+index}, e.g. {ip:10.10.1.10+index}, which carries into the next octet, or lower count"
	if sug := ipSuggestion(kv.t, v); sug != "" {
		hint = fmt.Sprintf("write %s, which carries into the next octet, or lower count", sug)
	}
	ps.add(kind, r.d.pos(kv.node), "clone %s (index %d): %s renders %s, which is not an IPv4 address (%d is past 255); %s", cl.Name, cl.Index, kv.key, quad, octet, hint)
}

// ready renders the clone's readiness condition. A clone that waits for a
// ready key learns its name in extraConfig, which its guest answers with.
func (r *renderer) ready(g *Group, cl *Clone, v Vars) {
	rs := g.Ready
	if rs == nil {
		return
	}
	cl.Ready = &CloneReady{Tools: rs.Tools, Timeout: rs.Timeout}
	if rs.Key != "" && rs.Value != nil {
		cl.Ready.Key, cl.Ready.Value = "guestinfo."+rs.Key, rs.Value.Render(v)
		if cl.ExtraConfig == nil {
			cl.ExtraConfig = map[string]string{}
		}
		cl.ExtraConfig[NameKey] = cl.Name
	}
	cl.ConnectAfterReady = g.ConnectAfterReady
}

// assignAutoMACs gives every mac: auto NIC its MAC, around the explicit
// ones, then renders the values that use {mac:N}.
func (r *renderer) assignAutoMACs() {
	auto, err := macgen.Auto(r.autoKeys, r.taken)
	if err != nil {
		r.d.errs.Add(Position{r.d.file, 1, 1}, err.Error()+"; use fewer auto MACs")
		return
	}
	for k, ref := range r.autoRefs {
		ref.clone.NICs[ref.nic].MAC = auto[k].String()
	}
	for _, render := range r.withMACs {
		render()
	}
}

// badCloneName says what is wrong with a rendered clone name, or "".
func badCloneName(name string) string {
	switch {
	case name == "":
		return "is empty; put literal text or placeholders in cloneName"
	case utf8.RuneCountInString(name) > MaxNameLen:
		return fmt.Sprintf("is longer than %d characters, the most vSphere allows; shorten cloneName", MaxNameLen)
	case strings.ContainsAny(name, `/\%`):
		return `contains / \ or % (vSphere escapes them in VM names); remove them from cloneName`
	case strings.TrimSpace(name) != name:
		return "starts or ends with a blank; remove it from cloneName"
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return "contains a control character; remove it from cloneName"
	case !utf8.ValidString(name):
		return "is not valid UTF-8"
	}
	return ""
}
