package transport

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/transport/tlsmesh"
)

// Msg is the test protocol's message.
type Msg struct {
	Text string `cbor:"1,keyasint,omitempty"`
	N    int    `cbor:"2,keyasint,omitempty"`
}

var (
	caOnce sync.Once
	testCA *tlsmesh.CA
	quiet  = slog.New(slog.DiscardHandler)
)

func fleetCA(t testing.TB) *tlsmesh.CA {
	caOnce.Do(func() {
		var err error
		if testCA, err = tlsmesh.NewCA(tlsmesh.CAOptions{}); err != nil {
			panic(err)
		}
	})
	return testCA
}

// fleetTLS returns node's TLS settings in fleet CA mode.
func fleetTLS(t testing.TB, node string) TLSConfig {
	t.Helper()
	ca := fleetCA(t)
	cert, err := ca.IssueTLS(node, tlsmesh.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return TLSConfig{Certificate: cert, VerifyPeer: tlsmesh.VerifyFleet(ca.Pool(), time.Now)}
}

type testServer struct {
	*Server
	served  chan error
	crashed atomic.Bool
}

// crash stops the server without a word to its clients, as a killed
// process would: its socket closes and its connections vanish.
func (ts *testServer) crash() {
	ts.crashed.Store(true)
	ts.mu.Lock()
	tr := ts.tr
	ts.mu.Unlock()
	tr.Close()
	ts.Close()
}

// startServer starts a server on a random loopback port with the test
// handlers; it is closed at cleanup.
func startServer(t testing.TB, cfg ServerConfig) *testServer {
	t.Helper()
	drainCtxErrs() // a failed earlier test may have left its handler's
	if cfg.Addr == "" && cfg.PacketConn == nil {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.TLS.Certificate == nil {
		cfg.TLS = fleetTLS(t, "server")
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	registerTestHandlers(s)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s, served: make(chan error, 1)}
	go func() { ts.served <- s.Serve(context.Background()) }()
	t.Cleanup(func() {
		s.Close()
		select {
		case err := <-ts.served:
			if !errors.Is(err, ErrServerClosed) && !ts.crashed.Load() {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return after Close")
		}
	})
	return ts
}

func (ts *testServer) peer(node string) Peer {
	return Peer{Node: node, Addr: ts.Addr().String()}
}

func newClient(t testing.TB, cfg ClientConfig) *Client {
	t.Helper()
	if cfg.TLS.Certificate == nil {
		cfg.TLS = fleetTLS(t, "client")
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// handlerEvents lets tests observe what handlers saw.
type handlerEvents struct {
	ctxErr chan error // a blocking handler's ctx.Err() when it returned
	calls  sync.Map   // method → *counter
}

var events = &handlerEvents{ctxErr: make(chan error, 64)}

func registerTestHandlers(s *Server) {
	s.Handle("echo", Unary(func(ctx context.Context, m *Msg) (*Msg, error) { return m, nil }))
	s.Handle("big", Unary(func(ctx context.Context, m *Msg) (*Msg, error) {
		return &Msg{Text: string(make([]byte, m.N))}, nil
	}))
	s.Handle("info", Unary(func(ctx context.Context, m *Msg) (*CallInfo, error) {
		ci, _ := CallInfoFromContext(ctx)
		cp := *ci
		if dl, ok := ctx.Deadline(); ok {
			cp.Header.Timeout = time.Until(dl)
		}
		if tp, ok := TraceparentFromContext(ctx); ok {
			cp.Header.Traceparent = tp.String()
		}
		return &cp, nil
	}))
	s.Handle("fail", func(ctx context.Context, req Decoder) (any, error) {
		return nil, Errorf(NotFound, "no such key %q", "k")
	})
	s.Handle("panic", func(ctx context.Context, req Decoder) (any, error) { panic("boom") })
	// block waits for its context and reports how it ended.
	s.Handle("block", func(ctx context.Context, req Decoder) (any, error) {
		<-ctx.Done()
		events.ctxErr <- ctx.Err()
		return nil, ctx.Err()
	})
	s.HandleStream("count", ServerStreaming(func(ctx context.Context, m *Msg, send func(*Msg) error) error {
		for i := range m.N {
			if err := send(&Msg{N: i}); err != nil {
				return err
			}
		}
		return nil
	}))
	// forever streams until the caller goes away.
	s.HandleStream("forever", func(ctx context.Context, req Decoder, out Sender) error {
		for i := 0; ; i++ {
			if err := out.Send(&Msg{N: i}); err != nil {
				events.ctxErr <- ctx.Err()
				return err
			}
			if ctx.Err() != nil {
				events.ctxErr <- ctx.Err()
				return ctx.Err()
			}
		}
	})
}

// waitCtxErr waits for a blocking handler to report how its context ended.
// drainCtxErrs empties the handlers' context errors.
func drainCtxErrs() {
	for {
		select {
		case <-events.ctxErr:
		default:
			return
		}
	}
}

func waitCtxErr(t *testing.T) error {
	t.Helper()
	select {
	case err := <-events.ctxErr:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("handler never saw its context end")
		return nil
	}
}

// Eventually calls f until it returns nil, and fails the test with f's last
// error if that has not happened within timeout. It is a copy of
// agent/internal/testutil.Eventually, which the transport tests cannot import
// (transport never imports the agent); keep the two alike.
func Eventually(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := 10 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return
		}
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("not within %v: %v", timeout, err)
			return
		}
		time.Sleep(min(wait, left)) // polling interval, not synchronisation
		wait = min(2*wait, 50*time.Millisecond)
	}
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func wantCode(t testing.TB, err error, code Code) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("got %v, want code %s", err, code)
	}
	return e
}
