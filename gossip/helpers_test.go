package gossip

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/edgeplane/edgeplane/gossip/faultnet"
)

// syncBuffer collects a node's logs; they are printed if the test fails.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testNode struct {
	*Mesh
	cfg  Config
	logs *syncBuffer
}

// testConfig is a fast-timing config on 127.0.0.1 with a free port.
func testConfig(name string) Config {
	return Config{
		NodeName: name, NodeID: "id-" + name,
		BindAddr: "127.0.0.1", BindPort: 0,
		Profile:           ProfileLocal,
		ReconnectInterval: 200 * time.Millisecond,
		DeadNodeReclaim:   100 * time.Millisecond,
		Tags:              map[string]string{MetaSite: "site-" + name},
	}
}

// startNode starts a mesh node; fn may adjust its config. With net set, the
// node's traffic goes through the fault-injecting network.
func startNode(t *testing.T, name string, fnet *faultnet.Network, fn func(*Config)) *testNode {
	t.Helper()
	n := newNode(t, name, fnet, fn)
	if err := n.Start(); err != nil {
		t.Fatalf("Start(%s): %v", name, err)
	}
	return n
}

// newNode builds a mesh node as startNode does, without starting it.
func newNode(t *testing.T, name string, fnet *faultnet.Network, fn func(*Config)) *testNode {
	t.Helper()
	cfg := testConfig(name)
	if fn != nil {
		fn(&cfg)
	}
	logs := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", name)
	if fnet != nil && cfg.Transport == nil {
		tr, _, err := fnet.NewTransport("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Transport = tr
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", name, err)
	}
	n := &testNode{Mesh: m, cfg: cfg, logs: logs}
	t.Cleanup(func() {
		m.Shutdown()
		if t.Failed() {
			t.Logf("logs of %s:\n%s", name, logs)
		}
	})
	return n
}

func (n *testNode) addr() string {
	l := n.LocalMember()
	return l.Address()
}

// startMesh starts count nodes and joins them all through the first.
func startMesh(t *testing.T, prefix string, count int, fnet *faultnet.Network, fn func(*Config)) []*testNode {
	t.Helper()
	nodes := make([]*testNode, count)
	for i := range nodes {
		nodes[i] = startNode(t, fmt.Sprintf("%s%d", prefix, i), fnet, fn)
		if i > 0 {
			if _, err := nodes[i].Join([]string{nodes[0].addr()}); err != nil {
				t.Fatalf("join %s: %v", nodes[i].cfg.NodeName, err)
			}
		}
	}
	return nodes
}

// Eventually calls f until it returns nil, and fails the test with f's last
// error if that has not happened within timeout. It is a copy of
// agent/internal/testutil.Eventually, which the gossip tests cannot import
// (gossip never imports the agent); keep the two alike.
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

// statusOf returns the status observer has for name.
func statusOf(observer *testNode, name string) Status {
	for _, m := range observer.Members() {
		if m.Name == name {
			return m.Status
		}
	}
	return StatusNone
}

// allSee waits until every observer sees each name with the status.
func allSee(t *testing.T, timeout time.Duration, observers []*testNode, names []string, want Status) {
	t.Helper()
	Eventually(t, timeout, func() error {
		for _, o := range observers {
			for _, name := range names {
				if o.cfg.NodeName == name {
					continue
				}
				if got := statusOf(o, name); got != want {
					return fmt.Errorf("%s sees %s as %s, want %s", o.cfg.NodeName, name, got, want)
				}
			}
		}
		return nil
	})
}

func names(nodes []*testNode) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.cfg.NodeName
	}
	return out
}

func newKeyring(t *testing.T, keys ...string) *memberlist.Keyring {
	t.Helper()
	var raw [][]byte
	for _, k := range keys {
		b, err := DecodeKey(k)
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, b)
	}
	kr, err := memberlist.NewKeyring(raw, raw[0])
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
