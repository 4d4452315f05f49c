// Package health holds the probes of an instance (exec, tcpSocket, httpGet)
// and the worker that runs one of them on its schedule.
//
// A probe is one call: [Prober.Probe] takes a context that carries the
// timeout and returns a [Result]. [New] builds the right Prober from a
// spec.Probe and the [Target] instance, expanding $(VAR) from the instance's
// environment once, up front, so that a probe call does no parsing.
//
// [Run] is the per-probe worker. It owns no instance state: it calls the
// Prober on schedule, counts consecutive results against the thresholds and
// reports each change of the thresholded verdict (not each probe) through a
// callback. Its caller, the instance that owns the probe, owns the goroutine
// and stops it through the context; a stopped instance has no probes left.
//
// Worker timeline (period P, timeout T, failureThreshold F, successThreshold S):
//
//	t=0                  Run starts; nothing is reported yet ("unknown")
//	t=initialDelay (+g)  probe 1; the timer for the next one is armed first,
//	                     so the schedule does not drift by the probe's duration
//	+P, +2P, ...         probe n (right after probe n-1 when that one took
//	                     longer than P; missed ticks are skipped, never piled up)
//	F failures in a row  -> Verdict{Passing: false} if not already failing
//	S successes in a row -> Verdict{Passing: true}  if not already passing
//
// g: probe times are rounded up to a grid shared by every worker of the
// process (a tenth of the period, at most 100ms), so that probes due at about
// the same time run in one wake-up of the process (see Run for why).
//
// The first verdict is reported as soon as either threshold is first met;
// what "unknown" means (not ready; alive) is the caller's business.
//
// Invariants:
//
//   - A probe never runs much longer than its timeout: every Prober obeys its
//     context. An exec probe's process group is SIGKILLed at the timeout, and
//     also when its leader exits, so a probe leaves nothing running.
//   - Workers share nothing: each is its own goroutine with its own timer, so a
//     slow probe delays only its own next probe.
//   - A Result never carries the environment: Output is the command's own
//     output (trimmed, at most [MaxOutput] bytes) and errors name the raw
//     $(VAR) text, never its expanded value.
//   - TCP and HTTP probes close their connection with a reset (SO_LINGER 0,
//     or for a reused socket a disconnect: see [Sockets]), as HAProxy's
//     health checks do, so that probing leaves no TIME_WAIT
//     sockets behind: at 1000 probes a second to one address, 60 s of
//     TIME_WAIT would need 60000 local ports, more than Linux's default
//     ephemeral range.
//   - A tcpSocket probe to an IP address does not go through net.Dialer but
//     through a lean non-blocking connect (connect_linux.go) that, on
//     loopback, finishes without the netpoller; a host name uses net.Dialer.
//   - No package state: each Prober holds its own dialer (and HTTP client);
//     the sockets that tcpSocket probes reuse belong to the caller, who
//     passes a [Sockets] in the [Target] (the daemon has one).
//
// Cost: the grid and the reused sockets are what keep many tcpSocket probes
// cheap, since each wake-up of an idle process costs more than the connect;
// hack/bench/probes.sh measures it, and hack/bench/README.md keeps the figures.
//
// docs/internals.md tells how it fits in: see "Probes".
package health
