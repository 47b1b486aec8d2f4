package sim

import (
	"context"
	"fmt"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// Frozen sources and pre-grown delta chains.
//
// A source frozen from inside the guest (vmware-rpctool
// "instantclone.freeze") reports runtime.instantCloneFrozen. Its clones add
// no level to its delta chain (vSphere gives it a delta that stays empty
// while it is frozen). Its clones' NICs get new generated MACs like those
// of any instant clone, the first clone's included: the identity the SDK
// guide says a frozen source's first clone "assumes" is the guest's
// in-memory network identity (hostname, IP addresses), not the virtual
// NIC's MAC (see docs/guest-customization.md).

// isFrozen reports whether vm is a frozen instant-clone source.
func isFrozen(vm *simulator.VirtualMachine) bool {
	f := vm.Runtime.InstantCloneFrozen
	return f != nil && *f
}

// shapeSource freezes a seeded source and gives its disks a chain of depth
// delta levels, as the seed and options ask.
func (s *Simulator) shapeSource(ctx context.Context, finder *find.Finder, src SeedSource) error {
	frozen := src.Frozen || s.opts.FrozenSources
	depth := max(src.ChainDepth, s.opts.ChainDepth)
	if !frozen && depth == 0 {
		return nil
	}
	if depth > MaxDeltaLevels {
		return fmt.Errorf("sim: seed: source %s: chain depth %d is past the limit of %d delta levels", src.Path, depth, MaxDeltaLevels)
	}
	obj, err := finder.VirtualMachine(ctx, src.Path)
	if err != nil {
		return fmt.Errorf("sim: seed: source %s: %w", src.Path, err)
	}
	base := s.model.Service.Context
	vm := base.Map.Get(obj.Reference()).(*simulator.VirtualMachine)
	if depth > 0 {
		err = s.growChain(base, vm, depth)
	}
	if frozen {
		base.WithLock(vm, func() {
			vm.Runtime.InstantCloneFrozen = types.NewBool(true)
			base.Update(vm, []types.PropertyChange{{Name: "runtime.instantCloneFrozen", Val: true}})
		})
	}
	if err != nil {
		return fmt.Errorf("sim: seed: source %s: growing its delta chain: %w", src.Path, err)
	}
	return nil
}

// growChain gives each flat disk of vm depth delta disks on top of its
// current backing, as depth instant clones of the running VM would have
// (without making the clones).
func (s *Simulator) growChain(ctx *simulator.Context, vm *simulator.VirtualMachine, depth int) error {
	var err error
	ctx.WithLock(vm, func() {
		devices := types.MustDeepCopy(types.ArrayOfVirtualDevice{VirtualDevice: vm.Config.Hardware.Device}).VirtualDevice
		for _, d := range devices {
			disk, ok := d.(*types.VirtualDisk)
			if !ok {
				continue
			}
			cur, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
			if !ok {
				continue
			}
			levels := 0
			for x := cur.Parent; x != nil; x = x.Parent {
				levels++
			}
			for level := levels + 1; level <= levels+depth; level++ {
				name := deltaName(cur.FileName, level)
				if err = s.writeDelta(ctx, cur.FileName, name); err != nil {
					return
				}
				parent := *cur
				next := *cur
				next.FileName, next.Parent, next.ChangeId = name, &parent, ""
				cur = &next
			}
			disk.Backing = cur
		}
		setDevices(ctx, vm, devices)
		vm.RefreshStorageInfo(ctx, nil)
	})
	return err
}
