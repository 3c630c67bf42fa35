package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/transport/tlsmesh"
)

// fakeNews is a membership source a test drives by hand.
type fakeNews struct {
	news        chan struct{}
	gone        bool
	read        int // news items read
	subscribed  int
	unsubscribe int
}

func (f *fakeNews) subscribe() (func(context.Context) error, func(), bool) {
	f.subscribed++
	return func(ctx context.Context) error {
		if f.gone {
			return gossip.ErrShutdown
		}
		select {
		case <-f.news:
			f.read++
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}, func() { f.unsubscribe++ }, true
}

func TestMemberWaiter(t *testing.T) {
	errUnknown := errors.New("unknown")
	tests := []struct {
		name       string
		passAfter  int  // the check passes once this much news arrived (-1: never)
		news       int  // news items sent
		full       bool // every waiting slot taken
		gone       bool // the source ends (shutdown)
		wantErr    bool
		wantChecks int
		wantSubs   int
	}{
		{name: "known at once", passAfter: 0, wantChecks: 1},
		{name: "known after news", passAfter: 2, news: 2, wantChecks: 4, wantSubs: 1},
		{name: "no news in time", passAfter: -1, wantErr: true, wantChecks: 2, wantSubs: 1},
		{name: "too many waiting", passAfter: 1, news: 1, full: true, wantErr: true, wantChecks: 1},
		{name: "shutdown", passAfter: 1, gone: true, wantErr: true, wantChecks: 2, wantSubs: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeNews{news: make(chan struct{}, tt.news), gone: tt.gone}
			for range tt.news {
				f.news <- struct{}{}
			}
			w := &memberWaiter{subscribe: f.subscribe, wait: 200 * time.Millisecond, slots: make(chan struct{}, 1)}
			if tt.full {
				w.slots <- struct{}{}
			}
			checks := 0
			err := w.await(func() error {
				checks++
				if tt.passAfter >= 0 && f.read >= tt.passAfter {
					return nil
				}
				return errUnknown
			})
			if (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, errUnknown)) {
				t.Fatalf("await = %v, want error %v (the check's)", err, tt.wantErr)
			}
			if checks != tt.wantChecks || f.subscribed != tt.wantSubs || f.unsubscribe != f.subscribed {
				t.Fatalf("checks %d (want %d), subscribed %d (want %d), unsubscribed %d",
					checks, tt.wantChecks, f.subscribed, tt.wantSubs, f.unsubscribe)
			}
			if len(w.slots) != map[bool]int{true: 1, false: 0}[tt.full] {
				t.Fatalf("%d slots taken after await", len(w.slots))
			}
		})
	}
}

// TestRPCWaitsForJoiningNodesCertificate: in pinned mode, a node's
// certificate fingerprint reaches the peers it did not join through by
// gossip, a moment after it joined. A peer asked to verify its
// certificate before then waits for the news instead of refusing; a
// certificate of a node that never joins is still refused.
func TestRPCWaitsForJoiningNodesCertificate(t *testing.T) {
	key := gossip.GenerateKey()
	encrypted := func(c *config.Config) { c.Encrypt = key }
	seed := startInProcess(t, "seed", "", encrypted)
	peer := startInProcess(t, "peer", seed.mesh.LocalMember().Address(), encrypted)
	waitAlive(t, peer, "seed")
	waitAlive(t, seed, "peer")

	cfg := config.DevDefault()
	cfg.NodeName, cfg.DataDir, cfg.HTTPAddr, cfg.GossipPort, cfg.RPCPort = "late", t.TempDir(), "127.0.0.1:0", 0, 0
	cfg.Encrypt = key
	late, err := New(cfg, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(late.close)
	// Only late's gossip runs: it joins by hand below.
	if err := late.mesh.Mesh.Start(); err != nil {
		t.Fatal(err)
	}
	cs := connState(t, filepath.Join(cfg.DataDir, tlsDirName), "late")

	type result struct {
		node string
		err  error
	}
	verified := make(chan result, 1)
	go func() {
		node, err := peer.rpc.verify(cs)
		verified <- result{node, err}
	}()
	// The peer is asked first; late joins through the seed afterwards.
	if _, err := late.mesh.Join([]string{seed.mesh.LocalMember().Address()}); err != nil {
		t.Fatal(err)
	}
	if r := <-verified; r.err != nil || r.node != "late" {
		t.Fatalf("verifying the joining node's certificate = %q, %v", r.node, r.err)
	}

	stranger := connState(t, t.TempDir(), "stranger")
	if _, err := peer.rpc.verify(stranger); !errors.Is(err, tlsmesh.ErrNotAnnounced) {
		t.Fatalf("verifying a non-member's certificate: %v, want ErrNotAnnounced", err)
	}
	if peer.rpc.members.isMember("stranger") {
		t.Fatal("a non-member passed the membership check")
	}
}

// connState is what a TLS handshake shows of a node presenting the
// self-signed certificate in dir (made if missing).
func connState(t *testing.T, dir, node string) tls.ConnectionState {
	t.Helper()
	cert, err := tlsmesh.LoadOrCreateSelfSigned(dir, node, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert.Leaf}}
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func waitAlive(t *testing.T, a *Agent, node string) {
	t.Helper()
	testutil.Eventually(t, 30*time.Second, func() error {
		if m, ok := a.rpc.members.live(node); ok && m.Status == gossip.StatusAlive {
			return nil
		}
		return fmt.Errorf("%s does not see %s alive", a.cfg.NodeName, node)
	})
}
