package transport

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/transport/resilience"
)

// gate is a handler that holds calls until released.
type gate struct {
	entered chan struct{}
	release chan struct{}
}

func newGate(s *Server) *gate {
	g := &gate{entered: make(chan struct{}, 16), release: make(chan struct{})}
	s.Handle("gate", Unary(func(ctx context.Context, m *Msg) (*Msg, error) {
		g.entered <- struct{}{}
		select {
		case <-g.release:
			return m, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}))
	return g
}

func TestGracefulShutdownDrainsCalls(t *testing.T) {
	srv := startServer(t, ServerConfig{})
	g := newGate(srv.Server)
	c := newClient(t, ClientConfig{})
	ctx := ctxTimeout(t, 10*time.Second)

	const n = 3
	results := make(chan error, n)
	for i := range n {
		go func() {
			var got Msg
			err := c.Call(ctx, srv.peer("server"), "gate", &Msg{N: i}, &got)
			if err == nil && got.N != i {
				err = errors.New("wrong reply")
			}
			results <- err
		}()
	}
	for range n {
		<-g.entered
	}
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctxTimeout(t, 10*time.Second)) }()

	// While draining, a new call is refused as Unavailable and marked
	// safe to retry elsewhere.
	Eventually(t, 5*time.Second, func() error {
		err := c.Call(ctx, srv.peer("server"), "echo", &Msg{}, nil)
		var e *Error
		if errors.As(err, &e) && e.Code == Unavailable && e.Unprocessed {
			return nil
		}
		return errors.New("new call not refused yet")
	})
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) with calls in flight", err)
	default:
	}
	close(g.release)
	for range n {
		if err := <-results; err != nil {
			t.Fatalf("in-flight call failed during graceful shutdown: %v", err)
		}
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func TestShutdownDeadlineCutsCalls(t *testing.T) {
	srv := startServer(t, ServerConfig{})
	g := newGate(srv.Server)
	c := newClient(t, ClientConfig{})
	done := make(chan error, 1)
	go func() { done <- c.Call(ctxTimeout(t, 10*time.Second), srv.peer("server"), "gate", &Msg{}, nil) }()
	<-g.entered
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want context.DeadlineExceeded", err)
	}
	if err := <-done; CodeOf(err) != Unavailable {
		t.Fatalf("cut call: %v, want Unavailable", err)
	}
}

func TestClientReconnectsAfterServerRestart(t *testing.T) {
	tlsConf := fleetTLS(t, "server")
	first := startServer(t, ServerConfig{TLS: tlsConf})
	addr := first.Addr().String()
	c := newClient(t, ClientConfig{})
	p := Peer{Node: "server", Addr: addr}
	ctx := ctxTimeout(t, 20*time.Second)
	if err := c.Call(ctx, p, "echo", &Msg{}, nil); err != nil {
		t.Fatal(err)
	}
	pc, _ := c.peer(p)
	before := pc.conn.Load()

	// Stop the server without telling the client (as a crash would),
	// then start a new process on the same address with the same key.
	first.crash()
	second := startServer(t, ServerConfig{TLS: tlsConf, Addr: addr})
	_ = second

	// The stale connection is reset at its next packet; calls succeed
	// again on a new connection.
	failures := 0
	Eventually(t, 15*time.Second, func() error {
		err := c.Call(ctx, p, "echo", &Msg{}, nil)
		if err != nil {
			failures++
		}
		return err
	})
	if after := pc.conn.Load(); after == before {
		t.Fatal("client still on the old connection")
	}
	if failures > 2 {
		t.Fatalf("%d calls failed before reconnecting", failures)
	}
	// A policy with idempotent retries hides the restart entirely.
	second.crash()
	startServer(t, ServerConfig{TLS: tlsConf, Addr: addr})
	tgt, err := c.Target("restart", Policy{Timeout: 2 * time.Second, Retry: resilience.Retry{Attempts: 3, BackoffBase: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tgt.Invoke(ctx, []Peer{p}, "echo", &Msg{}, nil, Idempotent()); err != nil {
		t.Fatalf("idempotent call across a restart: %v", err)
	}
}

func TestGoroutinesStopAfterClose(t *testing.T) {
	base := runtime.NumGoroutine()
	func() {
		s, err := NewServer(ServerConfig{Addr: "127.0.0.1:0", TLS: fleetTLS(t, "server"), Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		registerTestHandlers(s)
		if err := s.Listen(); err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- s.Serve(context.Background()) }()
		c, err := NewClient(ClientConfig{TLS: fleetTLS(t, "client"), Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		p := Peer{Node: "server", Addr: s.Addr().String()}
		var wg sync.WaitGroup
		for range 32 {
			wg.Go(func() { c.Call(context.Background(), p, "echo", &Msg{}, nil) })
		}
		wg.Wait()
		st, err := c.Stream(context.Background(), p, "count", &Msg{N: 3})
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
		c.Close()
		if err := s.Shutdown(ctxTimeout(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Fatal(err)
		}
	}()
	Eventually(t, 10*time.Second, func() error {
		if n := runtime.NumGoroutine(); n > base {
			return errors.New("goroutines still running: " + strconv.Itoa(n-base))
		}
		return nil
	})
}

// TestCloseWaitsForHandlers checks that Close, and Shutdown past its
// deadline, return only once the handlers they cut off have returned: a
// handler may still be winding down after its context ends, and the
// server owns the goroutine it runs on.
func TestCloseWaitsForHandlers(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop func(*Server) error
	}{
		{"Close", func(s *Server) error { return s.Close() }},
		{"Shutdown past its deadline", func(s *Server) error {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err := s.Shutdown(ctx); !errors.Is(err, context.Canceled) {
				return fmt.Errorf("Shutdown: %v, want context.Canceled", err)
			}
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, ServerConfig{})
			entered, cut, release := make(chan struct{}), make(chan struct{}), make(chan struct{})
			var releaseOnce sync.Once
			free := func() { releaseOnce.Do(func() { close(release) }) }
			t.Cleanup(free) // before the server's cleanup, should the test fail
			var returned atomic.Bool
			srv.Handle("linger", func(ctx context.Context, req Decoder) (any, error) {
				close(entered)
				<-ctx.Done()
				close(cut)
				<-release // winding down after the context ended
				returned.Store(true)
				return nil, ctx.Err()
			})
			c := newClient(t, ClientConfig{})
			called := make(chan error, 1)
			go func() { called <- c.Call(ctxTimeout(t, 10*time.Second), srv.peer("server"), "linger", &Msg{}, nil) }()
			<-entered

			stopped := make(chan error, 1)
			go func() { stopped <- tc.stop(srv.Server) }()
			<-cut
			// A bounded wait for what must not happen: the server stopping
			// while its handler runs. It passes whatever the timing.
			select {
			case err := <-stopped:
				t.Fatalf("stopped (%v) while a handler was still running", err)
			case <-time.After(200 * time.Millisecond):
			}
			free()
			if err := <-stopped; err != nil {
				t.Fatal(err)
			}
			if !returned.Load() {
				t.Fatal("stopped before the handler returned")
			}
			if err := <-called; err == nil {
				t.Fatal("a call cut off by the server succeeded")
			}
		})
	}
}
