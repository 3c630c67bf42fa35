// Package proxy carries calls between services over the mesh. An
// application on one node calls a service by a loopback address; the
// agent there picks a healthy instance of the service from its replica
// of the catalog and carries the call over the agents' QUIC RPC to the
// instance's agent, which hands it to the instance.
//
// # Upstream listeners
//
// A service registered on this node declares the services it calls
// (config key services[].upstreams): each upstream is an HTTP/1.1
// listener on a local address (local_bind, such as 127.0.0.1:9191). What
// reaches the listener is a call of that service: any local process that
// can connect to it speaks for the service. That is the trust boundary;
// bind upstreams to loopback.
//
// # Selection
//
// Candidates are the instances of the target whose checks all pass, on
// nodes that are live members, whose breaker (one per caller, target and
// instance) lets calls through. They fall in tiers by distance: this
// node, this site, other sites. Under locality site_first (the default)
// an attempt goes to the nearest tier with a candidate, so a call leaves
// the site only when no instance in it can take it, and comes back once
// one can; site_only never leaves the site; any puts every instance in
// one tier. Within a tier the pair's balancer picks (least_outstanding
// by default). An instance on this node is called directly, without the
// mesh. The catalog is read per call from the replica's kept snapshot,
// which costs no scan while the catalog does not change.
//
// # On the mesh
//
// MethodHTTP is a server-streaming call: the request message holds the
// whole HTTP request, its body included (up to MaxRequestBody, 1 MiB;
// the listener answers a larger one 413); the answer is the response
// head, then the body in chunks of ChunkSize (32 KiB) as the instance
// sends it. Request bodies are therefore buffered, response bodies
// stream. Hop-by-hop headers are dropped both ways. The time the call
// has left travels in the transport's header; the destination's request
// to the instance ends with it.
//
// # Trust at the destination
//
// The destination agent answers only current members (the RPC server's
// RequireMember) and knows the calling node from its certificate. The
// request claims a caller service; it is accepted only if this replica
// holds an instance of that service registered by that node (a node
// vouches for its own services), else refused as denied (403 at the
// caller). The request names the instance by service and ID; the agent
// dials the address the instance registered on this node, never one from
// the caller, so it relays to nothing but its own instances. Any
// Edgeplane-Caller-* header the application sent is removed, and
// Edgeplane-Caller-Service, -Node and -Site are set from the claim it
// accepted and the certificate.
//
// # Policy, retries and errors
//
// The communication policy of a pair (Policy; config key communication)
// is that of the rule for the exact pair, else from "*" to the target,
// else from the caller to "*", else the defaults. Timeout bounds the
// whole call, PerTryTimeout each attempt. An attempt is retried, on
// another instance when there is one, after a jittered backoff, if
// attempts remain and either the request never reached the application
// (no connection to the instance was had, the destination refused it as
// not local, or the stream was never opened) or the request is
// idempotent (GET, HEAD, OPTIONS, PUT, DELETE, or an Idempotency-Key
// header) and failed, timed out, or was answered 502, 503 or 504. A POST
// that reached the application is never sent twice. Each instance's
// breaker (package transport/resilience) opens after FailureThreshold
// consecutive failures (no answer, or 502/503/504) and rejects calls
// without dialling until its cool-down ends.
//
// # Tracing
//
// Each hop of a call is a span under the application's W3C trace
// (package tracing): the caller's agent reads the request's traceparent
// and tracestate (a request without a valid traceparent starts a trace,
// sampled at tracing.sample_ratio; a caller's sampled flag is honoured)
// and makes a client span per attempt, whose traceparent travels in the
// transport's header (transport.WithSpan); the destination's agent makes
// a server span under it and hands the instance a traceparent naming
// that span as its parent, with the tracestate. An instance on the
// caller's node gets the client span as its parent. Trace headers the
// application or another agent put among the request's headers never
// reach the instance as they are: the traceparent is always the agent's,
// the tracestate is checked and bounded at both ends. Sampled spans are
// exported when an OTLP endpoint is configured.
//
// The proxy's own errors carry X-Edgeplane-Error: 503 no-healthy-upstream,
// circuit-open or overloaded (MaxConcurrent calls of the pair in flight),
// 504 timeout, 403 denied, 502 unreachable (the instance or its agent
// failed the call), 413 too-large.
package proxy
