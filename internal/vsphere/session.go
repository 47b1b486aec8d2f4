// Package vsphere is iclone-plan's only door to vCenter: the connection (with
// the govc environment conventions and verified TLS), a one-round-trip read of
// the inventory, and the narrow operations the executor needs.
//
// Its files follow its jobs: session.go is the session (connection, login
// again when vCenter ends it, a deadline on every request); inventory.go
// and devcache.go the inventory read and its disk cache; ops.go the
// operations, with lookup.go's cache for their lookups; taskwait.go the
// task poller, the one way to wait for a task; ready.go the wait for
// guests to be ready; lease.go the plan's lease; check.go vCenter's own
// pre-flight check of the sources.
package vsphere

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/session/keepalive"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// Config says how to reach vCenter. The zero value is not usable: URL is
// required. Credentials are kept out of every error message.
type Config struct {
	// URL is the vCenter SDK address: "host", "host:port" or
	// "https://[user:pass@]host[:port]/sdk". Credentials in the URL are used
	// unless Username/Password are set.
	URL string
	// Username and Password override the credentials of URL.
	Username, Password string
	// Insecure skips TLS certificate verification.
	Insecure bool
	// CACerts is a list of PEM files (os.PathListSeparator separated) of CAs
	// to trust instead of the system roots (GOVC_TLS_CA_CERTS).
	CACerts string
	// KnownHosts is a file of "host[:port] thumbprint" lines of certificates
	// to trust (GOVC_TLS_KNOWN_HOSTS).
	KnownHosts string
	// Datacenter is the name or inventory path of the datacenter to work in.
	// It may be empty when vCenter has exactly one datacenter.
	Datacenter string
	// KeepAlive is the idle interval after which a keep-alive request is sent
	// to hold the session open; zero means 5 minutes.
	KeepAlive time.Duration
	// Timeout bounds every request to vCenter: the connection (TCP, TLS
	// and the first request), the login, each property read, each task
	// poll, each operation's call. A vCenter that accepts connections but
	// does not answer makes the request fail with a *StallError after this
	// long, instead of hanging. A long poll that asks vCenter to wait
	// (WaitForUpdatesEx with MaxWaitSeconds) gets that wait on top. Zero
	// means a minute.
	Timeout time.Duration
}

// DefaultTimeout is Config.Timeout's default.
const DefaultTimeout = time.Minute

func (c Config) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultTimeout
	}
	return c.Timeout
}

// ConfigFromEnv reads the govc environment variables users already have:
// GOVC_URL, GOVC_USERNAME, GOVC_PASSWORD, GOVC_INSECURE, GOVC_TLS_CA_CERTS,
// GOVC_TLS_KNOWN_HOSTS and GOVC_DATACENTER.
func ConfigFromEnv(getenv func(string) string) Config {
	insecure, _ := strconv.ParseBool(getenv("GOVC_INSECURE"))
	return Config{
		URL:        getenv("GOVC_URL"),
		Username:   getenv("GOVC_USERNAME"),
		Password:   getenv("GOVC_PASSWORD"),
		Insecure:   insecure,
		CACerts:    getenv("GOVC_TLS_CA_CERTS"),
		KnownHosts: getenv("GOVC_TLS_KNOWN_HOSTS"),
		Datacenter: getenv("GOVC_DATACENTER"),
	}
}

// Client is a logged-in vCenter session. It is safe for concurrent use.
type Client struct {
	// Vim is the underlying govmomi client; every request it sends is
	// counted (see RoundTrips) and re-authenticated if the session expired.
	Vim *vim25.Client

	cfg    Config
	host   string // host:port, for messages
	count  *countingRT
	relog  *reloginRT
	keep   *keepalive.HandlerSOAP
	logged bool

	pollerOnce sync.Once
	poller     *taskPoller // see tasks

	fieldKeys lookups[string, int32] // custom attribute keys by name (see leaseFieldKey)
}

// Host returns the vCenter address (host:port) the client is connected to.
func (c *Client) Host() string { return c.host }

// InstanceUUID is the vCenter's instance UUID (ServiceContent.about).
func (c *Client) InstanceUUID() string { return c.Vim.ServiceContent.About.InstanceUuid }

// Datacenter returns the configured datacenter name or path (may be empty).
func (c *Client) Datacenter() string { return c.cfg.Datacenter }

// RoundTrips returns the number of SOAP requests sent so far, including the
// login and keep-alives.
func (c *Client) RoundTrips() int64 { return c.count.n.Load() }

// Relogins returns how many times an expired session was re-established.
func (c *Client) Relogins() int64 { return c.relog.n.Load() }

// Connect logs in to vCenter as cfg says. TLS is verified unless
// cfg.Insecure; an untrusted certificate gives an error that says how to
// trust it. The session is kept alive while idle and re-established if
// vCenter expires it.
func Connect(ctx context.Context, cfg Config) (*Client, error) {
	if strings.TrimSpace(cfg.URL) == "" {
		return nil, errors.New("no vCenter address: set GOVC_URL or pass --url (for example --url https://vcenter.example.com/sdk), or use --sim to try the plan on the built-in simulator")
	}
	u, err := soap.ParseURL(cfg.URL)
	if err != nil || u == nil {
		return nil, fmt.Errorf("invalid vCenter URL %q: %v", redactURL(cfg.URL), redactErr(err, cfg))
	}
	user := u.User
	u.User = nil // never keep credentials where an error message could print them
	if cfg.Username != "" || cfg.Password != "" {
		name := cfg.Username
		if name == "" && user != nil {
			name = user.Username()
		}
		pass := cfg.Password
		if pass == "" && user != nil {
			pass, _ = user.Password()
		}
		user = url.UserPassword(name, pass)
	}
	if user == nil || user.Username() == "" {
		return nil, fmt.Errorf("no credentials for %s: set GOVC_USERNAME and GOVC_PASSWORD (or put them in GOVC_URL)", u.Host)
	}
	if pw, _ := user.Password(); pw != "" {
		cfg.Password = pw
	}

	sc := soap.NewClient(u, cfg.Insecure)
	if cfg.CACerts != "" {
		if err := sc.SetRootCAs(cfg.CACerts); err != nil {
			return nil, fmt.Errorf("GOVC_TLS_CA_CERTS: %v; give the path of a PEM file holding the CA certificate that signed vCenter's certificate", err)
		}
	}
	if cfg.KnownHosts != "" {
		if err := sc.LoadThumbprints(cfg.KnownHosts); err != nil {
			return nil, fmt.Errorf("GOVC_TLS_KNOWN_HOSTS: %v", err)
		}
	}
	// Parallel clone tasks share one session; keep their connections open.
	sc.DefaultTransport().MaxIdleConnsPerHost = 64

	c := &Client{cfg: cfg, host: hostPort(u)}
	c.count = &countingRT{next: &deadlineRT{next: sc, host: c.host, timeout: cfg.timeout()}}
	c.keep = keepalive.NewHandlerSOAP(c.count, keepAliveOr(cfg.KeepAlive), nil)
	c.relog = &reloginRT{next: c.keep}
	vc, err := c.handshake(ctx, sc)
	if err != nil {
		return nil, err
	}
	vc.RoundTripper = c.relog
	c.Vim = vc
	mgr := session.NewManager(vc)
	c.relog.login = func(ctx context.Context) error { return mgr.Login(ctx, user) }
	if err := mgr.Login(ctx, user); err != nil {
		return nil, c.stepError(ctx, "logging in to vCenter "+c.host, err)
	}
	c.logged = true
	return c, nil
}

// handshake connects (TCP and TLS) and reads the service content, the
// first request, within the configured timeout: that request goes to the
// SOAP client directly, below the deadlineRT of later ones.
func (c *Client) handshake(ctx context.Context, sc *soap.Client) (*vim25.Client, error) {
	hctx, cancel := context.WithTimeout(ctx, c.cfg.timeout())
	defer cancel()
	vc, err := vim25.NewClient(hctx, sc)
	if err != nil {
		if ctx.Err() == nil && hctx.Err() != nil {
			err = &StallError{Host: c.host, Request: "RetrieveServiceContent", After: c.cfg.timeout()}
		}
		return nil, c.stepError(ctx, "connecting to vCenter "+c.host+" (TLS handshake and first request)", err)
	}
	return vc, nil
}

// stepError is connectError for a request that did not answer in time: it
// names the step the connection was at.
func (c *Client) stepError(ctx context.Context, step string, err error) error {
	var stall *StallError
	if errors.As(err, &stall) {
		return fmt.Errorf("%s: %w; check that vCenter is up and answering (it accepted the connection)", step, stall)
	}
	return c.connectError(ctx, err)
}

// StallError is a request vCenter did not answer within the configured
// deadline (Config.Timeout): it accepted the connection, or the request,
// and then went silent. It is a net.Error whose Timeout is true, as the
// HTTP client's own timeouts are.
type StallError struct {
	Host    string        // vCenter's host:port
	Request string        // the SOAP method that got no answer, e.g. RetrievePropertiesEx
	After   time.Duration // how long it was waited for
}

func (e *StallError) Error() string {
	return fmt.Sprintf("vCenter %s did not answer %s within %s", e.Host, e.Request, e.After)
}

// Timeout is true: a StallError is a timeout.
func (e *StallError) Timeout() bool { return true }

// Temporary is true, as for the HTTP client's timeouts: vCenter may answer
// a later request.
func (e *StallError) Temporary() bool { return true }

// deadlineRT bounds every request it sends by a deadline of its own (the
// caller's, if earlier, still applies), so that a vCenter that stops
// answering fails the request with a *StallError instead of hanging the
// caller. It sits below the keep-alive and re-login layers, so their
// requests are bounded too.
type deadlineRT struct {
	next    soap.RoundTripper
	host    string
	timeout time.Duration
}

func (d *deadlineRT) RoundTrip(ctx context.Context, req, res soap.HasFault) error {
	bound, ok := requestBound(req, d.timeout)
	if !ok {
		return d.next.RoundTrip(ctx, req, res)
	}
	rctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	err := d.next.RoundTrip(rctx, req, res)
	if err != nil && ctx.Err() == nil && rctx.Err() != nil {
		return &StallError{Host: d.host, Request: methodName(req), After: bound}
	}
	return err
}

// requestBound is how long a request may wait for its answer: timeout,
// plus the wait a long poll asks vCenter for (WaitForUpdatesEx with
// MaxWaitSeconds). A long poll without a bound waits for a change by
// design and gets no deadline (ok is false); this package's own long polls
// all set one.
func requestBound(req soap.HasFault, timeout time.Duration) (bound time.Duration, ok bool) {
	switch r := req.(type) {
	case *methods.WaitForUpdatesExBody:
		if r.Req == nil || r.Req.Options == nil || r.Req.Options.MaxWaitSeconds == nil {
			return 0, false
		}
		return timeout + time.Duration(*r.Req.Options.MaxWaitSeconds)*time.Second, true
	case *methods.WaitForUpdatesBody:
		return 0, false
	}
	return timeout, true
}

// methodName is the SOAP method of a request body: the name of its type
// without the "Body" suffix govmomi's methods package gives it.
func methodName(req soap.HasFault) string {
	t := reflect.TypeOf(req)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return strings.TrimSuffix(t.Name(), "Body")
}

// Logout ends the session. It is safe to call more than once.
func (c *Client) Logout(ctx context.Context) error {
	if c == nil || !c.logged {
		return nil
	}
	c.logged = false
	return session.NewManager(c.Vim).Logout(ctx)
}

func keepAliveOr(d time.Duration) time.Duration {
	if d <= 0 {
		return 5 * time.Minute
	}
	return d
}

func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), "443")
}

// connectError turns a failed connection into a message that says what to
// do, in particular how to trust an unknown certificate.
func (c *Client) connectError(ctx context.Context, err error) error {
	if isCertError(err) {
		tp := fetchThumbprint(ctx, c.host)
		var b strings.Builder
		fmt.Fprintf(&b, "vCenter %s presented a TLS certificate this machine does not trust (%v).\nTo trust it, do one of:\n", c.host, redactErr(rootCause(err), c.cfg))
		b.WriteString("  - set GOVC_TLS_CA_CERTS to a PEM file with the CA that signed it\n")
		if tp != "" {
			fmt.Fprintf(&b, "  - add this line to the file named by GOVC_TLS_KNOWN_HOSTS (after checking the thumbprint out of band):\n      %s %s\n", c.host, tp)
		} else {
			b.WriteString("  - add \"HOST:PORT THUMBPRINT\" to the file named by GOVC_TLS_KNOWN_HOSTS\n")
		}
		b.WriteString("  - or pass --insecure (GOVC_INSECURE=1) to skip verification, which is unsafe outside a lab")
		return errors.New(b.String())
	}
	if isLoginError(err) {
		return fmt.Errorf("vCenter %s refused the login for user %q: check GOVC_USERNAME and GOVC_PASSWORD", c.host, c.cfgUser())
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return fmt.Errorf("cannot reach vCenter at %s: %v; check GOVC_URL (or --url) and that vCenter is up", c.host, redactErr(opErr, c.cfg))
	}
	return fmt.Errorf("connecting to vCenter %s: %v", c.host, redactErr(err, c.cfg))
}

func (c *Client) cfgUser() string {
	if c.cfg.Username != "" {
		return c.cfg.Username
	}
	if u, err := soap.ParseURL(c.cfg.URL); err == nil && u.User != nil {
		return u.User.Username()
	}
	return ""
}

func rootCause(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

func isCertError(err error) bool {
	var (
		cv   *tls.CertificateVerificationError
		ua   x509.UnknownAuthorityError
		hn   x509.HostnameError
		inv  x509.CertificateInvalidError
		uaP  *x509.UnknownAuthorityError
		hnP  *x509.HostnameError
		invP *x509.CertificateInvalidError
	)
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &inv) ||
		errors.As(err, &uaP) || errors.As(err, &hnP) || errors.As(err, &invP)
}

func isLoginError(err error) bool {
	if soapFaultIs[types.InvalidLogin](err) {
		return true
	}
	var f types.BaseMethodFault
	if errors.As(err, &f) {
		_, ok := f.(*types.InvalidLogin)
		return ok
	}
	return strings.Contains(err.Error(), "InvalidLogin") || strings.Contains(err.Error(), "incorrect user name or password")
}

// fetchThumbprint dials host without verification only to read the SHA-1
// thumbprint of its certificate for the error message; nothing is sent.
func fetchThumbprint(ctx context.Context, host string) string {
	d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true}, NetDialer: &net.Dialer{Timeout: 5 * time.Second}}
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return ""
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return ""
	}
	return soap.ThumbprintSHA1(certs[0])
}

// redactURL removes user information from a URL string for messages.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		u.User = nil
		return u.String()
	}
	if i := strings.LastIndex(s, "@"); i >= 0 {
		if j := strings.Index(s, "://"); j >= 0 && j < i {
			return s[:j+3] + s[i+1:]
		}
		return s[i+1:]
	}
	return s
}

// redactErr returns err's message with the password removed.
func redactErr(err error, cfg Config) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if pw := cfg.Password; pw != "" {
		msg = strings.ReplaceAll(msg, pw, "***")
		msg = strings.ReplaceAll(msg, url.QueryEscape(pw), "***")
		msg = strings.ReplaceAll(msg, url.PathEscape(pw), "***")
	}
	if u, err := url.Parse(cfg.URL); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "***")
		}
	}
	return errors.New(msg)
}

// countingRT counts SOAP round trips (for the inventory benchmark and tests
// that prove the read does not grow with the number of VMs).
type countingRT struct {
	next soap.RoundTripper
	n    atomic.Int64
}

func (c *countingRT) RoundTrip(ctx context.Context, req, res soap.HasFault) error {
	c.n.Add(1)
	return c.next.RoundTrip(ctx, req, res)
}

// reloginRT re-establishes an expired session and retries the request: a
// long apply must survive vCenter expiring an idle or old session. Requests
// that fail together share one login (a request sent before the last login
// just retries), and a request whose new session was ended again at once
// logs in again, up to reloginAttempts times.
type reloginRT struct {
	next  soap.RoundTripper
	login func(context.Context) error
	mu    sync.Mutex
	n     atomic.Int64 // logins done
}

const reloginAttempts = 3

type reloginKey struct{}

func (r *reloginRT) RoundTrip(ctx context.Context, req, res soap.HasFault) error {
	for attempt := 1; ; attempt++ {
		sent := r.n.Load()
		err := r.next.RoundTrip(ctx, req, res)
		if err == nil || r.login == nil || ctx.Value(reloginKey{}) != nil || !isNotAuthenticated(err) || attempt > reloginAttempts {
			return err
		}
		r.mu.Lock()
		var lerr error
		if r.n.Load() == sent { // nobody logged in since this request was sent
			if lerr = r.login(context.WithValue(ctx, reloginKey{}, true)); lerr == nil {
				r.n.Add(1)
			}
		}
		r.mu.Unlock()
		if lerr != nil {
			return err
		}
		// The attempt decoded its fault into res; clear it, or the retry
		// would report the stale fault even when it succeeds.
		v := reflect.ValueOf(res).Elem()
		v.Set(reflect.Zero(v.Type()))
	}
}

func isNotAuthenticated(err error) bool {
	return soapFaultIs[types.NotAuthenticated](err)
}

// soapFaultIs reports whether err is a SOAP fault whose vSphere fault is a
// T (as a value or a pointer: govmomi decodes either).
func soapFaultIs[T any](err error) bool {
	if err == nil || !soap.IsSoapFault(err) {
		return false
	}
	switch soap.ToSoapFault(err).VimFault().(type) {
	case T, *T:
		return true
	}
	return false
}

// relogin establishes a new session in place of one vCenter ended. Most
// requests do that by themselves (reloginRT), on a NotAuthenticated fault;
// a property read may instead answer with the fault per property.
func (c *Client) relogin(ctx context.Context) error {
	if c.relog == nil || c.relog.login == nil {
		return errors.New("not logged in")
	}
	c.relog.mu.Lock()
	defer c.relog.mu.Unlock()
	if err := c.relog.login(context.WithValue(ctx, reloginKey{}, true)); err != nil {
		return err
	}
	c.relog.n.Add(1)
	return nil
}

// withSession runs a property read, and runs it again after logging in
// when the session was gone: vCenter may refuse a property read for want of
// a session per property (a NotAuthenticated fault in the missing set,
// which govmomi returns as the error) rather than with a SOAP fault, which
// is all reloginRT sees.
func (c *Client) withSession(ctx context.Context, read func() error) error {
	err := read()
	if err == nil || !isNotAuthenticatedFault(err) {
		return err
	}
	if lerr := c.relogin(ctx); lerr != nil {
		return err
	}
	return read()
}

func isNotAuthenticatedFault(err error) bool {
	if soap.IsVimFault(err) {
		if _, ok := soap.ToVimFault(err).(*types.NotAuthenticated); ok {
			return true
		}
	}
	return isNotAuthenticated(err)
}

// notAuthenticated reports whether a property read was refused for want of
// a session.
func notAuthenticated(res []types.ObjectContent) bool {
	for _, oc := range res {
		for _, m := range oc.MissingSet {
			switch m.Fault.Fault.(type) {
			case *types.NotAuthenticated:
				return true
			}
		}
	}
	return false
}
