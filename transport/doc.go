// Package transport is edgeplane's RPC between agents: calls over QUIC with
// mutual TLS, CBOR bodies, deadlines that travel, retries where safe,
// circuit breakers, balancing and interceptors. It imports nothing of the
// agent, gossip or store, and can serve as a library on its own: whoever
// embeds it supplies identities and membership through callbacks.
//
// # A call is a stream
//
// A Server listens on one UDP port (7947 by default). A Client keeps one
// QUIC connection per peer, dialled on first use and shared by every call
// to that peer; a call opens a fresh bidirectional stream on it and the
// stream ends with the call. Calls therefore never block each other (no
// head-of-line blocking between streams), and cancelling one touches
// nothing else.
//
// On the stream the caller sends a header frame and one request message,
// then closes its side. The server answers with the reply's messages
// (one for a unary call, any number for a server-streaming call) and
// ends with a status frame:
//
//	client → server:  H(header)  M(request)  FIN
//	server → client:  M(reply)…  S(status)   FIN
//
// Each frame is a kind byte ('H', 'M' or 'S'), a 4-byte big-endian length
// and a CBOR payload. Limits bounds every frame before its payload is
// read, and every CBOR decoder carries explicit limits on nesting, array
// and map sizes and rejects duplicate map keys, so a peer cannot make
// this node allocate more than it allows. A frame that is malformed,
// truncated or too large is answered with a status (InvalidArgument or
// ResourceExhausted); the connection and the server carry on.
//
// # The header
//
// Header carries the method name, the time the caller has left (a
// remaining duration, not a deadline: clocks on edge devices disagree),
// string metadata, the W3C traceparent of the caller's span, and the
// caller's hybrid logical clock reading (HLC), which the transport carries
// without reading. The server sets the handler's context deadline from the
// remaining time on arrival. The handler's context also ends when the
// caller cancels or gives up (the client resets the stream, which cancels
// the server's side) and when the connection closes. The status frame can
// carry the server's clock reading back (CallInfo.ReplyHLC); HLC is an
// interceptor that fills both.
//
// # Status codes and errors
//
// Every failed call yields an *Error: a Code (the gRPC code set: OK,
// Canceled, InvalidArgument, DeadlineExceeded, NotFound, PermissionDenied,
// ResourceExhausted, Unimplemented, Internal, Unavailable,
// Unauthenticated, ...) and a message. errors.Is(err, transport.NotFound)
// matches by code, and a handler may return a bare Code. Errors the client
// derives from its context wrap context.DeadlineExceeded or
// context.Canceled.
//
// # When a call is retried
//
// Target.Invoke applies a Policy (see package resilience): a timeout per
// attempt, retries with exponential backoff and jitter, a circuit breaker
// per peer and a balancer. A failed attempt is retried only if it is safe
// (see Retryable):
//
//   - the call provably never ran (Error.Unprocessed): its stream was
//     never opened (the dial failed, was refused or timed out, or the
//     breaker refused it), or the server answered Unavailable before
//     running any handler (it is shutting down, or an interceptor shed
//     load). Such a call is retried even if it has side effects, on
//     another candidate when there is one;
//   - or the call was marked Idempotent, and failed with Unavailable,
//     DeadlineExceeded or Aborted.
//
// A call that may have reached a handler and is not idempotent is never
// sent twice.
//
// # Circuit breakers
//
// Each Target keeps a breaker per peer address: closed while calls
// succeed; open after FailureThreshold consecutive failures (unreachable,
// unavailable, too slow, or refused handshake; an application error shows
// the peer alive), so calls skip the peer without touching the network;
// half-open after CoolDown, letting one probe through, which closes the
// breaker on success and reopens it on failure. When every candidate's
// breaker is open, Invoke fails at once with ErrCircuitOpen.
// Target.BreakerState and Client.BreakerState show the state.
//
// # Trust
//
// TLS 1.3 only, ALPN "edgeplane/1", and a client certificate is always
// required. TLSConfig.VerifyPeer checks a peer's certificate and names the
// one node it belongs to; package tlsmesh provides it for the three trust
// modes: a fleet CA, and self-signed certificates pinned by the
// fingerprints nodes announce in gossip (encrypted or, in development,
// not). A client refuses a server whose certificate names another node
// than the one dialled (ErrPeerMismatch). The server binds each
// connection to the node its certificate names, and RequireMember refuses
// calls from a node that is not a current member.
//
// # Interceptors
//
// Interceptors wrap every call on both sides, the first configured
// outermost. The recommended order is:
//
//	Trace()          trace context first, so everything below can log it
//	Logging(logger)  one line per call, with its code and duration
//	metrics.Interceptor()   counters by code, latency histograms
//	RequireMember(isMember) server only: refuse non-members
//	HLC(now, observe)       clocks learn only from admitted calls
//
// Handlers that log with their call's context (InfoContext, LogAttrs)
// through a logger wrapped in TraceLog write the caller's trace_id on
// each line, as Logging does on its own.
//
// On the client the chain runs once per attempt, inside the policy:
// retries, breakers and balancing happen around it.
//
// # Resources
//
// A connection admits 1024 concurrent calls (MaxIncomingStreams), buffers
// at most 4 MiB from a peer (the connection receive window), and sends a
// keep-alive every 15 s so NAT mappings survive idle periods. 0-RTT is
// never used: early data can be replayed. The server returns stream
// credit in batches, so a call costs one packet each way. Shutdown stops
// accepting, refuses new calls with Unavailable, lets calls in flight
// finish until its context ends, then closes connections; Close and
// Shutdown return only once every connection's workers and handlers have
// returned.
//
// # Ping
//
// ServePing registers MethodPing, which answers with the serving node's
// name, and Target.Ping calls it through the policy like any call: every
// agent serves it, so `edgeplane rpc ping` checks one node's reach of
// another through the same trust, retries and breaker as replication.
package transport
