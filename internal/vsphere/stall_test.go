package vsphere

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// stallTimeout is the per-request deadline of the stall tests: short, so
// they end quickly; they assert only that each call returns, with an error
// that names vCenter and the step, never how fast.
const stallTimeout = 2 * time.Second

// returns runs call and fails the test if it has not returned within a
// generous bound: a hang is the bug these tests catch.
func returns(t *testing.T, what string, call func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		return err
	case <-time.After(3 * time.Minute):
		t.Fatalf("%s hung against a vCenter that does not answer", what)
		return nil
	}
}

// silentListener accepts TCP connections and never answers, until the
// test ends.
func silentListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}

// stallingServer completes the TLS and HTTP handshakes, then never
// answers a request (until the client gives up).
func stallingServer(t *testing.T) string {
	t.Helper()
	stop := make(chan struct{})
	s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hang(r, stop)
	}))
	t.Cleanup(s.Close)
	t.Cleanup(func() { close(stop) }) // before s.Close, which waits for the handlers
	return s.Listener.Addr().String()
}

// hang never answers r: it returns when the client goes away or the test
// ends. It reads the request first: the server notices a client gone only
// once the request's body has been read.
func hang(r *http.Request, stop <-chan struct{}) {
	_, _ = io.Copy(io.Discard, r.Body)
	select {
	case <-r.Context().Done():
	case <-stop:
	}
}

// A vCenter that accepts connections and never answers makes Connect
// fail, naming the address and the step, instead of hanging.
func TestConnectToStalledVCenter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		server func(*testing.T) string
	}{
		{"accepts TCP and never answers", silentListener},
		{"answers the TLS handshake then stalls", stallingServer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.server(t)
			cfg := Config{URL: "https://user:secret-pw@" + addr + "/sdk", Insecure: true, Timeout: stallTimeout}
			err := returns(t, "Connect", func() error {
				c, err := Connect(context.Background(), cfg)
				if err == nil {
					_ = c.Logout(context.Background())
				}
				return err
			})
			if err == nil {
				t.Fatal("Connect to a vCenter that does not answer succeeded")
			}
			var stall *StallError
			if !errors.As(err, &stall) || stall.Host != addr {
				t.Fatalf("Connect: %v; want a *StallError for %s", err, addr)
			}
			for _, want := range []string{addr, "connecting to vCenter", "TLS handshake", "did not answer RetrieveServiceContent"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Connect: %q does not say %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "secret-pw") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

// stallProxy is a reverse proxy to a simulator that stops answering when
// told to: a vCenter that goes silent in the middle of a session.
type stallProxy struct {
	url   *url.URL
	stall atomic.Bool
}

func newStallProxy(t *testing.T, target *url.URL) *stallProxy {
	t.Helper()
	p := &stallProxy{}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	stop := make(chan struct{})
	s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.stall.Load() {
			hang(r, stop)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	t.Cleanup(func() { close(stop) }) // before s.Close, which waits for the handlers
	p.url = &url.URL{Scheme: "https", User: target.User, Host: s.Listener.Addr().String(), Path: "/sdk"}
	return p
}

// A vCenter that goes silent after the login makes the inventory read and
// a task wait fail, naming vCenter, the step and the request, instead of
// hanging.
func TestSessionWithStalledVCenter(t *testing.T) {
	_, s := initSimulator(t, nil)
	p := newStallProxy(t, s.URL)
	c := connect(t, Config{URL: p.url.String(), Insecure: true, Timeout: stallTimeout})
	ctx := context.Background()
	if _, err := c.ReadInventory(ctx, "/DC0"); err != nil {
		t.Fatalf("reading the inventory through the proxy before it stalls: %v", err)
	}
	p.stall.Store(true)
	host := p.url.Host

	for _, tc := range []struct {
		step string
		call func() error
		want []string
	}{
		{"inventory read", func() error { _, err := c.ReadInventory(ctx, "/DC0"); return err },
			[]string{host, "looking up datacenter", "did not answer FindByInventoryPath"}},
		{"inventory read of the only datacenter", func() error { _, err := c.ReadInventory(ctx, ""); return err },
			[]string{host, "listing datacenters", "did not answer RetrievePropertiesEx"}},
		{"task wait", func() error {
			_, err := c.waitTask(ctx, types.ManagedObjectReference{Type: "Task", Value: "task-1"}, "test")
			return err
		}, []string{host, "waiting for task task-1", "did not answer RetrievePropertiesEx"}},
		{"task wait that has a deadline", func() error {
			wctx, cancel := context.WithTimeout(ctx, 3*stallTimeout)
			defer cancel()
			_, err := c.waitTask(wctx, types.ManagedObjectReference{Type: "Task", Value: "task-1"}, "test")
			return err
		}, []string{"waiting for task task-1", "deadline exceeded", "the last polls failed", host, "did not answer RetrievePropertiesEx"}},
		// The recover stage waits up to half an hour for a dead run's
		// tasks; a vCenter that does not answer must not hold it that long.
		{"wait for a dead run's tasks", func() error {
			wctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
			defer cancel()
			return c.WaitTasks(wctx, []string{"task-1"})
		}, []string{"waiting for task task-1 of an interrupted run", "did not answer the task polls", host, "did not answer RetrievePropertiesEx"}},
	} {
		t.Run(tc.step, func(t *testing.T) {
			err := returns(t, tc.step, tc.call)
			var stall *StallError
			if !errors.As(err, &stall) {
				t.Fatalf("%s: %v; want a *StallError", tc.step, err)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%s: %q does not say %q", tc.step, err, want)
				}
			}
		})
	}
}

// Every request gets the deadline, but a long poll gets the wait it asks
// vCenter for on top, and one that asks for no bound gets none.
func TestRequestBound(t *testing.T) {
	wait := func(max *int32) soap.HasFault {
		return &methods.WaitForUpdatesExBody{Req: &types.WaitForUpdatesEx{Options: &types.WaitOptions{MaxWaitSeconds: max}}}
	}
	for _, tc := range []struct {
		name  string
		req   soap.HasFault
		bound time.Duration
		ok    bool
	}{
		{"property read", &methods.RetrievePropertiesExBody{Req: &types.RetrievePropertiesEx{}}, time.Minute, true},
		{"login", &methods.LoginBody{Req: &types.Login{}}, time.Minute, true},
		{"long poll with a bound", wait(types.NewInt32(2)), time.Minute + 2*time.Second, true},
		{"long poll without a bound", wait(nil), 0, false},
		{"long poll without options", &methods.WaitForUpdatesExBody{Req: &types.WaitForUpdatesEx{}}, 0, false},
		{"legacy long poll", &methods.WaitForUpdatesBody{Req: &types.WaitForUpdates{}}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bound, ok := requestBound(tc.req, time.Minute)
			if bound != tc.bound || ok != tc.ok {
				t.Fatalf("requestBound = %v, %v; want %v, %v", bound, ok, tc.bound, tc.ok)
			}
			if tc.ok && methodName(tc.req) == "" {
				t.Fatal("no method name")
			}
		})
	}
	if got := methodName(&methods.RetrievePropertiesExBody{}); got != "RetrievePropertiesEx" {
		t.Fatalf("methodName = %q", got)
	}
}
