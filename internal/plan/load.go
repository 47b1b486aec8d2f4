package plan

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

var (
	topKeys       = []string{"version", "name", "datacenter", "allowLocalMACs", "defaults", "execution", "groups"}
	groupKeys     = []string{"name", "source", "count", "cloneName", "folder", "resourcePool", "maxAge", "nics", "serial", "guestinfo", "extraConfig", "ready", "connectAfterReady"}
	readyKeys     = []string{"tools", "key", "value", "timeout"}
	defaultsKeys  = groupKeys[1:]
	executionKeys = []string{"parallelism", "perHost", "perSource", "rate", "retries", "taskTimeout", "onFailure", "maxFailures"}
	nicKeys       = []string{"adapter", "mac", "network"}
	serialKeys    = []string{"port", "file"}

	nameRE      = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
	configKeyRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$`)
	rateRE      = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)/([sm])$`)
)

// opt is an optional value of a group with the node it came from.
type opt[T any] struct {
	v   T
	n   *yaml.Node
	set bool
}

type rawNIC struct {
	n       *yaml.Node
	adapter int
	mac     string
	macNode *yaml.Node // nil: mac omitted, which means auto
	network string
	dup     bool // a second entry for its adapter, reported
}

type rawSerial struct {
	n        *yaml.Node
	port     int
	file     string
	fileNode *yaml.Node
	dup      bool // a second entry for its port, reported
}

type rawKV struct {
	key     string
	keyNode *yaml.Node
	value   string
	valNode *yaml.Node
}

// rawReady is a ready block as written.
type rawReady struct {
	tools      opt[bool]
	key, value opt[string]
	timeout    opt[time.Duration]
}

type rawGroup struct {
	n                                     *yaml.Node
	name, source, cloneName, folder, pool opt[string]
	count                                 opt[int]
	maxAge                                opt[time.Duration]
	nics                                  opt[[]rawNIC]
	serial                                opt[[]rawSerial]
	guestinfo, extraConfig                opt[[]rawKV]
	ready                                 opt[*rawReady]
	connectAfterReady                     opt[bool]
	merged                                bool // had a << key: missing keys are a consequence
}

func (d *decoder) plan(root *yaml.Node) *Plan {
	p := &Plan{File: d.file, Execution: DefaultExecution}
	var version, name, groups, groupsKey *yaml.Node
	defaults := &rawGroup{}
	ok := d.mapping(root, "the plan", topKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "version":
			version = v
			if n, ok := d.int(v, "version", 1, 1<<30, ""); ok && n != 1 {
				d.errorf(deref(v), "version %d is not supported; this iclone-plan reads version 1 plans", n)
			} else if ok {
				p.Version = n
			}
		case "name":
			name = v
			if s, ok := d.str(v, "name"); ok {
				if !nameRE.MatchString(s) {
					d.errorf(deref(v), "plan name %q is invalid; use 1 to 32 lowercase letters, digits and dashes, starting with a letter or digit", s)
				}
				p.Name = s
			}
		case "datacenter":
			if s, ok := d.str(v, "datacenter"); ok {
				if s == "" || strings.ContainsAny(s, "/\\") || strings.TrimSpace(s) != s {
					d.errorf(deref(v), "datacenter %q is invalid; write the datacenter's name (no slashes), or remove datacenter when the vCenter has one", s)
				} else {
					p.Datacenter = s
				}
			}
		case "allowLocalMACs":
			p.AllowLocalMACs, _ = d.bool(v, "allowLocalMACs")
		case "defaults":
			defaults = d.group(v, true)
		case "execution":
			d.execution(v, &p.Execution)
		case "groups":
			groups, groupsKey = v, k
		}
	})
	if !ok {
		return nil
	}
	root = deref(root)
	if version == nil {
		d.errorf(root, "missing version; start the plan with version: 1")
	}
	if name == nil {
		d.errorf(root, "missing name; add name: followed by the plan's name, e.g. name: lab")
	}
	if groups == nil {
		d.errorf(root, "missing groups; add groups: with one entry per source VM")
		return nil
	}
	gn := deref(groups)
	if gn.Kind != yaml.SequenceNode {
		d.errorf(gn, "groups must be a list of groups, not %s", kindName(gn))
		return nil
	}
	if len(gn.Content) > MaxGroups {
		d.errorf(gn, "%d groups are more than %d; split the plan", len(gn.Content), MaxGroups)
		return nil
	}
	var raws []*rawGroup
	for _, item := range gn.Content {
		raws = append(raws, d.group(item, false))
	}
	d.build(p, defaults, raws, groupsKey)
	return p
}

func (d *decoder) execution(n *yaml.Node, e *Execution) {
	d.mapping(n, "execution", executionKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "parallelism":
			e.Parallelism, _ = d.int(v, "parallelism", 1, 256, "; it counts clone tasks in flight")
		case "perHost":
			e.PerHost, _ = d.int(v, "perHost", 0, 256, "; 0 means no limit per host")
		case "perSource":
			e.PerSource, _ = d.int(v, "perSource", 0, 256, "; 0 means no limit per source")
		case "retries":
			e.Retries, _ = d.int(v, "retries", 0, 10, "")
		case "maxFailures":
			e.MaxFailures, _ = d.int(v, "maxFailures", 0, MaxClones, "")
		case "taskTimeout":
			e.TaskTimeout, _ = d.duration(v, "taskTimeout", 10*time.Second, 24*time.Hour, "")
		case "onFailure":
			if s, ok := d.str(v, "onFailure"); ok {
				if s != OnFailureRollback && s != OnFailureContinue {
					d.errorf(deref(v), "onFailure %q is invalid; use rollback or continue", s)
				}
				e.OnFailure = s
			}
		case "rate":
			s, ok := d.str(v, "rate")
			if !ok {
				return
			}
			m := rateRE.FindStringSubmatch(s)
			if m == nil {
				d.errorf(deref(v), "rate %q is invalid; write a number of task submissions per second or minute, e.g. 2/s or 30/m", s)
				return
			}
			f, _ := strconv.ParseFloat(m[1], 64)
			if m[2] == "m" {
				f /= 60
			}
			if f <= 0 || f > 1000 {
				d.errorf(deref(v), "rate %s is out of range; use more than 0 and at most 1000/s", s)
				return
			}
			e.Rate = Rate{PerSecond: f, Text: s}
		}
	})
}

// group decodes one group, or the defaults block.
func (d *decoder) group(n *yaml.Node, isDefaults bool) *rawGroup {
	g := &rawGroup{n: deref(n)}
	what, keys := "a group", groupKeys
	if isDefaults {
		what, keys = "defaults", defaultsKeys
	}
	strField := func(f *opt[string], v *yaml.Node, key string) {
		f.set, f.n = true, deref(v)
		f.v, _ = d.str(v, key)
	}
	merges := d.merges
	d.mapping(n, what, keys, func(key string, k, v *yaml.Node) {
		switch key {
		case "name":
			strField(&g.name, v, "name")
		case "source":
			strField(&g.source, v, "source")
		case "cloneName":
			strField(&g.cloneName, v, "cloneName")
		case "folder":
			strField(&g.folder, v, "folder")
		case "resourcePool":
			strField(&g.pool, v, "resourcePool")
		case "count":
			g.count.set, g.count.n = true, deref(v)
			g.count.v, _ = d.int(v, "count", 0, MaxCount, "; split the group or lower count")
		case "maxAge":
			g.maxAge.set, g.maxAge.n = true, deref(v)
			g.maxAge.v, _ = d.duration(v, "maxAge", time.Minute, 365*24*time.Hour, "; omit maxAge to keep clones whatever their age")
		case "nics":
			g.nics.set, g.nics.n = true, deref(v)
			g.nics.v = d.nics(v)
		case "serial":
			g.serial.set, g.serial.n = true, deref(v)
			g.serial.v = d.serials(v)
		case "guestinfo":
			g.guestinfo.set, g.guestinfo.n = true, deref(v)
			g.guestinfo.v = d.kvs(v, "guestinfo")
		case "extraConfig":
			g.extraConfig.set, g.extraConfig.n = true, deref(v)
			g.extraConfig.v = d.kvs(v, "extraConfig")
		case "ready":
			g.ready.set, g.ready.n = true, deref(v)
			g.ready.v = d.ready(v)
		case "connectAfterReady":
			g.connectAfterReady.set, g.connectAfterReady.n = true, deref(v)
			g.connectAfterReady.v, _ = d.bool(v, "connectAfterReady")
		}
	})
	g.merged = d.merges > merges
	return g
}

// ready decodes a ready block: true (the defaults), or a mapping.
func (d *decoder) ready(n *yaml.Node) *rawReady {
	r := &rawReady{}
	if v := deref(n); v.Kind == yaml.ScalarNode && v.ShortTag() == "!!bool" {
		if on, _ := d.bool(n, "ready"); !on {
			return nil // ready: false
		}
		return r
	}
	d.mapping(n, "ready", readyKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "tools":
			r.tools.set, r.tools.n = true, deref(v)
			r.tools.v, _ = d.bool(v, "ready.tools")
		case "key":
			r.key.set, r.key.n = true, deref(v)
			r.key.v, _ = d.str(v, "ready.key")
		case "value":
			r.value.set, r.value.n = true, deref(v)
			r.value.v, _ = d.str(v, "ready.value")
		case "timeout":
			r.timeout.set, r.timeout.n = true, deref(v)
			r.timeout.v, _ = d.duration(v, "ready.timeout", time.Second, 24*time.Hour, "")
		}
	})
	return r
}

func (d *decoder) nics(n *yaml.Node) []rawNIC {
	n = deref(n)
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "nics must be a list of NICs, not %s", kindName(n))
		return nil
	}
	if len(n.Content) > MaxNICs {
		d.errorf(n, "%d NICs are more than a VM can have (%d)", len(n.Content), MaxNICs)
		return nil
	}
	var out []rawNIC
	seen := map[int]*yaml.Node{}
	for _, item := range n.Content {
		nic := rawNIC{n: deref(item)}
		var adapter *yaml.Node
		d.mapping(item, "a NIC", nicKeys, func(key string, k, v *yaml.Node) {
			switch key {
			case "adapter":
				adapter = deref(v)
				nic.adapter, _ = d.int(v, "adapter", 1, MaxNICs, `; it is N of "Network adapter N" in the vSphere client`)
			case "mac":
				nic.macNode = deref(v)
				nic.mac, _ = d.str(v, "mac")
			case "network":
				if s, ok := d.str(v, "network"); ok {
					if strings.TrimSpace(s) == "" {
						d.errorf(deref(v), "network is empty; write the port group's name, or remove network to keep the source's")
					}
					nic.network = s
				}
			}
		})
		if nic.n.Kind != yaml.MappingNode {
			continue
		}
		if adapter == nil {
			d.errorf(nic.n, "a NIC needs adapter: N, the number of \"Network adapter N\" in the vSphere client")
		} else if first, dup := seen[nic.adapter]; dup && nic.adapter != 0 {
			d.errorf(adapter, "adapter %d is listed twice (first at line %d); merge the two entries", nic.adapter, first.Line)
			nic.dup = true
		} else {
			seen[nic.adapter] = adapter
		}
		out = append(out, nic)
	}
	return out
}

func (d *decoder) serials(n *yaml.Node) []rawSerial {
	n = deref(n)
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "serial must be a list of serial ports, not %s", kindName(n))
		return nil
	}
	if len(n.Content) > MaxSerialPorts {
		d.errorf(n, "%d serial ports are more than a VM can have (%d)", len(n.Content), MaxSerialPorts)
		return nil
	}
	var out []rawSerial
	seen := map[int]*yaml.Node{}
	for _, item := range n.Content {
		s := rawSerial{n: deref(item)}
		var port *yaml.Node
		d.mapping(item, "a serial port", serialKeys, func(key string, k, v *yaml.Node) {
			switch key {
			case "port":
				port = deref(v)
				s.port, _ = d.int(v, "port", 1, MaxSerialPorts, `; it is N of "Serial port N" in the vSphere client`)
			case "file":
				s.fileNode = deref(v)
				s.file, _ = d.str(v, "file")
			}
		})
		if s.n.Kind != yaml.MappingNode {
			continue
		}
		if port == nil {
			d.errorf(s.n, "a serial port needs port: N, the number of \"Serial port N\" in the vSphere client")
		} else if first, dup := seen[s.port]; dup && s.port != 0 {
			d.errorf(port, "serial port %d is listed twice (first at line %d); merge the two entries", s.port, first.Line)
			s.dup = true
		} else {
			seen[s.port] = port
		}
		if s.fileNode == nil {
			d.errorf(s.n, `a serial port needs file: in "[datastore] path" form, e.g. "[datastore1] serial/{name}.log"`)
		}
		out = append(out, s)
	}
	return out
}

func (d *decoder) kvs(n *yaml.Node, what string) []rawKV {
	var out []rawKV
	d.mapping(n, what, nil, func(key string, k, v *yaml.Node) {
		vn := deref(v)
		switch {
		case vn.Kind == yaml.ScalarNode && vn.ShortTag() == "!!null":
			d.errorf(vn, "%s.%s has no value; write \"\" for an empty value", what, key)
		case vn.Kind == yaml.ScalarNode && contains([]string{"!!str", "!!int", "!!float", "!!bool", "!!timestamp"}, vn.ShortTag()):
			out = append(out, rawKV{key: key, keyNode: k, value: vn.Value, valNode: vn})
		default:
			d.str(vn, what+"."+key)
		}
	})
	if len(out) > MaxExtraConfig {
		d.errorf(deref(n), "%s has %d entries, more than %d", what, len(out), MaxExtraConfig)
		return nil
	}
	return out
}
