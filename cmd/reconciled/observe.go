package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/reconciled/reconciled/monitor"
	"github.com/reconciled/reconciled/reconciler"
	"github.com/reconciled/reconciled/sdnotify"
)

// observers are what watches `reconciled run` from outside: the metrics
// and health endpoints (--http) and systemd (NOTIFY_SOCKET). Both read one
// monitor.State, which the daemon's hooks feed. With neither, there are no
// hooks at all.
type observers struct {
	state    *monitor.State
	notifier *sdnotify.Notifier // nil when systemd does not listen
	server   *http.Server       // nil without --http
	// endpoints are the server's handler: closed after the server, it
	// waits for a read of usage in progress.
	endpoints *monitor.Endpoints
	// seamPass, for tests, runs after each pass on the loop's goroutine
	// (runOptions.seamPass).
	seamPass func(reconciler.PassReport)

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startObservers listens on httpAddr ("" for none) and starts the HTTP
// server and the systemd notifier. They outlive ctx (the daemon reports its
// stop through them) until close.
func startObservers(ctx context.Context, httpAddr string, log logr.Logger, onListen func(net.Addr)) (*observers, error) {
	o := &observers{}
	if httpAddr == "" && !sdnotify.Enabled() {
		return o, nil
	}
	o.state = monitor.NewState()
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	o.cancel = cancel
	if httpAddr != "" {
		ln, err := net.Listen("tcp", httpAddr)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("--http: %w", err)
		}
		hlog := log.WithName("http")
		o.endpoints = monitor.Handler(o.state, monitor.HandlerOptions{Log: hlog})
		o.server = &http.Server{
			Handler:           o.endpoints,
			ReadHeaderTimeout: 10 * time.Second,
		}
		hlog.Info("Serving /metrics, /healthz and /readyz", "addr", ln.Addr().String())
		if onListen != nil {
			onListen(ln.Addr())
		}
		o.wg.Go(func() {
			if err := o.server.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				hlog.Error(err, "HTTP server failed: no metrics or health endpoints")
			}
		})
	}
	if sdnotify.Enabled() {
		o.notifier = sdnotify.New(sdnotify.Options{Log: log.WithName("systemd")})
		o.wg.Go(func() { o.notifier.Run(ctx, o.state, o.state.Alive) })
	}
	return o, nil
}

// hooks are the daemon's hooks that feed the observers.
func (o *observers) observers() reconciler.Observers {
	if o.state == nil {
		return reconciler.Observers{}
	}
	h := o.state.Observers()
	if o.notifier == nil && o.seamPass == nil {
		return h
	}
	statePass, stateStopping := h.Pass, h.Stopping
	h.Pass = func(rep reconciler.PassReport) {
		statePass(rep)
		if o.notifier != nil {
			o.notifier.Passed(rep.Start)
		}
		if o.seamPass != nil {
			o.seamPass(rep)
		}
	}
	h.Stopping = func() {
		stateStopping()
		if o.notifier != nil {
			o.notifier.Stopping()
		}
	}
	return h
}

// reloading tells systemd of a SIGHUP, before the rescan is asked for.
func (o *observers) reloading() {
	if o.notifier != nil {
		o.notifier.Reloading()
	}
}

// close ends the server (letting a scrape in progress finish, for at most
// a few seconds) and the notifier, once the daemon has returned.
func (o *observers) close() {
	if o.cancel == nil {
		return
	}
	if o.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_ = o.server.Shutdown(ctx)
		cancel()
		o.endpoints.Close()
	}
	o.cancel()
	o.wg.Wait()
}
