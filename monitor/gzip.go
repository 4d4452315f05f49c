package monitor

import (
	"compress/gzip"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// gzipHandler compresses the answers of h for clients that accept gzip,
// as promhttp would, but at gzip's fastest level: an exposition is so
// repetitive that the fastest level keeps most of the gain, and costs a
// fraction of the default level's CPU (hack/bench/README.md). h must not
// compress itself (promhttp.HandlerOpts.DisableCompression).
type gzipHandler struct {
	h    http.Handler
	pool sync.Pool // of *gzip.Writer
}

func newGzipHandler(h http.Handler) *gzipHandler {
	return &gzipHandler{h: h, pool: sync.Pool{New: func() any {
		w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed) // a valid level: no error
		return w
	}}}
}

func (g *gzipHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("Vary", "Accept-Encoding")
	if !acceptsGzip(r.Header.Values("Accept-Encoding")) {
		g.h.ServeHTTP(w, r)
		return
	}
	gz := g.pool.Get().(*gzip.Writer)
	gz.Reset(w)
	defer g.pool.Put(gz)
	w.Header().Set("Content-Encoding", "gzip")
	g.h.ServeHTTP(gzipWriter{w, gz}, r)
	_ = gz.Close() // a failed write has been reported by the handler's
}

// gzipWriter sends what is written through gz.
type gzipWriter struct {
	http.ResponseWriter
	gz *gzip.Writer
}

func (w gzipWriter) Write(b []byte) (int, error) { return w.gz.Write(b) }

// acceptsGzip reads Accept-Encoding headers: gzip with a quality above
// zero, or * above zero when gzip is not named (an explicit gzip;q=0 wins
// over *).
func acceptsGzip(headers []string) bool {
	gzip, star := -1.0, -1.0 // -1: not named
	for _, h := range headers {
		for item := range strings.SplitSeq(h, ",") {
			name, params, _ := strings.Cut(item, ";")
			name = strings.ToLower(strings.TrimSpace(name))
			if name != "gzip" && name != "*" {
				continue
			}
			q := 1.0
			for p := range strings.SplitSeq(params, ";") {
				if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(k, "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
						q = f
					}
				}
			}
			if name == "gzip" {
				gzip = q
			} else {
				star = q
			}
		}
	}
	if gzip >= 0 {
		return gzip > 0
	}
	return star > 0
}
