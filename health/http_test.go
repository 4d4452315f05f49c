package health

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reconciled/reconciled/spec"
)

// server runs h with httptest; https picks TLS with a self-signed
// certificate. It returns the server's port.
func server(t *testing.T, https bool, h http.HandlerFunc) string {
	t.Helper()
	var s *httptest.Server
	if https {
		s = httptest.NewTLSServer(h)
	} else {
		s = httptest.NewServer(h)
	}
	t.Cleanup(s.Close)
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Port()
}

func newHTTPProber(t *testing.T, a spec.HTTPGetAction, env ...string) Prober {
	t.Helper()
	if a.Host == "" {
		a.Host = "127.0.0.1"
	}
	pr, err := New(&spec.Probe{HTTPGet: &a}, Target{Env: env})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return pr
}

func TestHTTPStatus(t *testing.T) {
	var redirectFollowed atomic.Int32
	var ua, accept atomic.Value
	port := server(t, false, func(w http.ResponseWriter, r *http.Request) {
		ua.Store(r.UserAgent())
		accept.Store(r.Header.Get("Accept"))
		switch r.URL.Path {
		case "/ok":
			_, _ = w.Write([]byte("ok"))
		case "/nocontent":
			w.WriteHeader(http.StatusNoContent)
		case "/redirect":
			http.Redirect(w, r, "/target", http.StatusFound)
		case "/target":
			redirectFollowed.Add(1)
			w.WriteHeader(http.StatusInternalServerError)
		case "/big":
			for range 1000 {
				_, _ = w.Write(make([]byte, 1024))
			}
		case "/error":
			w.WriteHeader(http.StatusInternalServerError)
		default:
			http.NotFound(w, r)
		}
	})
	for _, tc := range []struct {
		path string
		ok   bool
		err  string
	}{
		{"/ok", true, ""},
		{"/nocontent", true, ""},
		{"/redirect", true, ""}, // 302 is a success and is not followed
		{"/big", true, ""},
		{"/error", false, "GET http://127.0.0.1:" + port + "/error: HTTP status 500"},
		{"/missing", false, "GET http://127.0.0.1:" + port + "/missing: HTTP status 404"},
	} {
		pr := newHTTPProber(t, spec.HTTPGetAction{Scheme: "HTTP", Port: port, Path: tc.path})
		r := probeWithin(t, pr, 5*time.Second)
		if r.OK != tc.ok || r.Output != "" {
			t.Errorf("%s: got %+v, want OK %v", tc.path, r, tc.ok)
		}
		if tc.err != "" && (r.Err == nil || r.Err.Error() != tc.err) {
			t.Errorf("%s: Err = %v, want %q", tc.path, r.Err, tc.err)
		}
	}
	if n := redirectFollowed.Load(); n != 0 {
		t.Errorf("the redirect was followed %d times", n)
	}
	if ua.Load() != "reconciled-probe/1" || accept.Load() != "*/*" {
		t.Errorf("User-Agent %q, Accept %q", ua.Load(), accept.Load())
	}
}

func TestHTTPTimeout(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // before the server's Close (LIFO)
	port := server(t, false, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	pr := newHTTPProber(t, spec.HTTPGetAction{Port: port, Path: "/slow"})
	r := probeWithin(t, pr, 200*time.Millisecond) // the server never answers: it returns at the timeout
	if r.OK || !errors.Is(r.Err, ErrTimeout) {
		t.Fatalf("got %+v, want a timeout", r)
	}
	checkTimeoutErr(t, r.Err, "GET http://127.0.0.1:"+port+"/slow: ", 200*time.Millisecond)
}

func TestHTTPRefused(t *testing.T) {
	pr := newHTTPProber(t, spec.HTTPGetAction{Port: strconv.Itoa(freePort(t)), Path: "/"})
	r := probeWithin(t, pr, 5*time.Second)
	if r.OK || r.Err == nil || errors.Is(r.Err, ErrTimeout) || !strings.Contains(r.Err.Error(), "connection refused") {
		t.Errorf("got %+v, want connection refused", r)
	}
}

// TestHTTPS: the certificate is not verified (self-signed here), as kubelet
// does.
func TestHTTPS(t *testing.T) {
	var tls atomic.Bool
	port := server(t, true, func(w http.ResponseWriter, r *http.Request) { tls.Store(r.TLS != nil) })
	pr := newHTTPProber(t, spec.HTTPGetAction{Scheme: "HTTPS", Port: port, Path: "/"})
	if r := probeWithin(t, pr, 5*time.Second); !r.OK {
		t.Fatalf("got %+v, want OK", r)
	}
	if !tls.Load() {
		t.Error("request did not come over TLS")
	}
}

// TestHTTPExpansion: $(VAR) in the path and the port, from the instance's
// environment; the error of a failing probe shows them as written, never
// their values.
func TestHTTPExpansion(t *testing.T) {
	var got atomic.Value
	port := server(t, false, func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.URL.RequestURI())
		if r.URL.Query().Get("token") != "" {
			w.WriteHeader(http.StatusForbidden)
		}
	})
	env := []string{spec.EnvInstance + "=3", "PORT=" + port, "TOKEN=hunter2"}
	pr := newHTTPProber(t, spec.HTTPGetAction{Port: "$(PORT)", Path: "/healthz/$(RECONCILED_INSTANCE)"}, env...)
	if r := probeWithin(t, pr, 5*time.Second); !r.OK {
		t.Fatalf("got %+v, want OK", r)
	}
	if got.Load() != "/healthz/3" {
		t.Errorf("server saw %q, want /healthz/3", got.Load())
	}

	pr = newHTTPProber(t, spec.HTTPGetAction{Port: "$(PORT)", Path: "/h?token=$(TOKEN)"}, env...)
	r := probeWithin(t, pr, 5*time.Second)
	if got.Load() != "/h?token=hunter2" {
		t.Errorf("server saw %q", got.Load())
	}
	if r.OK || r.Err.Error() != "GET http://127.0.0.1:$(PORT)/h?token=$(TOKEN): HTTP status 403" {
		t.Errorf("got %+v", r)
	}
}

func TestNewHTTPErrors(t *testing.T) {
	env := []string{"P=healthz", "SECRET=hunter2"}
	for _, a := range []spec.HTTPGetAction{
		{Port: "80", Path: "$(P)"},
		{Port: "80", Path: "/$(SECRET)\x7f"},
		{Port: "80", Path: "/", Scheme: "FTP"},
	} {
		_, err := New(&spec.Probe{HTTPGet: &a}, Target{Env: env})
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%+v: err = %v", a, err)
		}
	}
}
