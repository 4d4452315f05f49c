package hooks

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/reconciled/reconciled/internal/expand"
)

// drainLimit bounds how much of a response's body is read to let its
// connection be reused; a longer body closes the connection instead.
const drainLimit = 64 << 10

// runHTTP posts the event's JSON line, as the events file holds it, to the
// hook's URL. A 2xx status is success. Messages name the URL as written in
// the manifest, never as expanded: a $(TOKEN) in it stays a reference.
func (r *Runner) runHTTP(ctx context.Context, j job, env []string) *failure {
	a := j.hook.HTTPPost
	ev := j.ev
	ev.Program = r.program
	body, _ := ev.MarshalJSON() // never fails
	body = append(body, '\n')
	lookup := expand.Lookup(env)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, expand.String(a.URL, lookup), bytes.NewReader(body))
	if err != nil {
		return &failure{what: "failed: URL " + strconv.Quote(a.URL) + " does not parse once expanded"}
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return &failure{what: "failed: URL " + strconv.Quote(a.URL) + " is not http or https once expanded"}
	}
	req.Header.Set("Content-Type", "application/json")
	for name, v := range a.Headers {
		req.Header.Set(name, expand.String(v, lookup)) // after Content-Type: the manifest may set it
	}
	resp, err := r.client.Do(req)
	if err != nil {
		// url.Error quotes the expanded URL; keep only what went wrong.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return &failure{what: "failed: POST " + strconv.Quote(a.URL) + ": " + err.Error(), ended: ctx.Err() != nil}
	}
	defer resp.Body.Close()
	head := make([]byte, OutputTail+1)
	n, _ := io.ReadFull(resp.Body, head)
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	return &failure{
		what:   "failed: HTTP " + resp.Status,
		output: trimHead(head[:min(n, OutputTail)], n > OutputTail),
	}
}
