package hooks

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reconciled/reconciled/internal/fakeclock"
	"github.com/reconciled/reconciled/status"
)

// request is what a test server received.
type request struct {
	path, contentType, token string
	body                     []byte
}

// server is an httptest server that records requests and answers with
// code and body.
func server(t *testing.T, code int, body string) (*httptest.Server, func() []request) {
	t.Helper()
	var mu sync.Mutex
	var reqs []request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, request{r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("X-Token"), b})
		mu.Unlock()
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []request {
		mu.Lock()
		defer mu.Unlock()
		return append([]request(nil), reqs...)
	}
}

// httpPost delivers the event's JSON line, as the events file holds it,
// with $(VAR) expanded in the URL and the headers.
func TestHTTPPost(t *testing.T) {
	srv, reqs := server(t, http.StatusNoContent, "")
	r, rec := newRunner(t, nil, Hook{
		Events:   []string{"Fatal"},
		HTTPPost: &HTTPPostAction{URL: srv.URL + "/alert/$(RECONCILED_EVENT_REASON)", Headers: map[string]string{"X-Token": "$(TOKEN)"}},
	})
	ev := event("Fatal", "web-2", `Exited too quickly (process log may have details) "quoted"`)
	ev.Pid = 77
	r.Fire(ev, instanceCtx("", "TOKEN=s3cret"))
	if err := r.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := reqs()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1", len(got))
	}
	q := got[0]
	if q.path != "/alert/Fatal" || q.contentType != "application/json" || q.token != "s3cret" {
		t.Errorf("request path %q, Content-Type %q, X-Token %q; want /alert/Fatal, application/json, s3cret", q.path, q.contentType, q.token)
	}
	line, _ := ev.MarshalJSON()
	if want := string(line) + "\n"; string(q.body) != want {
		t.Errorf("body %q, want the event's line %q", q.body, want)
	}
	var back status.Event
	if err := json.Unmarshal(q.body, &back); err != nil || back.Reason != "Fatal" || back.Instance != "web-2" || back.Pid != 77 || back.Message != ev.Message {
		t.Errorf("body reads back as %+v (%v)", back, err)
	}
	if evs := rec.all(); len(evs) != 0 {
		t.Errorf("events %v, want none", evs)
	}
}

// A status other than 2xx is a HookFailed with the status and the start of
// the body; an error names the URL as written, never a value it expands to.
func TestHTTPFailure(t *testing.T) {
	srv, _ := server(t, http.StatusInternalServerError, "boom\n")
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	r, rec := newRunner(t, nil,
		Hook{Events: []string{"Fatal"}, HTTPPost: &HTTPPostAction{URL: srv.URL}},
		Hook{Events: []string{"Fatal"}, HTTPPost: &HTTPPostAction{URL: closed.URL + "/?token=$(TOKEN)", Headers: map[string]string{"X-Token": "$(TOKEN)"}}},
	)
	r.Fire(event("Fatal", "web-0", "gave up"), instanceCtx("", "TOKEN=s3cret"))
	evs := rec.waitEvents(t, ReasonHookFailed, 2)
	var statusMsg, errMsg string
	for _, ev := range evs {
		if strings.HasPrefix(ev.Message, "hooks[0]") {
			statusMsg = ev.Message
		} else {
			errMsg = ev.Message
		}
	}
	if want := "hooks[0] (httpPost) on Fatal failed: HTTP 500 Internal Server Error: boom"; statusMsg != want {
		t.Errorf("message %q, want %q", statusMsg, want)
	}
	prefix := `hooks[1] (httpPost) on Fatal failed: POST "` + closed.URL + `/?token=$(TOKEN)": `
	if !strings.HasPrefix(errMsg, prefix) || strings.Contains(errMsg, "s3cret") {
		t.Errorf("message %q, want %q and an error without the token's value", errMsg, prefix)
	}
}

// An HTTP hook that gets no answer is abandoned at its timeout.
func TestHTTPTimeout(t *testing.T) {
	arrived := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body) // the server watches the connection only after the body
		arrived <- struct{}{}
		<-r.Context().Done() // the client gave up
	}))
	t.Cleanup(srv.Close)
	clk := fakeclock.New()
	r, rec := newRunner(t, clk, Hook{Events: []string{"Unhealthy"}, HTTPPost: &HTTPPostAction{URL: srv.URL}, Timeout: 3 * time.Second})
	r.Fire(event("Unhealthy", "web-0", "probe failed"), instanceCtx(""))
	select {
	case <-arrived:
	case <-time.After(waitTimeout):
		t.Fatal("the request did not arrive")
	}
	clk.Step(3 * time.Second)
	ev := rec.waitEvents(t, ReasonHookFailed, 1)[0]
	if want := "hooks[0] (httpPost) on Unhealthy timed out after 3s and was abandoned"; ev.Message != want {
		t.Errorf("message %q, want %q", ev.Message, want)
	}
}
