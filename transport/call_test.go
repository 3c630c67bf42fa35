package transport

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"
)

func TestUnaryEcho(t *testing.T) {
	srv := startServer(t, ServerConfig{})
	c := newClient(t, ClientConfig{})
	ctx := ctxTimeout(t, 10*time.Second)
	for i := range 20 {
		var got Msg
		if err := c.Call(ctx, srv.peer("server"), "echo", &Msg{Text: "hi", N: i}, &got); err != nil {
			t.Fatal(err)
		}
		if got.Text != "hi" || got.N != i {
			t.Fatalf("got %+v", got)
		}
	}
	// All calls shared one connection.
	c.mu.RLock()
	n := len(c.peers)
	c.mu.RUnlock()
	if n != 1 {
		t.Fatalf("%d peer entries, want 1", n)
	}
}

func TestCallInfoReachesHandler(t *testing.T) {
	srv := startServer(t, ServerConfig{})
	c := newClient(t, ClientConfig{Interceptors: []Interceptor{
		func(ctx context.Context, call *CallInfo, next Invoker) error {
			call.Header.HLC = 42
			return next(ctx, call)
		},
	}})
	ctx := ctxTimeout(t, 3*time.Second)
	var got CallInfo
	err := c.Call(ctx, srv.peer("server"), "info", &Msg{}, &got, WithMetadata(map[string]string{"k": "v"}))
	if err != nil {
		t.Fatal(err)
	}
	if got.Method != "info" || got.Peer.Node != "client" || got.Header.Metadata["k"] != "v" || got.Header.HLC != 42 {
		t.Fatalf("handler saw %+v", got)
	}
	// The remaining timeout arrived and the server set its own deadline.
	if got.Header.Timeout <= 0 || got.Header.Timeout > 3*time.Second {
		t.Fatalf("handler deadline in %s, want within (0, 3s]", got.Header.Timeout)
	}
}

func TestErrorsCarryCodes(t *testing.T) {
	srv := startServer(t, ServerConfig{})
	c := newClient(t, ClientConfig{})
	ctx := ctxTimeout(t, 10*time.Second)
	p := srv.peer("server")

	err := c.Call(ctx, p, "fail", &Msg{}, nil)
	if !errors.Is(err, NotFound) || CodeOf(err) != NotFound {
		t.Fatalf("fail: %v", err)
	}
	if e := wantCode(t, err, NotFound); e.Message != `no such key "k"` || e.Unprocessed {
		t.Fatalf("fail: %+v", e)
	}
	e := wantCode(t, c.Call(ctx, p, "nope", &Msg{}, nil), Unimplemented)
	if e.Unprocessed {
		t.Fatal("Unimplemented must not be marked retryable")
	}
	wantCode(t, c.Call(ctx, p, "panic", &Msg{}, nil), Internal)
	// A request the handler cannot decode.
	wantCode(t, c.Call(ctx, p, "echo", []string{"not", "a", "Msg"}, nil), InvalidArgument)
	// The server still serves.
	if err := c.Call(ctx, p, "echo", &Msg{Text: "ok"}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestDeadlinePropagates(t *testing.T) {
	srv := startServer(t, ServerConfig{})
	c := newClient(t, ClientConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := c.Call(ctx, srv.peer("server"), "block", &Msg{}, nil)
	wantCode(t, err, DeadlineExceeded)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%v does not wrap context.DeadlineExceeded", err)
	}
	if got := waitCtxErr(t); got == nil {
		t.Fatal("handler context did not end")
	}
}

func TestCancelPropagates(t *testing.T) {
	srv := startServer(t, ServerConfig{})
	c := newClient(t, ClientConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Call(ctx, srv.peer("server"), "block", &Msg{}, nil) }()
	// Cancel once the call is in flight on the server.
	Eventually(t, 5*time.Second, func() error {
		if srv.inflight.Load() == 0 {
			return errors.New("call not in flight yet")
		}
		return nil
	})
	cancel()
	if err := <-done; !errors.Is(err, Canceled) {
		t.Fatalf("call: %v, want Canceled", err)
	}
	if got := waitCtxErr(t); !errors.Is(got, context.Canceled) {
		t.Fatalf("handler saw %v, want context.Canceled", got)
	}
}

func TestServerStreaming(t *testing.T) {
	srv := startServer(t, ServerConfig{})
	c := newClient(t, ClientConfig{})
	ctx := ctxTimeout(t, 10*time.Second)
	st, err := c.Stream(ctx, srv.peer("server"), "count", &Msg{N: 500})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		var m Msg
		err := st.Recv(&m)
		if err == io.EOF {
			if i != 500 {
				t.Fatalf("stream ended after %d messages", i)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if m.N != i {
			t.Fatalf("message %d has N=%d", i, m.N)
		}
	}
	if err := st.Recv(&Msg{}); err != io.EOF {
		t.Fatalf("Recv after end: %v", err)
	}
	st.Close()
}

func TestCancelledStreamStopsServer(t *testing.T) {
	for _, how := range []string{"cancel", "close"} {
		t.Run(how, func(t *testing.T) {
			srv := startServer(t, ServerConfig{})
			c := newClient(t, ClientConfig{})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			st, err := c.Stream(ctx, srv.peer("server"), "forever", &Msg{})
			if err != nil {
				t.Fatal(err)
			}
			for range 10 {
				if err := st.Recv(&Msg{}); err != nil {
					t.Fatal(err)
				}
			}
			if how == "cancel" {
				cancel()
			} else {
				st.Close()
			}
			if got := waitCtxErr(t); !errors.Is(got, context.Canceled) {
				t.Fatalf("handler ended with ctx error %v, want context.Canceled", got)
			}
			Eventually(t, 5*time.Second, func() error {
				if n := srv.inflight.Load(); n != 0 {
					return errors.New("stream still in flight on the server")
				}
				return nil
			})
			var err2 error
			for err2 == nil {
				err2 = st.Recv(&Msg{})
			}
			if !errors.Is(err2, Canceled) {
				t.Fatalf("Recv after cancel: %v", err2)
			}
		})
	}
}

func TestCloseUnblocksRecv(t *testing.T) {
	srv := startServer(t, ServerConfig{})
	srv.HandleStream("silent", func(ctx context.Context, req Decoder, out Sender) error {
		<-ctx.Done()
		events.ctxErr <- ctx.Err()
		return ctx.Err()
	})
	c := newClient(t, ClientConfig{})
	st, err := c.Stream(context.Background(), srv.peer("server"), "silent", &Msg{})
	if err != nil {
		t.Fatal(err)
	}
	recv := make(chan error, 1)
	go func() { recv <- st.Recv(&Msg{}) }()
	Eventually(t, 5*time.Second, func() error {
		if srv.inflight.Load() == 0 {
			return errors.New("stream not open on the server yet")
		}
		return nil
	})
	st.Close()
	select {
	case err := <-recv:
		if !errors.Is(err, Canceled) {
			t.Fatalf("blocked Recv returned %v, want Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock Recv")
	}
	if got := waitCtxErr(t); !errors.Is(got, context.Canceled) {
		t.Fatalf("handler saw %v", got)
	}
}
