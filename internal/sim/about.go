package sim

import "github.com/vmware/govmomi/vim25/types"

// vCenterAbout is what the simulator says of itself: a vCenter recent
// enough to offer InstantClone_Task (API 6.7 or later), which it serves,
// rather than vcsim's vCenter 6.5, which has none. Clients (and doctor)
// decide from about.apiVersion whether instant clones are there.
func vCenterAbout(a types.AboutInfo) types.AboutInfo {
	a.FullName = "VMware vCenter Server 8.0.3 build-24022515"
	a.Version = "8.0.3"
	a.Build = "24022515"
	a.ApiVersion = "8.0.3.0"
	a.LicenseProductVersion = "8.0"
	return a
}
