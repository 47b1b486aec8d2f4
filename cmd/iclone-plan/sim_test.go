package main

import (
	"bufio"
	"bytes"
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
)

// simProc is `iclone-plan sim` running as a subprocess.
type simProc struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	url    string // GOVC_URL
	ca     string // GOVC_TLS_CA_CERTS
	ready  time.Duration
}

var govcURLLine = regexp.MustCompile(`^export GOVC_URL='(https://([^:@/]+):([^@/]+)@127\.0\.0\.1:[0-9]+/sdk)'$`)

// startSim runs the real iclone-plan binary (testscript.Main puts it on
// $PATH) and reads its GOVC_URL and GOVC_TLS_CA_CERTS lines.
func startSim(t *testing.T, args ...string) *simProc {
	t.Helper()
	bin, err := exec.LookPath("iclone-plan")
	if err != nil {
		t.Fatalf("iclone-plan not on $PATH: %v", err)
	}
	p := &simProc{cmd: exec.Command(bin, append([]string{"sim", "--listen", "127.0.0.1:0"}, args...)...)}
	p.cmd.Stderr = &p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
	})
	r := bufio.NewReader(out)
	first, err := r.ReadString('\n')
	if err != nil {
		_ = p.cmd.Wait()
		t.Fatalf("reading the GOVC_URL line: %v; stderr:\n%s", err, p.stderr.String())
	}
	p.ready = time.Since(begin)
	first = strings.TrimSuffix(first, "\n")
	m := govcURLLine.FindStringSubmatch(first)
	if m == nil {
		t.Fatalf("first line %q, want export GOVC_URL='https://USER:PASS@127.0.0.1:PORT/sdk'", first)
	}
	p.url = m[1]
	second, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(second, "export GOVC_TLS_CA_CERTS='") {
		t.Fatalf("second line %q (%v), want export GOVC_TLS_CA_CERTS='FILE'", second, err)
	}
	p.ca = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(second), "export GOVC_TLS_CA_CERTS='"), "'")
	// The lines are shell: eval'd, they set exactly these values.
	got, err := exec.Command("sh", "-c", first+"\n"+second+`printf '%s\n%s' "$GOVC_URL" "$GOVC_TLS_CA_CERTS"`).Output()
	if err != nil || string(got) != p.url+"\n"+p.ca {
		t.Fatalf("eval of the export lines gives %q (%v), want %q and %q", got, err, p.url, p.ca)
	}
	return p
}

// stop sends sig (SIGINT or SIGTERM) and expects a clean exit 0.
func (p *simProc) stop(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("iclone-plan sim after %v: %v, want exit 0; stderr:\n%s", sig, err, p.stderr.String())
	}
}

// client logs in to the simulator over verified TLS.
func (p *simProc) client(t *testing.T) *vim25.Client {
	t.Helper()
	ctx := context.Background()
	u, err := url.Parse(p.url)
	if err != nil {
		t.Fatal(err)
	}
	sc := soap.NewClient(u, false)
	if err := sc.SetRootCAs(p.ca); err != nil {
		t.Fatal(err)
	}
	c, err := vim25.NewClient(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	if err := session.NewManager(c).Login(ctx, u.User); err != nil {
		t.Fatal(err)
	}
	return c
}

// buildGovc builds a minimal govc (govmomi's own CLI) into a temp dir.
func buildGovc(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "govc")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/iclone-plan/iclone-plan/internal/sim/internal/govc")
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build govc: %v\n%s", err, out)
	}
	return bin
}

const simSeedPlan = `version: 1
name: lab
datacenter: Lab
defaults:
  folder: /Lab/vm/lab
groups:
  - name: web
    source: /Lab/vm/golden/web-golden
    count: 2
    cloneName: "lab-web-{index:02}"
    folder: /Lab/vm/lab/web
    nics:
      - adapter: 1
        mac: "00:50:56:10:01:{index:02x}"
        network: Lab-Net
      - adapter: 2
        mac: auto
    serial:
      - port: 1
        file: "[datastore1] serial/{name}.log"
    guestinfo:
      hostname: "{name}"
  - name: db
    source: /Lab/vm/golden/db-golden
    count: 1
    cloneName: "lab-db-{index}"
`

// TestSimGovcInstantClone: govc's vm.instantclone, a client no one here
// wrote, clones a seeded source through iclone-plan sim; vm.info and
// device.info show the clone powered on with the given extraConfig, new
// MACs, the new network and a delta disk over the source's base disk.
func TestSimGovcInstantClone(t *testing.T) {
	govc := buildGovc(t)
	plan := filepath.Join(t.TempDir(), "lab.yaml")
	if err := os.WriteFile(plan, []byte(simSeedPlan), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startSim(t, "--seed", plan, "--hosts", "2")
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(govc, args...)
		cmd.Env = append(os.Environ(), "GOVC_URL="+p.url, "GOVC_TLS_CA_CERTS="+p.ca, "GOVC_INSECURE=false")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("govc %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	must := func(out, pattern string) {
		t.Helper()
		if !regexp.MustCompile(pattern).MatchString(out) {
			t.Errorf("output lacks %q:\n%s", pattern, out)
		}
	}

	srcDevices := run("device.info", "-vm", "/Lab/vm/golden/web-golden")
	run("vm.instantclone", "-vm", "/Lab/vm/golden/web-golden", "-ds", "LocalDS_0", "-folder", "/Lab/vm/golden",
		"-net", "Lab-Net", "-e", "guestinfo.hostname=lab-web-01", "-e", "iclone.plan=lab", "lab-web-01")

	info := run("vm.info", "-e", "/Lab/vm/golden/lab-web-01")
	must(info, `Power state:\s+poweredOn`)
	must(info, `guestinfo\.hostname:\s+lab-web-01`)
	must(info, `iclone\.plan:\s+lab`)

	devices := run("device.info", "-vm", "/Lab/vm/golden/lab-web-01")
	mac := regexp.MustCompile(`MAC Address:\s+(\S+)`)
	srcMACs, macs := mac.FindAllStringSubmatch(srcDevices, -1), mac.FindAllStringSubmatch(devices, -1)
	if len(macs) != 2 || len(srcMACs) != 2 {
		t.Fatalf("clone MACs %v, source MACs %v: want two each", macs, srcMACs)
	}
	for i := range macs {
		if macs[i][1] == srcMACs[i][1] || !regexp.MustCompile(`^00:50:56:[89ab]`).MatchString(macs[i][1]) {
			t.Errorf("clone NIC %d MAC %s: want a new generated MAC (source %s)", i+1, macs[i][1], srcMACs[i][1])
		}
	}
	must(devices, `Summary:\s+Lab-Net`) // -net edits the first adapter
	must(devices, `File:\s+\[LocalDS_0\] lab-web-01/lab-web-01\.vmdk`)
	must(devices, `Parent:\s+\[LocalDS_0\] web-golden/web-golden\.vmdk`)
	must(run("device.info", "-vm", "/Lab/vm/golden/web-golden"), `File:\s+\[LocalDS_0\] web-golden/web-golden-000001\.vmdk`)
	p.stop(t, syscall.SIGTERM)
}

// TestSimStartsWith5000VMs: iclone-plan sim with 5,000 extra VMs starts,
// serves them, and exits 0 on SIGINT. The startup time is logged, not
// asserted (go test -v -run TestSimStartsWith5000VMs ./cmd/iclone-plan).
func TestSimStartsWith5000VMs(t *testing.T) {
	n := 5000
	if testing.Short() {
		n = 200
	}
	p := startSim(t, "--vms", strconv.Itoa(n))
	t.Logf("iclone-plan sim --vms %d: GOVC_URL after %v", n, p.ready.Round(time.Millisecond))
	c := p.client(t)
	vms, err := find.NewFinder(c, false).VirtualMachineList(context.Background(), "/DC0/vm/extra-*")
	if err != nil {
		t.Fatal(err)
	}
	if len(vms) != n {
		t.Errorf("%d extra VMs served, want %d", len(vms), n)
	}
	p.stop(t, os.Interrupt)
}
