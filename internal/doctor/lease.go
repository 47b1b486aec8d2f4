package doctor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/vmware/govmomi/object"

	"github.com/iclone-plan/iclone-plan/internal/cloud"
	"github.com/iclone-plan/iclone-plan/internal/ownership"
	"github.com/iclone-plan/iclone-plan/internal/plan"
	"github.com/iclone-plan/iclone-plan/internal/vsphere"
)

// checkLease: the lease's custom attribute is defined (or the first apply
// may define it: see the privileges), and no run holds the lease now. The
// canaries take the lease for real, which creates and removes its folder.
func (d *doctor) checkLease(ctx context.Context) {
	ch := Check{Name: "lease", Subject: d.dcPath + "/vm/" + vsphere.LeaseFolderPrefix + d.p.Name, Status: OK}
	defined := d.leaseFieldDefined(ctx)
	ch.Facts = map[string]any{"field": vsphere.LeaseField, "fieldDefined": defined}
	if defined {
		ch.Detail = "custom attribute " + vsphere.LeaseField + " defined"
	} else {
		ch.Detail = "custom attribute " + vsphere.LeaseField + " not defined yet: the first apply defines it (Global.ManageCustomFields, see privileges)"
	}
	if ref, err := d.lookup(ctx, ch.Subject); err == nil && ref != nil {
		ch.Status = Warn
		ch.Facts["held"] = true
		ch.Detail += "; the lease folder exists: an apply of this plan is running (or a crashed one left it until it expires)"
		ch.Fix = "wait for that apply to end; apply waits for nothing and exits 5 while it holds the lease"
	} else if d.opts.Canary {
		ch.Detail += "; --canary takes the lease (creates and removes its folder)"
	} else {
		ch.Detail += "; --canary also creates and removes the lease folder"
	}
	d.rep.add(ch)
}

// newRunID is a run id for the canaries, as apply's: UTC time and a random
// tail.
func newRunID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "doctor-" + time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
}

// request is the clone request apply makes for the first clone of group g
// (its NICs, serial files, extraConfig, folder and pool, every NIC started
// disconnected as apply starts a replacement), under name in folder, with
// the ownership markers of a replacement of run: a canary left behind by a
// crash is debris the next apply destroys.
func (d *doctor) request(s *source, g *plan.Group, name, folder, run string) *vsphere.CloneSpec {
	c := &g.Clones[0]
	markers := ownership.Markers{Plan: d.p.Name, Group: c.Group, Index: c.Index, Spec: c.SpecHash(), Run: run,
		Created: time.Now(), Source: s.vm.InstanceUUID, State: ownership.Replacement}
	extra := map[string]string{}
	maps.Copy(extra, c.ExtraConfig)
	maps.Copy(extra, markers.ExtraConfig())
	req := &vsphere.CloneSpec{Source: s.vm.Ref, Name: name, Folder: folder,
		Pool: plan.ResolvePath(d.dcPath, "host", c.ResourcePool), ExtraConfig: extra, Disconnected: true}
	for _, n := range c.NICs {
		req.NICs = append(req.NICs, cloud.NICEdit(n))
	}
	for _, sp := range c.Serial {
		req.Serial = append(req.Serial, cloud.SerialEdit(sp))
	}
	return req
}

// canaryName is the name of a canary of clone name: the name with a
// "~doctor-RUN" tail, within vSphere's name length.
func canaryName(name, run string) string {
	suffix := "~doctor-" + run[len(run)-8:]
	r := []rune(name)
	if limit := plan.MaxNameLen - len([]rune(suffix)); len(r) > limit {
		r = r[:limit]
	}
	return string(r) + suffix
}

// checkSpecs: vCenter's CheckInstantClone_Task with each group's real
// rendered spec (its first clone's), under a canary name, in its folder
// (or the nearest existing parent, if apply would create the folder).
func (d *doctor) checkSpecs(ctx context.Context) {
	run := newRunID()
	for _, s := range d.sources {
		for _, g := range s.groups {
			if g.Count == 0 {
				continue
			}
			subject := "group " + g.Name
			if !s.usable {
				d.rep.add(Check{Name: "CheckInstantClone", Subject: subject, Status: Skipped, Detail: "the source cannot be cloned (above)"})
				continue
			}
			folder, missing := d.nearestFolder(ctx, plan.CloneFolder(d.dcPath, &g.Clones[0]))
			if folder == "" {
				d.rep.add(Check{Name: "CheckInstantClone", Subject: subject, Status: Skipped, Detail: "the group's folder is not under " + d.dcPath + "/vm (above)"})
				continue
			}
			req := d.request(s, g, canaryName(g.Clones[0].Name, run), folder, run)
			findings, err := d.ops.CheckInstantClone(ctx, req)
			ch := Check{Name: "CheckInstantClone", Subject: subject, Status: OK,
				Facts: map[string]any{"source": s.path, "folder": folder, "findings": findings}}
			if len(missing) > 0 {
				ch.Facts["folderNotYetCreated"] = missing
			}
			switch {
			case err == vsphere.ErrNoCheck:
				ch.Status, ch.Detail = Skipped, err.Error()
			case err != nil:
				f := cloud.Classify(err)
				ch.Status, ch.Detail = Fail, fmt.Sprintf("the check itself failed: %v", err)
				ch.Facts["fault"] = f.Name
				ch.Fix = "see the fault; run doctor --canary to try a real clone"
			default:
				ch.Detail = "vCenter accepts the group's rendered spec"
				for _, f := range findings {
					if f.Warning {
						if ch.Status == OK {
							ch.Status, ch.Detail = Warn, ""
						}
						ch.Detail += fmt.Sprintf("warning %s: %s; ", f.Fault, f.Message)
					}
				}
				for _, f := range findings {
					if !f.Warning {
						if ch.Status != Fail {
							ch.Status, ch.Detail = Fail, ""
						}
						ch.Detail += fmt.Sprintf("%s: %s; ", f.Fault, f.Message)
					}
				}
				ch.Detail = strings.TrimSuffix(ch.Detail, "; ")
				switch ch.Status {
				case Fail:
					ch.Fix = "apply would fail the same way: fix the group at " + d.at(g) + " or the source"
				case Warn:
					ch.Fix = "apply goes on; see vCenter's warning"
				}
			}
			d.rep.add(ch)
		}
	}
}

// leaseFolder is the lease folder's object, if it exists.
func (d *doctor) leaseFolder(ctx context.Context) *object.Folder {
	ref, err := d.lookup(ctx, d.dcPath+"/vm/"+vsphere.LeaseFolderPrefix+d.p.Name)
	if err != nil || ref == nil {
		return nil
	}
	return object.NewFolder(d.c.Vim, *ref)
}
