package transport

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestConfigValidateNamesFields(t *testing.T) {
	tlsOK := fleetTLS(t, "n")
	tests := []struct {
		name  string
		err   error
		field string
	}{
		{"server without TLS", ServerConfig{}.Validate(), "ServerConfig.TLS.Certificate"},
		{"server without verifier", ServerConfig{TLS: TLSConfig{Certificate: tlsOK.Certificate}}.Validate(), "ServerConfig.TLS.VerifyPeer"},
		{"bad address", ServerConfig{TLS: tlsOK, Addr: "7947"}.Validate(), "ServerConfig.Addr"},
		{"negative streams", ServerConfig{TLS: tlsOK, MaxConcurrentStreams: -1}.Validate(), "ServerConfig.MaxConcurrentStreams"},
		{"negative keep-alive", ServerConfig{TLS: tlsOK, KeepAlive: -time.Second}.Validate(), "ServerConfig.KeepAlive"},
		{"tiny message limit", ServerConfig{TLS: tlsOK, Limits: Limits{MaxMessageSize: 10}}.Validate(), "ServerConfig.Limits.MaxMessageSize"},
		{"nesting limit", ServerConfig{TLS: tlsOK, Limits: Limits{MaxNestedLevels: 2}}.Validate(), "ServerConfig.Limits.MaxNestedLevels"},
		{"client without TLS", ClientConfig{}.Validate(), "ClientConfig.TLS.Certificate"},
		{"negative dial timeout", ClientConfig{TLS: tlsOK, DialTimeout: -1}.Validate(), "ClientConfig.DialTimeout"},
		{"client array limit", ClientConfig{TLS: tlsOK, Limits: Limits{MaxArrayElements: 3}}.Validate(), "ClientConfig.Limits.MaxArrayElements"},
	}
	for _, tt := range tests {
		if tt.err == nil || !strings.Contains(tt.err.Error(), tt.field+":") {
			t.Errorf("%s: got %v, want an error naming %s", tt.name, tt.err, tt.field)
		}
	}
	if err := (ServerConfig{TLS: tlsOK}).Validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
	if _, err := NewServer(ServerConfig{}); err == nil {
		t.Error("NewServer accepted an invalid config")
	}
	if _, err := NewClient(ClientConfig{}); err == nil {
		t.Error("NewClient accepted an invalid config")
	}
	d := ServerConfig{TLS: tlsOK}.withDefaults()
	if d.Addr != ":7947" || d.MaxConcurrentStreams != 1024 || d.KeepAlive != 15*time.Second || d.Limits.MaxMessageSize != 4<<20 {
		t.Errorf("server defaults %+v", d)
	}
}

func TestQUICConfigIsSizedOnPurpose(t *testing.T) {
	q := quicConfig(DefaultMaxConcurrentStreams, DefaultKeepAlive, DefaultIdleTimeout, DefaultHandshakeTimeout)
	if q.MaxIncomingStreams != 1024 || q.MaxConnectionReceiveWindow != 4<<20 || q.KeepAlivePeriod != 15*time.Second ||
		q.Allow0RTT || q.MaxIncomingUniStreams != -1 || !q.RequireStreamCreditRelease {
		t.Fatalf("%+v", q)
	}
	if c := quicConfig(-1, time.Second, time.Second, time.Second); c.MaxIncomingStreams != -1 || c.RequireStreamCreditRelease {
		t.Fatalf("client config accepts streams: %+v", c)
	}
	s := serverTLS(fleetTLS(t, "n"), quiet)
	if s.MinVersion != 0x0304 || s.NextProtos[0] != "edgeplane/1" || s.ClientAuth.String() != "RequireAnyClientCert" {
		t.Fatalf("server TLS %+v", s)
	}
}

func TestErrorsMatch(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", Errorf(NotFound, "key %q", "a"))
	if !errors.Is(err, NotFound) || errors.Is(err, Internal) {
		t.Fatal("Is against codes")
	}
	if !errors.Is(err, &Error{Code: NotFound}) || errors.Is(err, &Error{Code: NotFound, Message: "other"}) {
		t.Fatal("Is against errors")
	}
	var e *Error
	if !errors.As(err, &e) || e.Message != `key "a"` {
		t.Fatal("As")
	}
	tests := []struct {
		err  error
		want Code
	}{
		{nil, OK},
		{context.DeadlineExceeded, DeadlineExceeded},
		{fmt.Errorf("x: %w", context.Canceled), Canceled},
		{PermissionDenied, PermissionDenied},
		{errors.New("x"), Unknown},
		{err, NotFound},
	}
	for _, tt := range tests {
		if got := CodeOf(tt.err); got != tt.want {
			t.Errorf("CodeOf(%v) = %s, want %s", tt.err, got, tt.want)
		}
	}
	if Code(99).String() != "code(99)" || DeadlineExceeded.String() != "deadline_exceeded" {
		t.Error("names")
	}
	if (&Error{Code: Aborted}).Error() != "rpc error: aborted" {
		t.Error("message")
	}
	ctxErr := ctxError(canceledCtx(), true)
	if ctxErr.Code != Canceled || !ctxErr.Unprocessed || !errors.Is(ctxErr, context.Canceled) {
		t.Errorf("ctxError %+v", ctxErr)
	}
}

func canceledCtx() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func TestHandlerErrorsMapToCodes(t *testing.T) {
	srv := startServer(t, ServerConfig{})
	srv.Handle("code", func(ctx context.Context, req Decoder) (any, error) { return nil, AlreadyExists })
	srv.Handle("plain", func(ctx context.Context, req Decoder) (any, error) { return nil, errors.New("disk on fire") })
	srv.Handle("ctx", func(ctx context.Context, req Decoder) (any, error) { return nil, context.DeadlineExceeded })
	srv.Handle("shed", func(ctx context.Context, req Decoder) (any, error) { return nil, Unavailable })
	c := newClient(t, ClientConfig{})
	ctx := ctxTimeout(t, 5*time.Second)
	wantCode(t, c.Call(ctx, srv.peer("server"), "code", &Msg{}, nil), AlreadyExists)
	if e := wantCode(t, c.Call(ctx, srv.peer("server"), "plain", &Msg{}, nil), Unknown); e.Message != "disk on fire" {
		t.Errorf("message %q", e.Message)
	}
	wantCode(t, c.Call(ctx, srv.peer("server"), "ctx", &Msg{}, nil), DeadlineExceeded)
	// A handler ran, so its Unavailable is not retry-safe.
	if e := wantCode(t, c.Call(ctx, srv.peer("server"), "shed", &Msg{}, nil), Unavailable); e.Unprocessed {
		t.Error("handler's Unavailable marked unprocessed")
	}
	// An interceptor that sheds load before the handler makes it safe.
	shed := func(ctx context.Context, call *CallInfo, next Invoker) error { return Unavailable }
	srv2 := startServer(t, ServerConfig{Interceptors: []Interceptor{shed}})
	if e := wantCode(t, c.Call(ctx, srv2.peer("server"), "echo", &Msg{}, nil), Unavailable); !e.Unprocessed {
		t.Error("interceptor's Unavailable before the handler not marked unprocessed")
	}
}

func TestClientCloseAndClosePeer(t *testing.T) {
	srv := startServer(t, ServerConfig{})
	c := newClient(t, ClientConfig{})
	ctx := ctxTimeout(t, 5*time.Second)
	p := srv.peer("server")
	if err := c.Call(ctx, p, "echo", &Msg{}, nil); err != nil {
		t.Fatal(err)
	}
	pc, _ := c.peer(p)
	old := pc.conn.Load()
	c.ClosePeer(p.Addr)
	if old.Context().Err() == nil {
		t.Fatal("ClosePeer left the connection open")
	}
	if err := c.Call(ctx, p, "echo", &Msg{}, nil); err != nil {
		t.Fatalf("call after ClosePeer: %v", err)
	}
	c.Close()
	if err := c.Call(ctx, p, "echo", &Msg{}, nil); !errors.Is(err, ErrClientClosed) {
		t.Fatalf("call after Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestServerListenTwiceAndAddr(t *testing.T) {
	s, err := NewServer(ServerConfig{Addr: "127.0.0.1:0", TLS: fleetTLS(t, "s"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr() != nil {
		t.Fatal("Addr before Listen")
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal("second Listen", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	cancel() // ending Serve's context closes the server
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
	if err := s.Listen(); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Listen after close: %v", err)
	}
}
