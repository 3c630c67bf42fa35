package gossip

import (
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/gossip/quicnet"
	"github.com/edgeplane/edgeplane/transport/tlsmesh"
)

// overQUIC makes a node gossip over QUIC with a self-signed certificate,
// accepting any peer whose certificate names a node.
func overQUIC(t *testing.T) func(*Config) {
	return func(c *Config) {
		cert, err := tlsmesh.SelfSigned(c.NodeName, time.Now)
		if err != nil {
			t.Fatal(err)
		}
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		tr, err := quicnet.New(quicnet.Config{
			PacketConn:  pc,
			Certificate: cert,
			Verify:      func(cs tls.ConnectionState) (string, error) { return tlsmesh.NodeName(cs.PeerCertificates[0]) },
		})
		if err != nil {
			t.Fatal(err)
		}
		c.Transport = tr
	}
}

// TestMeshOverQUIC: members find each other, hear broadcasts and see a
// leave when gossip travels over QUIC, with the gossip key inside.
func TestMeshOverQUIC(t *testing.T) {
	key := GenerateKey()
	quic := overQUIC(t)
	cfg := func(c *Config) {
		quic(c)
		c.Keyring = newKeyring(t, key)
	}
	got := make(chan []byte, 1)
	nodes := startMesh(t, "q", 2, nil, cfg)
	last := newNode(t, "q2", nil, cfg)
	last.Handle(Handlers{OnMessage: func(b []byte) {
		select {
		case got <- b:
		default:
		}
	}})
	if err := last.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := last.Join([]string{nodes[0].addr()}); err != nil {
		t.Fatal(err)
	}
	nodes = append(nodes, last)
	allSee(t, 10*time.Second, nodes, names(nodes), StatusAlive)
	nodes[0].Broadcast("", []byte("hello"))
	select {
	case b := <-got:
		if string(b) != "hello" {
			t.Fatalf("q2 got %q", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the broadcast did not reach q2")
	}
	if err := nodes[1].Leave(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	allSee(t, 10*time.Second, []*testNode{nodes[0], nodes[2]}, []string{"q1"}, StatusLeft)
}

// TestAdmitRefusesANode: a node the application refuses (Handlers.Admit)
// cannot join, and the refusal is counted.
func TestAdmitRefusesANode(t *testing.T) {
	seed := newNode(t, "a0", nil, nil)
	seed.Handle(Handlers{Admit: func(name string, tags map[string]string) error {
		if name == "a1" {
			return errors.New("not this one")
		}
		return nil
	}})
	if err := seed.Start(); err != nil {
		t.Fatal(err)
	}
	// The refused node's own Join may succeed: the seed answers a push-pull
	// with its state before it merges the joiner's. What counts is that
	// the seed does not take it in.
	refused := startNode(t, "a1", nil, nil)
	refused.Join([]string{seed.addr()})
	Eventually(t, 10*time.Second, func() error {
		if seed.Refused() == 0 {
			return errors.New("the refusal was not counted")
		}
		return nil
	})
	admitted := startNode(t, "a2", nil, nil)
	if _, err := admitted.Join([]string{seed.addr()}); err != nil {
		t.Fatal(err)
	}
	allSee(t, 10*time.Second, []*testNode{seed}, []string{"a2"}, StatusAlive)
	if _, ok := seed.Member("a1"); ok {
		t.Fatal("the refused node is listed")
	}
}
