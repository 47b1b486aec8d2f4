package macgen

import (
	"cmp"
	"fmt"
	"slices"
)

// Set maps MACs to a description of their owner, such as
// "lab-web-01 adapter 2". A nil Set is empty and may be read.
type Set map[MAC]string

// Add records m for owner. When m is already present it returns the earlier
// owner and false and leaves the set unchanged.
func (s Set) Add(m MAC, owner string) (prev string, ok bool) {
	if p, dup := s[m]; dup {
		return p, false
	}
	s[m] = owner
	return "", true
}

// Collision is a planned MAC that is already in use in the inventory.
type Collision struct {
	MAC     MAC
	Planned string // the plan's owner, e.g. "lab-web-01 adapter 2"
	Present string // the inventory's owner, e.g. "vm /Lab/vm/other adapter 1"
}

// String describes both owners and what to do.
func (c Collision) String() string {
	return fmt.Sprintf("MAC %s of %s is already used by %s; change that VM's MAC, or give this adapter an explicit mac template that is free", c.MAC, c.Planned, c.Present)
}

// Collisions reports every MAC of planned that is also present in the
// inventory, one Collision per pair of owners (an inventory MAC may already
// have several owners), sorted by MAC, then owners. The caller passes only
// inventory MACs that are not the plan's own: the NICs of VMs carrying this
// plan's iclone.plan marker are replaced or kept by the plan itself.
func Collisions(planned Set, inventory map[MAC][]string) []Collision {
	var out []Collision
	for m, p := range planned {
		for _, h := range inventory[m] {
			out = append(out, Collision{MAC: m, Planned: p, Present: h})
		}
	}
	slices.SortFunc(out, func(a, b Collision) int {
		return cmp.Or(cmp.Compare(a.MAC, b.MAC), cmp.Compare(a.Planned, b.Planned), cmp.Compare(a.Present, b.Present))
	})
	return out
}
