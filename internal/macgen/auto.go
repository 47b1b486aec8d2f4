package macgen

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
)

// Key identifies one auto MAC: adapter Adapter of clone Index (1-based) of
// group Group in plan Plan. It is everything an auto MAC depends on, apart
// from the collisions resolved by Auto.
type Key struct {
	Plan    string
	Group   string
	Index   int
	Adapter int
}

// String returns "plan/group/index/adapter".
func (k Key) String() string {
	return k.Plan + "/" + k.Group + "/" + strconv.Itoa(k.Index) + "/" + strconv.Itoa(k.Adapter)
}

// digest is SHA-256 over a versioned, NUL-separated encoding of the key. It
// never changes: changing it would move every auto MAC of every plan and
// break every DHCP reservation made for them.
func (k Key) digest() [32]byte {
	b := make([]byte, 0, 64)
	b = append(b, "iclone-plan auto MAC v1\x00"...)
	b = append(b, k.Plan...)
	b = append(b, 0)
	b = append(b, k.Group...)
	b = append(b, 0)
	b = strconv.AppendInt(b, int64(k.Index), 10)
	b = append(b, 0)
	b = strconv.AppendInt(b, int64(k.Adapter), 10)
	return sha256.Sum256(b)
}

// splitmix64 is the SplitMix64 finaliser; probe i of a key is
// splitmix64(seed + i*0x9e3779b97f4a7c15).
func splitmix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// maxRandomProbes bounds the per-key pseudo-random probe sequence before Auto
// falls back to a linear scan (which only matters in a nearly full space).
const maxRandomProbes = 64

// Auto assigns a MAC in VMware's manual range to every key and returns them
// in the order of keys. Addresses in taken (the plan's explicit MACs) are
// never handed out, and no two keys get the same address. Duplicate keys get
// the same address. It fails only when the manual range cannot hold them all.
//
// The algorithm (stable: it is part of the plan file format):
//
//  1. d = SHA-256("iclone-plan auto MAC v1" NUL plan NUL group NUL index NUL
//     adapter), index and adapter in decimal. rank = big-endian uint64 of
//     d[0:8]; seed = big-endian uint64 of d[8:16].
//  2. The key's probe sequence is candidate(i) = 00:50:56:00:00:00 +
//     (splitmix64(seed + i·0x9e3779b97f4a7c15) mod 2^22), i = 0, 1, ...,
//     63, then a linear scan upwards (wrapping) from candidate(63).
//  3. Keys are served in ascending (rank, plan, group, index, adapter) order;
//     each takes the first candidate that is neither taken nor already
//     served.
//
// The trade-off: with no state file, the only inputs are the plan and the
// key, so a key's MAC is its first candidate unless an earlier-ranked key or
// an explicit MAC got there first. Ranking by hash rather than by position in
// the file means that reordering groups, renaming other groups, or adding a
// group moves an existing clone's MAC only if one of the new keys ranks
// earlier *and* lands on one of its candidates: with N auto MACs in the plan,
// adding n keys moves about n·N/2^23 existing MACs (0.004 for 30 new keys in
// a 1,000-MAC plan). Per-key probe sequences (double hashing) instead of one
// shared linear probe keep that displacement from cascading into
// neighbouring addresses. Changing an explicit MAC template can displace an
// auto MAC the same way. Renaming the plan or a group changes the keys and
// so every auto MAC of its clones. Where a MAC must never move, write it as a
// template.
func Auto(keys []Key, taken Set) ([]MAC, error) {
	if len(keys)+len(taken) > ManualSize {
		return nil, fmt.Errorf("%d auto MACs do not fit VMware's manual range of %d addresses", len(keys), ManualSize)
	}
	type entry struct {
		i          int
		rank, seed uint64
	}
	es := make([]entry, len(keys))
	for i, k := range keys {
		d := k.digest()
		es[i] = entry{i, binary.BigEndian.Uint64(d[0:8]), binary.BigEndian.Uint64(d[8:16])}
	}
	slices.SortFunc(es, func(a, b entry) int {
		if c := cmp.Compare(a.rank, b.rank); c != 0 {
			return c
		}
		ka, kb := keys[a.i], keys[b.i]
		return cmp.Or(cmp.Compare(ka.Plan, kb.Plan), cmp.Compare(ka.Group, kb.Group),
			cmp.Compare(ka.Index, kb.Index), cmp.Compare(ka.Adapter, kb.Adapter))
	})
	out := make([]MAC, len(keys))
	used := make(map[MAC]struct{}, len(keys))
	free := func(m MAC) bool {
		if _, ok := used[m]; ok {
			return false
		}
		_, ok := taken[m]
		return !ok
	}
	for j, e := range es {
		if j > 0 && es[j-1].rank == e.rank && keys[es[j-1].i] == keys[e.i] {
			out[e.i] = out[es[j-1].i] // the same key twice: the same MAC
			continue
		}
		var m MAC
		for i := uint64(0); ; i++ {
			if i < maxRandomProbes {
				m = ManualFirst + MAC(splitmix64(e.seed+i*0x9e3779b97f4a7c15)&uint64(ManualSize-1))
			} else if m++; m > ManualLast {
				m = ManualFirst
			}
			if free(m) {
				break
			}
		}
		used[m] = struct{}{}
		out[e.i] = m
	}
	return out, nil
}
