package gossip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/transport/resilience"
)

// TestBeforeStart: a built mesh holds its port but does not gossip. It
// knows only itself, on the address it will announce; Join, Leave and
// RetryJoin fail with ErrNotStarted; broadcasts and subscriptions wait
// for Start.
func TestBeforeStart(t *testing.T) {
	n := newNode(t, "b0", nil, nil)
	self := n.LocalMember()
	if self.Name != "b0" || self.Port == 0 || !self.Addr.Equal(net.ParseIP("127.0.0.1")) || self.Tags[MetaSite] != "site-b0" {
		t.Fatalf("LocalMember before Start = %+v", self)
	}
	if got := n.Members(); len(got) != 1 || got[0].Name != "b0" || got[0].Address() != self.Address() {
		t.Fatalf("Members before Start = %+v, want only this node", got)
	}
	if got := n.NumAlive(); got != 1 {
		t.Fatalf("NumAlive before Start = %d, want 1", got)
	}
	if _, err := n.Join([]string{"127.0.0.1:1"}); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("Join before Start = %v, want ErrNotStarted", err)
	}
	if err := n.Leave(time.Second); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("Leave before Start = %v, want ErrNotStarted", err)
	}
	joined := make(chan error, 1)
	n.RetryJoin(context.Background(), []string{"127.0.0.1:1"}, 0, resilience.Retry{BackoffBase: time.Hour}, func(_ int, err error) { joined <- err })
	select {
	case err := <-joined:
		if !errors.Is(err, ErrNotStarted) {
			t.Fatalf("RetryJoin before Start = %v, want ErrNotStarted", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RetryJoin before Start did not give up")
	}
	n.Broadcast("k", []byte("v"))
	if queued, _ := n.BroadcastQueue(); queued != 1 {
		t.Fatalf("%d broadcasts queued before Start, want 1", queued)
	}
	sub := n.Subscribe(8)
	defer sub.Close()

	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err == nil {
		t.Fatal("a second Start succeeded")
	}
	if got := n.LocalMember().Address(); got != self.Address() {
		t.Fatalf("started on %s, announced %s before Start", got, self.Address())
	}
	// A subscription taken before Start sees this node join.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	events, _, err := sub.Next(ctx)
	if err != nil || len(events) == 0 || events[0].Type != EventJoin || events[0].Member.Name != "b0" {
		t.Fatalf("first event after Start = %+v, %v; want this node's join", events, err)
	}
}

// TestShutdownWithoutStart: Shutdown of a mesh that never started ends its
// subscriptions and frees its port, even when peers sent to it meanwhile
// (the transport's listeners wait for someone to take what arrived).
// Start fails after it.
func TestShutdownWithoutStart(t *testing.T) {
	n := newNode(t, "s0", nil, nil)
	addr := n.LocalMember().Address()
	udp, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	if _, err := udp.Write([]byte("not gossip")); err != nil {
		t.Fatal(err)
	}
	tcp, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	sub := n.Subscribe(8)

	done := make(chan error, 1)
	go func() { done <- n.Shutdown() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown of a mesh that never started hangs")
	}
	if _, _, err := sub.Next(context.Background()); !errors.Is(err, ErrShutdown) {
		t.Fatalf("subscription after Shutdown: %v, want ErrShutdown", err)
	}
	if err := n.Start(); !errors.Is(err, ErrShutdown) {
		t.Fatalf("Start after Shutdown = %v, want ErrShutdown", err)
	}
	// The port is free again, for TCP and UDP.
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("TCP port still held: %v", err)
	}
	l.Close()
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("UDP port still held: %v", err)
	}
	c.Close()
}

// TestNewFailsOnPortInUse: the port is bound by New, so a port in use
// fails New, not Start.
func TestNewFailsOnPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := testConfig("p0")
	cfg.BindPort = l.Addr().(*net.TCPAddr).Port
	m, err := New(cfg)
	if err == nil {
		m.Shutdown()
		t.Fatal("New on a port in use succeeded")
	}
	if want := net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.BindPort)); !strings.Contains(err.Error(), want) {
		t.Fatalf("New on a port in use = %v; want the address %s named", err, want)
	}
}

// TestHandlers: handlers set before Start get the peers' push-pull state
// at a join and their broadcasts; Handle after Start panics.
func TestHandlers(t *testing.T) {
	type received struct {
		mu       sync.Mutex
		states   [][]byte
		messages [][]byte
	}
	got := map[string]*received{}
	nodes := make([]*testNode, 2)
	for i := range nodes {
		name := fmt.Sprintf("h%d", i)
		r := &received{}
		got[name] = r
		nodes[i] = newNode(t, name, nil, nil)
		nodes[i].Handle(Handlers{
			LocalState: func(bool) []byte { return []byte("state of " + name) },
			MergeRemoteState: func(buf []byte, _ bool) {
				r.mu.Lock()
				r.states = append(r.states, bytes.Clone(buf))
				r.mu.Unlock()
			},
			OnMessage: func(payload []byte) {
				r.mu.Lock()
				r.messages = append(r.messages, bytes.Clone(payload))
				r.mu.Unlock()
			},
		})
		if err := nodes[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Handle after Start did not panic")
			}
		}()
		nodes[0].Handle(Handlers{})
	}()
	if _, err := nodes[1].Join([]string{nodes[0].addr()}); err != nil {
		t.Fatal(err)
	}
	nodes[1].Broadcast("", []byte("hello from h1"))
	has := func(list [][]byte, want string) bool {
		for _, b := range list {
			if string(b) == want {
				return true
			}
		}
		return false
	}
	Eventually(t, 10*time.Second, func() error {
		h0, h1 := got["h0"], got["h1"]
		h0.mu.Lock()
		defer h0.mu.Unlock()
		h1.mu.Lock()
		defer h1.mu.Unlock()
		switch {
		case !has(h0.states, "state of h1"):
			return fmt.Errorf("h0 merged states %q", h0.states)
		case !has(h1.states, "state of h0"):
			return fmt.Errorf("h1 merged states %q", h1.states)
		case !has(h0.messages, "hello from h1"):
			return fmt.Errorf("h0 received messages %q", h0.messages)
		}
		return nil
	})
}
