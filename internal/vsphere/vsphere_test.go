package vsphere

import (
	"context"
	"crypto/tls"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/iclone-plan/iclone-plan/internal/inventory"
	"github.com/iclone-plan/iclone-plan/internal/sim"
)

// initSimulator starts vcsim's VPX model over real HTTPS and returns it with
// its server; both are torn down when the test ends.
func initSimulator(t testing.TB, configure func(*simulator.Model)) (*simulator.Model, *simulator.Server) {
	t.Helper()
	m := simulator.VPX()
	if configure != nil {
		configure(m)
	}
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	m.Service.TLS = new(tls.Config)
	// Require the vcsim default credentials, so wrong ones are refused.
	m.Service.Listen = &url.URL{User: url.UserPassword("user", "pass")}
	s := m.Service.NewServer()
	t.Cleanup(func() { s.Close(); m.Remove() })
	return m, s
}

// waitTask waits for a vcsim task with c's task poller, as the code under
// test does. Not with govmomi's task.Wait: it watches the task's "info"
// with WaitForUpdatesEx, which in vcsim reads the task's live info without
// its lock when a field of it changes, a race with the task's own next
// update that the race detector reports.
func waitTask(t testing.TB, c *Client, task *object.Task) {
	t.Helper()
	if _, err := c.waitTask(context.Background(), task.Reference(), "test"); err != nil {
		t.Fatal(err)
	}
}

func insecureConfig(s *simulator.Server) Config {
	return Config{URL: s.URL.String(), Insecure: true}
}

func connect(t testing.TB, cfg Config) *Client {
	t.Helper()
	c, err := Connect(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Logout(context.Background()) })
	return c
}

// webLab is a simulator (with opts) seeded with datacenter Lab and one
// running source, /Lab/vm/golden/web with one NIC, and a client of it over
// verified TLS.
type webLab struct {
	sim    *sim.Simulator
	cfg    Config // the client's: URL and the simulator's CA
	client *Client
	ops    *Ops
	src    string // the source's reference value
}

func newWebLab(t *testing.T, opts sim.Options) *webLab {
	t.Helper()
	ctx := context.Background()
	opts.Seed = &sim.Seed{Datacenter: "Lab", Sources: []sim.SeedSource{{Path: "/Lab/vm/golden/web", NICs: []sim.SeedNIC{{Adapter: 1}}}}}
	s, err := sim.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	ca, err := s.CertificateFile()
	if err != nil {
		t.Fatal(err)
	}
	l := &webLab{sim: s, cfg: Config{URL: s.URL().String(), CACerts: ca}}
	l.client = connect(t, l.cfg)
	if l.ops, err = l.client.Ops(ctx, "/Lab"); err != nil {
		t.Fatal(err)
	}
	src, err := find.NewFinder(l.client.Vim).VirtualMachine(ctx, "/Lab/vm/golden/web")
	if err != nil {
		t.Fatal(err)
	}
	l.src = src.Reference().Value
	return l
}

func TestReadInventoryMatchesModel(t *testing.T) {
	m, s := initSimulator(t, nil)
	c := connect(t, insecureConfig(s))
	ctx := context.Background()

	// Mark one VM as a clone of plan "lab" to see the keyed extraConfig read.
	gc, err := govmomi.NewClient(ctx, s.URL, true)
	if err != nil {
		t.Fatal(err)
	}
	simVM := m.Map().Any("VirtualMachine").(*simulator.VirtualMachine)
	vm := object.NewVirtualMachine(gc.Client, simVM.Reference())
	task, err := vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{ExtraConfig: []types.BaseOptionValue{
		&types.OptionValue{Key: inventory.MarkerPlan, Value: "lab"},
		&types.OptionValue{Key: inventory.MarkerIndex, Value: "3"},
		&types.OptionValue{Key: "guestinfo.hostname", Value: "not-a-marker"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	waitTask(t, c, task)

	inv, err := c.ReadInventory(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if inv.Datacenter != "/DC0" {
		t.Errorf("datacenter = %q, want /DC0", inv.Datacenter)
	}
	if got, want := len(inv.VMs), m.Count().Machine; got != want {
		t.Errorf("read %d VMs, the model has %d", got, want)
	}
	if got, want := len(inv.Hosts), m.Count().Host; got != want {
		t.Errorf("read %d hosts, the model has %d", got, want)
	}
	for _, name := range []string{"VM Network", "DC0_DVPG0"} {
		if !inv.Networks[name] {
			t.Errorf("network %q missing from %v", name, inv.Networks)
		}
	}
	if !inv.Datastores["LocalDS_0"] {
		t.Errorf("datastore LocalDS_0 missing from %v", inv.Datastores)
	}
	for _, pool := range []string{"/DC0/host/DC0_C0/Resources", "/DC0/host/DC0_H0/Resources"} {
		if !inv.Pools[pool] {
			t.Errorf("resource pool %s missing from %v", pool, inv.Pools)
		}
	}
	if !inv.Folders["/DC0/vm"] {
		t.Errorf("folder /DC0/vm missing from %v", inv.Folders)
	}

	var marked *inventory.VM
	for i := range inv.VMs {
		v := &inv.VMs[i]
		if v.Ref == simVM.Self.Value {
			marked = v
		}
		if !strings.HasPrefix(v.Path, "/DC0/vm/") || v.Path != v.Folder+"/"+v.Name {
			t.Errorf("VM %s has path %q in folder %q", v.Name, v.Path, v.Folder)
		}
		if v.PowerState != "poweredOn" {
			t.Errorf("VM %s power state %q", v.Name, v.PowerState)
		}
		if _, ok := inv.Hosts[v.HostRef]; !ok {
			t.Errorf("VM %s host %q not among the hosts read", v.Name, v.HostRef)
		}
		if len(v.NICs) == 0 || v.NICs[0].MAC == "" || v.NICs[0].Adapter != 1 || v.NICs[0].Network == "" {
			t.Errorf("VM %s NICs %+v", v.Name, v.NICs)
		}
		if len(v.DiskChainDepth) == 0 || v.DiskChainDepth[0] != 0 {
			t.Errorf("VM %s disk chain depths %v, want [0]", v.Name, v.DiskChainDepth)
		}
	}
	if marked == nil {
		t.Fatalf("VM %s not read", simVM.Name)
	}
	want := map[string]string{inventory.MarkerPlan: "lab", inventory.MarkerIndex: "3"}
	if len(marked.Markers) != len(want) || marked.Markers[inventory.MarkerPlan] != "lab" || marked.Markers[inventory.MarkerIndex] != "3" {
		t.Errorf("markers = %v, want %v (only iclone.* keys)", marked.Markers, want)
	}
	if !marked.Owned("lab") || marked.Owned("other") || marked.Owned("") {
		t.Error("Owned does not follow the plan marker")
	}
}

// The read must take a constant number of round trips whatever the size of
// the inventory.
func TestReadInventoryRoundTripsConstant(t *testing.T) {
	trips := func(vms int) int64 {
		_, s := initSimulator(t, func(m *simulator.Model) { m.Machine = vms })
		c := connect(t, insecureConfig(s))
		before := c.RoundTrips()
		inv, err := c.ReadInventory(context.Background(), "DC0")
		if err != nil {
			t.Fatal(err)
		}
		if len(inv.VMs) < vms {
			t.Fatalf("read %d VMs, want at least %d", len(inv.VMs), vms)
		}
		return c.RoundTrips() - before
	}
	small, large := trips(2), trips(100)
	if small != large || large > 5 {
		t.Errorf("round trips: %d for a small inventory, %d for a large one; want equal and at most 5", small, large)
	}
}

func TestFindDatacenter(t *testing.T) {
	_, s := initSimulator(t, func(m *simulator.Model) { m.Datacenter = 2 })
	c := connect(t, insecureConfig(s))
	ctx := context.Background()
	tests := []struct {
		name, want, err string
	}{
		{name: "DC1", want: "/DC1"},
		{name: "/DC0", want: "/DC0"},
		{name: "", err: "has 2 datacenters (/DC0, /DC1): name one"},
		{name: "Nope", err: `datacenter "Nope" not found on vCenter`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, path, err := c.findDatacenter(ctx, tt.name)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil || path != tt.want {
				t.Fatalf("path %q err %v, want %q", path, err, tt.want)
			}
		})
	}
}

// TLS is verified by default; each way of trusting the simulator's
// self-signed certificate works, and the refusal says how to trust it.
func TestTLSVerification(t *testing.T) {
	_, s := initSimulator(t, nil)
	ctx := context.Background()
	dir := t.TempDir()
	thumb := soap.ThumbprintSHA1(s.Certificate())

	_, err := Connect(ctx, Config{URL: s.URL.String()})
	if err == nil {
		t.Fatal("connected to an untrusted certificate without being told to trust it")
	}
	for _, want := range []string{"does not trust", "GOVC_TLS_CA_CERTS", "GOVC_TLS_KNOWN_HOSTS", s.URL.Host + " " + thumb, "--insecure"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("TLS error does not mention %q:\n%v", want, err)
		}
	}

	caFile, err := s.CertificateFile()
	if err != nil {
		t.Fatal(err)
	}
	known := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(known, []byte(s.URL.Host+" "+thumb+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]Config{
		"ca file":     {URL: s.URL.String(), CACerts: caFile},
		"known hosts": {URL: s.URL.String(), KnownHosts: known},
		"insecure":    {URL: s.URL.String(), Insecure: true},
	} {
		t.Run(name, func(t *testing.T) {
			c := connect(t, cfg)
			if _, err := c.ReadInventory(ctx, ""); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCredentialsNeverInErrors(t *testing.T) {
	_, s := initSimulator(t, nil)
	const secret = "Sup3r-s3cret!pw"
	u := *s.URL
	u.User = url.UserPassword("user", secret)
	ctx := context.Background()
	for name, cfg := range map[string]Config{
		"wrong password in URL": {URL: u.String(), Insecure: true},
		"wrong password in env": {URL: s.URL.Host, Username: "user", Password: secret, Insecure: true},
		"untrusted certificate": {URL: u.String()},
		"unreachable":           {URL: "https://user:" + secret + "@127.0.0.1:1/sdk", Insecure: true},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Connect(ctx, cfg)
			if err == nil {
				t.Fatal("expected an error")
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), url.QueryEscape(secret)) {
				t.Fatalf("password leaked: %v", err)
			}
		})
	}
	_, err := Connect(ctx, Config{URL: s.URL.Host, Username: "user", Password: secret, Insecure: true})
	if err == nil || !strings.Contains(err.Error(), `refused the login for user "user"`) {
		t.Errorf("login error %v does not say the login was refused", err)
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{
		"GOVC_URL": "vc.example.com", "GOVC_USERNAME": "u", "GOVC_PASSWORD": "p", "GOVC_INSECURE": "1",
		"GOVC_TLS_CA_CERTS": "/ca.pem", "GOVC_TLS_KNOWN_HOSTS": "/kh", "GOVC_DATACENTER": "Lab",
	}
	got := ConfigFromEnv(func(k string) string { return env[k] })
	want := Config{URL: "vc.example.com", Username: "u", Password: "p", Insecure: true, CACerts: "/ca.pem", KnownHosts: "/kh", Datacenter: "Lab"}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if _, err := Connect(context.Background(), Config{}); err == nil || !strings.Contains(err.Error(), "GOVC_URL") {
		t.Errorf("empty URL error %v does not name GOVC_URL", err)
	}
}

// A session that vCenter terminates mid-run is re-established and the
// request retried.
func TestReloginAfterSessionExpiry(t *testing.T) {
	_, s := initSimulator(t, nil)
	ctx := context.Background()
	c := connect(t, insecureConfig(s))

	admin, err := govmomi.NewClient(ctx, s.URL, true)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := session.NewManager(c.Vim).UserSession(ctx)
	if err != nil || cur == nil {
		t.Fatalf("current session: %v %v", cur, err)
	}
	if err := admin.SessionManager.TerminateSession(ctx, []string{cur.Key}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadInventory(ctx, ""); err != nil {
		t.Fatalf("read after the session was terminated: %v", err)
	}
	if c.Relogins() != 1 {
		t.Errorf("relogins = %d, want 1", c.Relogins())
	}
}
