package sim

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// TestDefaultModel: the zero Options serve vcsim's VPX model with its VMs
// powered on, and vcsim's own VMs can be instant-cloned; extra VMs and
// hosts are added on request.
func TestDefaultModel(t *testing.T) {
	e := start(t, Options{Hosts: 2, VMs: 10})
	vms, err := e.find().VirtualMachineList(e.ctx, "/DC0/vm/*")
	if err != nil {
		t.Fatal(err)
	}
	extra := 0
	for _, vm := range vms {
		p := e.props(vm.Reference(), "name", "runtime.powerState")
		if p.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
			t.Errorf("%s is %s, want poweredOn", p.Name, p.Runtime.PowerState)
		}
		if strings.HasPrefix(p.Name, "extra-") {
			extra++
		}
	}
	if extra != 10 || len(vms) != 10+4 {
		t.Errorf("%d VMs, %d extra; want vcsim's 4 and 10 extra", len(vms), extra)
	}
	hosts, err := e.find().HostSystemList(e.ctx, "/DC0/host/DC0_C0/*")
	if err != nil || len(hosts) != 2 {
		t.Errorf("cluster hosts: %d (%v), want 2", len(hosts), err)
	}
	// A pool of another compute resource (the standalone host) is refused.
	standalone, err := e.find().ResourcePool(e.ctx, "/DC0/host/DC0_H0/Resources")
	if err != nil {
		t.Fatal(err)
	}
	info := e.clone(e.vm("/DC0/vm/DC0_C0_RP0_VM0"), types.VirtualMachineInstantCloneSpec{Name: "elsewhere", Location: types.VirtualMachineRelocateSpec{Pool: ref(standalone)}})
	if _, ok := faultOf(info).(*types.InvalidArgument); !ok {
		t.Errorf("clone into another host's pool: fault %T, want InvalidArgument", faultOf(info))
	}
	cloned := e.mustClone(e.vm("/DC0/vm/DC0_C0_RP0_VM0"), types.VirtualMachineInstantCloneSpec{Name: "vcsim-clone"})
	if c := chain(disks(e.props(cloned))[0]); len(c) != 2 {
		t.Errorf("clone of a vcsim VM: chain %v, want a delta over the base", c)
	}
}

// TestCredentials: only the configured user and password log in, and the
// URL carries them.
func TestCredentials(t *testing.T) {
	e := start(t, Options{Username: "admin", Password: "s3cret!", Listen: "127.0.0.1:0"})
	u := e.sim.URL()
	if u.Scheme != "https" || u.Path != "/sdk" || !strings.HasPrefix(u.Host, "127.0.0.1:") {
		t.Errorf("URL %s, want https://127.0.0.1:PORT/sdk", u.Redacted())
	}
	if p, _ := u.User.Password(); u.User.Username() != "admin" || p != "s3cret!" {
		t.Errorf("URL user %s", u.User)
	}
	bad := *u
	bad.User = url.UserPassword("admin", "wrong")
	sc := soap.NewClient(&bad, true)
	c, err := vim25.NewClient(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	if err := session.NewManager(c).Login(context.Background(), bad.User); err == nil {
		t.Error("login with a wrong password succeeded")
	}
}

// TestStartErrors: Start refuses what it cannot serve.
func TestStartErrors(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"not loopback", Options{Listen: "0.0.0.0:0"}, "not loopback"},
		{"no port", Options{Listen: "127.0.0.1"}, "HOST:PORT"},
		{"negative", Options{HostLimit: -1}, "must not be negative"},
		{"source outside the VM folder", Options{Seed: &Seed{Datacenter: "A", Sources: []SeedSource{{Path: "/B/vm/x"}}}}, `not under the datacenter's VM folder /A/vm`},
		{"adapter 0", Options{Seed: &Seed{Sources: []SeedSource{{Path: "/DC0/vm/x", NICs: []SeedNIC{{Adapter: 0}}}}}}, "numbered from 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Start(context.Background(), tt.opts)
			if err == nil {
				s.Close()
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to mention %q", err, tt.want)
			}
		})
	}
}

// TestSeed: the seeded inventory has what a plan needs.
func TestSeed(t *testing.T) {
	e := start(t, Options{Seed: &Seed{
		Datacenter: "Lab",
		Folders:    []string{"/Lab/vm/a/b"},
		Datastores: []string{"nfs-01"},
		Networks:   []string{"Net-A"},
		Sources: []SeedSource{
			{Path: "/Lab/vm/g/s1", NICs: []SeedNIC{{Adapter: 3, Network: "Net-B"}}, SerialPorts: 2, Datastores: []string{"ds-serial"}},
			{Path: "/Lab/vm/g/s2"},
		},
	}, Hosts: 2})
	e.folder("/Lab/vm/a/b")
	for _, ds := range []string{DefaultDatastore, "nfs-01", "ds-serial"} {
		if _, err := e.find().Datastore(e.ctx, "/Lab/datastore/"+ds); err != nil {
			t.Errorf("datastore %s: %v", ds, err)
		}
	}
	for _, n := range []string{"VM Network", "Net-A", "Net-B"} {
		if _, err := e.find().Network(e.ctx, "/Lab/network/"+n); err != nil {
			t.Errorf("network %s: %v", n, err)
		}
	}
	s1, s2 := e.props(e.vm("/Lab/vm/g/s1").Reference()), e.props(e.vm("/Lab/vm/g/s2").Reference())
	if *s1.Runtime.Host == *s2.Runtime.Host {
		t.Error("sources not spread over the hosts")
	}
	if n := nics(s1); len(n) != 3 || n[0].Key != 4000 || n[2].Key != 4002 || n[0].DeviceInfo.GetDescription().Label != "Network adapter 1" || !n[2].Connectable.Connected {
		t.Errorf("s1 NICs %v, want 3 connected, labelled as the vSphere client does", n)
	}
	if _, ok := nics(s1)[1].Backing.(*types.VirtualEthernetCardNetworkBackingInfo); !ok {
		t.Error("NIC backing is not a standard network")
	}
	serial := 0
	for _, d := range s1.Config.Hardware.Device {
		if p, ok := d.(*types.VirtualSerialPort); ok {
			serial++
			if p.Key != int32(9000+serial-1) || p.DeviceInfo.GetDescription().Label != "Serial port "+strconv.Itoa(serial) {
				t.Errorf("serial port %d: key %d, label %q", serial, p.Key, p.DeviceInfo.GetDescription().Label)
			}
			if b := p.Backing.(*types.VirtualSerialPortFileBackingInfo); !strings.HasPrefix(b.FileName, "[ds-serial] s1/serial") {
				t.Errorf("serial port file %s", b.FileName)
			}
		}
	}
	if serial != 2 || len(disks(s1)) != 1 || len(nics(s2)) != 1 {
		t.Errorf("s1: %d serial ports, %d disks; s2: %d NICs", serial, len(disks(s1)), len(nics(s2)))
	}
}
