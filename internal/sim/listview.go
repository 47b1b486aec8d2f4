package sim

import (
	"context"
	"slices"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// listViewNotifyLater is a ListView that tells property filters of a change
// of its view after the call that made it has returned, without the view's
// lock.
//
// vcsim's ModifyListView tells them during the call: it holds the view's
// lock (every call does) and takes each filter's, while WaitForUpdatesEx
// holds a filter's lock and takes the view's to traverse it. A client that
// adds VMs to a view while it waits for updates of a filter over that view
// (the ready waiter does, from two goroutines) could deadlock the two calls
// and with them every later call on the view; a test then hung until go
// test's timeout (the ready waiter's Close destroys the view). dispatch puts
// this wrapper into the session's Registry in place of the view on the
// first ModifyListView or ResetListView, as it does vmWithInstantClone.
type listViewNotifyLater struct {
	*simulator.ListView
	sim      *Simulator
	notifyMu sync.Mutex // one notification at a time, the latest view last
}

// ModifyListView implements ListView.ModifyListView as vcsim does, but for
// when the filters hear of it.
func (w *listViewNotifyLater) ModifyListView(ctx *simulator.Context, req *types.ModifyListView) soap.HasFault {
	body := &methods.ModifyListViewBody{Res: new(types.ModifyListViewResponse)}
	body.Res.Returnval = w.add(ctx, req.Add)
	for _, ref := range req.Remove {
		simulator.RemoveReference(&w.View, ref)
	}
	if len(req.Add) != 0 || len(req.Remove) != 0 {
		w.notifyLater(ctx)
	}
	return body
}

// ResetListView implements ListView.ResetListView as vcsim does, but for
// when the filters hear of it.
func (w *listViewNotifyLater) ResetListView(ctx *simulator.Context, req *types.ResetListView) soap.HasFault {
	body := &methods.ResetListViewBody{Res: new(types.ResetListViewResponse)}
	w.View = nil
	body.Res.Returnval = w.add(ctx, req.Obj)
	w.notifyLater(ctx)
	return body
}

// add appends refs to the view and returns those the session cannot
// resolve (vcsim's ListView.add). The caller holds the view's lock.
func (w *listViewNotifyLater) add(ctx *simulator.Context, refs []types.ManagedObjectReference) []types.ManagedObjectReference {
	var unresolved []types.ManagedObjectReference
	for _, ref := range refs {
		if ctx.Session.Get(ref) == nil {
			unresolved = append(unresolved, ref)
		}
		w.View = append(w.View, ref)
	}
	return unresolved
}

// notifyLater tells the registry's handlers (property collectors and
// filters) that the view changed, once the calling method has returned and
// released the view's lock. It reads the view under that lock and hands
// the handlers a copy, so no handler is called with the lock held.
func (w *listViewNotifyLater) notifyLater(ctx *simulator.Context) {
	bg := *ctx // a locking identity of its own
	bg.Context = context.WithoutCancel(ctx.Context)
	w.sim.background.Go(func() {
		w.notifyMu.Lock()
		defer w.notifyMu.Unlock()
		var view []types.ManagedObjectReference
		bg.WithLock(w.ListView, func() { view = slices.Clone(w.View) })
		snapshot := &simulator.ListView{ListView: mo.ListView{ManagedObjectView: mo.ManagedObjectView{Self: w.Self, View: view}}}
		bg.Update(snapshot, []types.PropertyChange{{Name: "view", Val: view}})
	})
}
