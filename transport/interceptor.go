package transport

import (
	"context"
	"log/slog"
	"time"
)

// Peer names one member of the mesh and where its RPC listener is.
type Peer struct {
	// Node is the member's name, as its certificate names it. On the
	// client it is the node the caller expects at Addr (empty: any node
	// the verifier accepts); on the server, the node the caller's
	// certificate names.
	Node string
	// Addr is the UDP host:port of the member's listener (on the server:
	// the caller's address).
	Addr string
	// Weight is the member's share under the weighted balancer; values
	// below 1 count as 1.
	Weight int
}

// CallInfo describes one call, unary or streaming, as interceptors and
// handlers see it.
type CallInfo struct {
	// Method is the handler's name.
	Method string
	// Peer is the other side: the caller on the server, the target on
	// the client.
	Peer Peer
	// Header is the call's header: on the server as received; on the
	// client as it will be sent, so client interceptors may set
	// Metadata, Traceparent and HLC before calling next.
	Header Header
	// ReplyHLC is the server's clock reading sent back in the call's
	// status: set on the server (by an interceptor or a handler), read on
	// the client once next has returned.
	ReplyHLC uint64
	// Server is true on the server side.
	Server bool
	// Streaming is true for server-streaming calls. On the client, next
	// returns once the stream is open and the request sent.
	Streaming bool
	// Attempt numbers the client's attempts at one call, from 1.
	Attempt int

	sc *serverCall
	cc *clientCall
}

// Invoker carries a call on: the next interceptor, or at the end of the
// chain the network (client) or the handler (server).
type Invoker func(ctx context.Context, call *CallInfo) error

// Interceptor wraps every call that passes through a Client or a Server.
// It may inspect or change call, act before and after next, or refuse the
// call by returning an error without calling next. The same type serves
// both sides; call.Server tells which.
//
// Interceptors run in the order configured, the first outermost. The
// order edgeplane uses on both sides is:
//
//	Trace, Logging, Metrics, (server only) RequireMember, HLC
//
// so every log line carries the trace id, logs and metrics count calls the
// auth check refused, and the clock only learns from authenticated peers.
// On the client, retries, the circuit breaker and balancing sit outside
// the chain: each attempt runs the whole chain once.
type Interceptor func(ctx context.Context, call *CallInfo, next Invoker) error

func chain(ics []Interceptor, final Invoker) Invoker {
	h := final
	for i := len(ics) - 1; i >= 0; i-- {
		ic, next := ics[i], h
		h = func(ctx context.Context, call *CallInfo) error { return ic(ctx, call, next) }
	}
	return h
}

type ctxKey uint8

const (
	callInfoKey ctxKey = iota
	traceparentKey
)

// callCtx is a handler's context: the stream's context (cancelled when the
// caller gives up or the connection closes), with the CallInfo attached
// without a further allocation.
type callCtx struct {
	context.Context
	info *CallInfo
}

func (c *callCtx) Value(key any) any {
	if key == any(callInfoKey) {
		return c.info
	}
	return c.Context.Value(key)
}

// CallInfoFromContext returns the call a server handler is serving.
func CallInfoFromContext(ctx context.Context) (*CallInfo, bool) {
	ci, ok := ctx.Value(callInfoKey).(*CallInfo)
	return ci, ok
}

// SetReplyHLC records the clock reading a handler wants sent back with the
// call's status.
func SetReplyHLC(ctx context.Context, hlc uint64) {
	if ci, ok := CallInfoFromContext(ctx); ok && ci.Server {
		ci.ReplyHLC = hlc
	}
}

// RequireMember returns the server's auth interceptor: it refuses, with
// Unauthenticated, any call whose certificate names a node for which
// isMember returns false. TLS has already proven the certificate; this
// binds it to current membership, so a node that left or was removed
// cannot call in even with a valid certificate.
func RequireMember(isMember func(node string) bool) Interceptor {
	return func(ctx context.Context, call *CallInfo, next Invoker) error {
		if call.Server && (call.Peer.Node == "" || !isMember(call.Peer.Node)) {
			return &Error{Code: Unauthenticated, Message: "certificate names " + quoted(call.Peer.Node) + ", not a current member"}
		}
		return next(ctx, call)
	}
}

func quoted(s string) string { return "\"" + s + "\"" }

// HLC returns an interceptor that carries hybrid logical clock readings:
// the client stamps each call's header with now() and passes the server's
// reply reading to observe; the server passes the caller's reading to
// observe before the handler runs and stamps the status with now(). Zero
// readings are not observed.
func HLC(now func() uint64, observe func(uint64)) Interceptor {
	return func(ctx context.Context, call *CallInfo, next Invoker) error {
		if call.Server {
			if call.Header.HLC != 0 {
				observe(call.Header.HLC)
			}
			err := next(ctx, call)
			if call.ReplyHLC == 0 {
				call.ReplyHLC = now()
			}
			return err
		}
		call.Header.HLC = now()
		err := next(ctx, call)
		if call.ReplyHLC != 0 {
			observe(call.ReplyHLC)
		}
		return err
	}
}

// Logging returns an interceptor that logs each call once it ends:
// successes at Debug, failures a caller typically causes (canceled,
// invalid_argument, not_found, already_exists, failed_precondition,
// out_of_range) at Info, every other failure at Warn.
func Logging(l *slog.Logger) Interceptor {
	return func(ctx context.Context, call *CallInfo, next Invoker) error {
		start := time.Now()
		err := next(ctx, call)
		code := CodeOf(err)
		level := levelOf(code)
		if !l.Enabled(ctx, level) {
			return err
		}
		side := "client"
		if call.Server {
			side = "server"
		}
		attrs := []slog.Attr{
			slog.String("side", side),
			slog.String("method", call.Method),
			slog.String("peer", call.Peer.Node),
			slog.String("addr", call.Peer.Addr),
			slog.String("code", code.String()),
			slog.Duration("duration", time.Since(start)),
		}
		if tp, ok := ParseTraceparent(call.Header.Traceparent); ok {
			attrs = append(attrs, slog.String(TraceIDKey, tp.TraceIDString()))
		}
		if call.Attempt > 1 {
			attrs = append(attrs, slog.Int("attempt", call.Attempt))
		}
		if err != nil {
			attrs = append(attrs, slog.String("err", err.Error()))
		}
		l.LogAttrs(ctx, level, "rpc", attrs...)
		return err
	}
}

func levelOf(c Code) slog.Level {
	switch c {
	case OK:
		return slog.LevelDebug
	case Canceled, InvalidArgument, NotFound, AlreadyExists, FailedPrecondition, OutOfRange:
		return slog.LevelInfo
	}
	return slog.LevelWarn
}
