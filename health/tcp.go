package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/reconciled/reconciled/spec"
)

// tcpProber connects to host:port; a completed handshake is success.
type tcpProber struct {
	ap     netip.AddrPort // when the host is an IP address (without zone): see connect
	dialer net.Dialer     // otherwise
	addr   string         // host:port, for dialer
	name   string         // "tcp host:port" as written, before expansion, for errors

	sockets *Sockets // lends connect its sockets; may be nil
}

func newTCP(a *spec.TCPSocketAction, lookup func(string) (string, bool), sockets *Sockets) (*tcpProber, error) {
	port, err := expandPort(a.Port, lookup)
	if err != nil {
		return nil, fmt.Errorf("tcpSocket probe: %w", err)
	}
	host := expandHost(a.Host, lookup)
	rawHost := a.Host
	if rawHost == "" {
		rawHost = spec.DefaultProbeHost
	}
	t := &tcpProber{
		dialer: probeDialer(),
		addr:   net.JoinHostPort(host, strconv.Itoa(port)),
		name:   "tcp " + net.JoinHostPort(rawHost, a.Port),

		sockets: sockets,
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Zone() == "" {
		t.ap = netip.AddrPortFrom(ip.Unmap(), uint16(port))
	}
	return t, nil
}

// Probe connects, then drops the connection at once with a reset (see
// closeReset). An IP address, the usual case, goes through connect, a lean
// dial that reuses sockets (see Sockets); a host name through net.Dialer,
// which resolves it on every probe, as kubelet does.
//
// net.Dialer is given the address as a string, not as a netip.AddrPort to
// Dialer.DialTCP: in Go 1.26, DialTCP binds a zero local address to ":0"
// (golang/go#81620), an extra bind(2) whose port allocator, unlike
// connect's, does not share local ports across destinations.
func (t *tcpProber) Probe(ctx context.Context) Result {
	start := time.Now()
	var err error
	if t.ap.IsValid() {
		err = connect(ctx, t.ap, t.sockets)
	} else {
		var c net.Conn
		if c, err = t.dialer.DialContext(ctx, "tcp", t.addr); err == nil {
			closeReset(c)
		}
	}
	if err == nil {
		return Result{OK: true}
	}
	if ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
		return Result{Err: fmt.Errorf("%s: %w", t.name, timeoutError(ctx, start))}
	}
	// net.OpError quotes the expanded address; name has it as written.
	var oe *net.OpError
	if errors.As(err, &oe) {
		err = oe.Err
	}
	return Result{Err: fmt.Errorf("%s: %w", t.name, err)}
}

// probeDialer returns the dialer of probe connections. They live for one
// request at most, so TCP keep-alive is off: that saves the four
// setsockopt(2) calls that enable and tune it on every connection.
func probeDialer() net.Dialer {
	return net.Dialer{KeepAlive: -1}
}

// closeReset closes c with SO_LINGER 0: the kernel sends a RST instead of a
// FIN and keeps no TIME_WAIT socket. Probes are many short connections to
// the same address; an orderly close would leave one TIME_WAIT socket, and
// one local port, per probe for 60 s. HAProxy closes its checks this way.
func closeReset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}
