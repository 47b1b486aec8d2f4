// Package plan is the plan model of iclone-plan: loading version-1 plan files
// with positioned errors, validating every rule of docs/plan-reference.md, and
// rendering templates into the desired state of each clone.
//
// Load and Parse do no I/O apart from reading the one file: the result is a
// value the planner compares with the inventory. An invalid plan yields an
// ErrorList with every problem at once, each as "file:line:col: message"
// saying what to do, sorted by position.
//
// # File format (version 1)
//
// The keys are those of docs/plan-reference.md, generated from
// schema/plan.schema.json, which describes each one. Beyond the first
// draft of the format:
//
//   - allowLocalMACs (top level, default false) allows locally administered
//     unicast MACs in mac templates. Auto MACs stay in VMware's manual range.
//   - A NIC entry without mac has mac: auto.
//   - cloneName defaults to "{plan}-{group}-{index:02}".
//   - Templates also divide and take remainders of the index, {index/256}
//     and {index%256}, so that a MAC can spread an index over two octets:
//     "00:50:56:10:{index/256:02x}:{index%256:02x}". Hex formats have an
//     uppercase variant, {index:02X}; {{ and }} are literal braces.
//   - {ip:10.10.1.10+index} in guestinfo and extraConfig values counts an
//     IPv4 address from a base, carrying into the next octet;
//     {ip:10.10.1.10+index/24} bounds it to the base's subnet. A rendered
//     value holding a dotted quad with a number past 255 is an error.
//   - Durations (maxAge, taskTimeout) accept a leading day count: 7d, 1d12h.
//   - In defaults, guestinfo and extraConfig merge entry by entry with the
//     group's (the group wins); every other key is replaced whole.
//   - Merge keys (<<) are rejected; anchors and aliases work.
//
// Rules enforced beyond the design's list: serial files are unique across
// the plan (two VMs cannot share a backing file); extraConfig keys are
// case-insensitive and must not repeat a guestinfo entry; iclone.* keys are
// reserved for the ownership markers; folders are absolute paths (a folder
// is created if missing); absolute inventory paths lie in the
// plan's datacenter, VMs and folders under /DC/vm, resource pools under
// /DC/host; a group with count > 1 must use {index} in cloneName.
//
// # Limits
//
// At most MaxCount clones per group, MaxClones per plan, MaxGroups groups,
// MaxRendered rendered values and MaxFileSize bytes; YAML nesting is bounded
// by yaml.v3 (10000 levels) and aliases are never expanded beyond the fixed
// plan structure, so hostile input fails fast.
package plan
