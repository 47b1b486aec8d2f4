// Package bridge adapts the vSphere operations (internal/vsphere) to the
// executor's Cloud interface (internal/executor), so neither of those two
// packages depends on the other: the executor stays testable with any Cloud
// and the vSphere package knows nothing of plans.
package bridge

import (
	"context"

	"github.com/iclone-plan/iclone-plan/internal/executor"
	"github.com/iclone-plan/iclone-plan/internal/plan"
	"github.com/iclone-plan/iclone-plan/internal/vsphere"
)

// Cloud implements executor.Cloud with vsphere.Ops.
type Cloud struct{ Ops *vsphere.Ops }

var _ executor.Cloud = Cloud{}

// EnsureFolder implements executor.Cloud.
func (c Cloud) EnsureFolder(ctx context.Context, path string) (bool, error) {
	return c.Ops.EnsureFolder(ctx, path)
}

// RemoveFolder implements executor.Cloud.
func (c Cloud) RemoveFolder(ctx context.Context, path string) error {
	return c.Ops.RemoveFolder(ctx, path)
}

// InstantClone implements executor.Cloud.
func (c Cloud) InstantClone(ctx context.Context, req *executor.CloneRequest, started func(string)) (string, error) {
	spec := &vsphere.CloneSpec{Source: req.Source, Name: req.Name, Folder: req.Folder, Pool: req.Pool,
		ExtraConfig: req.ExtraConfig, Disconnected: req.Disconnected}
	for _, n := range req.NICs {
		spec.NICs = append(spec.NICs, vsphere.NICEdit{Adapter: n.Adapter, MAC: n.MAC, Network: n.Network})
	}
	for _, s := range req.Serial {
		spec.Serial = append(spec.Serial, vsphere.SerialEdit{Port: s.Port, File: s.File})
	}
	return c.Ops.InstantClone(ctx, spec, started)
}

// FindVM implements executor.Cloud.
func (c Cloud) FindVM(ctx context.Context, folder, name string) (string, map[string]string, error) {
	return c.Ops.FindVM(ctx, folder, name)
}

// Destroy implements executor.Cloud.
func (c Cloud) Destroy(ctx context.Context, vm string) error { return c.Ops.Destroy(ctx, vm) }

// Rename implements executor.Cloud.
func (c Cloud) Rename(ctx context.Context, vm, name string) error { return c.Ops.Rename(ctx, vm, name) }

// Reconfigure implements executor.Cloud.
func (c Cloud) Reconfigure(ctx context.Context, vm string, ch *executor.VMChange) error {
	var restore []vsphere.NICState
	for _, n := range ch.Restore {
		restore = append(restore, vsphere.NICState{Key: n.Key, Connected: n.Connected, StartConnected: n.StartConnected})
	}
	return c.Ops.Reconfigure(ctx, vm, ch.Connect, restore, ch.ExtraConfig)
}

// WaitReady implements executor.Cloud.
func (c Cloud) WaitReady(ctx context.Context, vm string, r *plan.CloneReady) error {
	return c.Ops.WaitReady(ctx, vm, vsphere.ReadyCond{Tools: r.Tools, Key: r.Key, Value: r.Value})
}
