package health

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/reconciled/reconciled/spec"
)

const (
	// userAgent is sent with every HTTP probe, like kubelet's "kube-probe/1.x".
	userAgent = "reconciled-probe/1"
	// maxBodyRead is how much of a response body is read (and discarded)
	// before the connection is closed.
	maxBodyRead = 4 << 10
	// maxHeaderBytes bounds the response headers a probe accepts.
	maxHeaderBytes = 64 << 10
)

// httpProber sends GET scheme://host:port/path; 2xx and 3xx are success.
// Redirects are not followed, and the body is ignored.
type httpProber struct {
	client *http.Client
	req    *http.Request // template, read-only: each probe sends a shallow copy
	name   string        // "GET " and the URL as written, before expansion, for errors
}

func newHTTP(a *spec.HTTPGetAction, lookup func(string) (string, bool)) (*httpProber, error) {
	port, err := expandPort(a.Port, lookup)
	if err != nil {
		return nil, fmt.Errorf("httpGet probe: %w", err)
	}
	scheme := strings.ToLower(a.Scheme)
	switch scheme {
	case "":
		scheme = "http"
	case "http", "https":
	default:
		return nil, fmt.Errorf("httpGet probe: scheme %q: must be HTTP or HTTPS", a.Scheme)
	}
	rawPath := a.Path
	if rawPath == "" {
		rawPath = "/"
	}
	path := spec.Expand(rawPath, lookup)
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("httpGet probe: path %q must start with /", rawPath)
	}
	host := expandHost(a.Host, lookup)
	u := scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port)) + path
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		// The error would quote the expanded URL.
		return nil, fmt.Errorf("httpGet probe: path %q does not make a valid URL", rawPath)
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "*/*")

	rawHost := a.Host
	if rawHost == "" {
		rawHost = spec.DefaultProbeHost
	}
	tr := &http.Transport{
		Proxy:       nil, // never through a proxy from the daemon's environment
		DialContext: dialReset,
		// As kubelet: probes check the process, not its certificate.
		TLSClientConfig:        &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // see above
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: maxHeaderBytes,
	}
	return &httpProber{
		client: &http.Client{
			Transport: tr,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse // a 3xx is a success in itself
			},
		},
		req:  req,
		name: "GET " + scheme + "://" + net.JoinHostPort(rawHost, a.Port) + rawPath,
	}, nil
}

// dialReset dials a connection that closes with a reset (see closeReset).
func dialReset(ctx context.Context, network, addr string) (net.Conn, error) {
	d := probeDialer()
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	return c, nil
}

// Probe sends the request and reads at most maxBodyRead bytes of the body.
func (h *httpProber) Probe(ctx context.Context) Result {
	start := time.Now()
	resp, err := h.client.Do(h.req.WithContext(ctx))
	if err != nil {
		if ctx.Err() != nil {
			return Result{Err: fmt.Errorf("%s: %w", h.name, timeoutError(ctx, start))}
		}
		// url.Error quotes the expanded URL; name has the URL as written.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Result{Err: fmt.Errorf("%s: %w", h.name, err)}
	}
	_, _ = io.CopyN(io.Discard, resp.Body, maxBodyRead)
	_ = resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 400 {
		return Result{OK: true}
	}
	return Result{Err: fmt.Errorf("%s: HTTP status %d", h.name, resp.StatusCode)}
}
