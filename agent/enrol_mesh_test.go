package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/agent/jointoken"
	"github.com/edgeplane/edgeplane/gossip"
)

// apiClient returns a client of a's HTTP API.
func apiClient(t *testing.T, a *Agent) *api.Client {
	t.Helper()
	c, err := api.NewClient(api.Config{Address: a.HTTPAddr().String()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// lists reports, as an error, whether a lists node with status st.
func lists(a *Agent, node string, st gossip.Status) error {
	for _, m := range a.mesh.Members() {
		if m.Name == node && m.Status == st {
			return nil
		}
	}
	return fmt.Errorf("%s does not list %s %s", a.cfg.NodeName, node, st)
}

// holds reports, as an error, whether a's store holds key with value.
func holds(a *Agent, key, value string) error {
	e, found, _, err := a.store.Get(key)
	if err != nil || !found || string(e.Value) != value {
		return fmt.Errorf("%s holds %s = %q (found %v, %v), want %q", a.cfg.NodeName, key, e.Value, found, err, value)
	}
	return nil
}

// TestJoinTokenEnrolsADevice: node A runs with encrypt; its join token,
// fetched through its API, is all node B is given. B installs the key,
// joins through the token's seeds, runs in the pinned trust mode, and
// replicates with A. Beside it, node C holds a token with the right seeds
// and a wrong key: A never lists it, and C's writes never reach A.
func TestJoinTokenEnrolsADevice(t *testing.T) {
	ctx := t.Context()
	fast := config.Duration{Duration: 100 * time.Millisecond}
	a := startInProcess(t, "node-a", "", func(c *config.Config) { c.Encrypt = gossip.GenerateKey() })
	got, err := apiClient(t, a).JoinToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{a.mesh.LocalMember().Address()}; !slices.Equal(got.Seeds, want) {
		t.Fatalf("A's token carries seeds %q, want %q", got.Seeds, want)
	}

	b := startInProcess(t, "node-b", "", func(c *config.Config) {
		c.JoinToken, c.RetryInterval = got.Token, fast
	})
	testutil.Eventually(t, time.Minute, func() error {
		return errors.Join(lists(a, "node-b", gossip.StatusAlive), lists(b, "node-a", gossip.StatusAlive))
	})
	self, err := apiClient(t, b).Self(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rpc := self.Stats["rpc"]; rpc["trust"] != "pinned" || rpc["insecure_mesh"] != "false" {
		t.Fatalf("B's rpc stats = %v, want trust pinned and insecure_mesh false", rpc)
	}
	if keys := keyringKeys(t, b.data.dir); !slices.Equal(keys, []string{a.cfg.Encrypt}) {
		t.Fatal("B's keyring does not hold exactly A's key")
	}
	if _, err := a.store.Put("app/mode", []byte("blue"), 0); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, time.Minute, func() error { return holds(b, "app/mode", "blue") })

	// The attack: the seeds of a real token, a key of C's own.
	wrong, err := jointoken.Encode(jointoken.Token{Key: gossip.GenerateKey(), Seeds: got.Seeds})
	if err != nil {
		t.Fatal(err)
	}
	c := startInProcess(t, "node-c", "", func(c *config.Config) {
		c.JoinToken, c.RetryInterval = wrong, fast
	})
	if _, err := c.store.Put("app/mode", []byte("red"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.store.Put("app/c", []byte("from c"), 0); err != nil {
		t.Fatal(err)
	}
	if n, err := c.mesh.Join(got.Seeds); err == nil {
		t.Fatalf("C joined %d nodes with a wrong key", n)
	}
	// A write on B reaches A after C's attempts: C's would have too.
	if _, err := b.store.Put("app/marker", []byte("after c"), 0); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, time.Minute, func() error { return holds(a, "app/marker", "after c") })
	for _, n := range []*Agent{a, b} {
		for _, m := range n.mesh.Members() {
			if m.Name == "node-c" {
				t.Fatalf("%s lists node-c, %s", n.cfg.NodeName, m.Status)
			}
		}
		if err := holds(n, "app/mode", "blue"); err != nil {
			t.Fatal(err)
		}
		if _, found, _, _ := n.store.Get("app/c"); found {
			t.Fatalf("C's write reached %s", n.cfg.NodeName)
		}
	}
	if _, found, _, _ := c.store.Get("app/marker"); found {
		t.Fatal("the mesh's write reached C")
	}
}

// TestOffLoopbackNeedsAuthentication: an agent bound to every interface
// without authentication fails New before it opens or binds anything,
// naming the ways out; with insecure_mesh (here the address it announces
// is what is off loopback, so that the test binds loopback only) it
// starts, warns and shows it in /v1/agent/self.
func TestOffLoopbackNeedsAuthentication(t *testing.T) {
	cfg := config.DevDefault()
	cfg.NodeName, cfg.DataDir, cfg.HTTPAddr = "exposed", t.TempDir(), "127.0.0.1:0"
	cfg.BindAddr, cfg.GossipPort, cfg.RPCPort = "0.0.0.0", 0, 0
	_, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if !errors.Is(err, ErrUnauthenticatedMesh) {
		t.Fatalf("New bound to 0.0.0.0 without authentication = %v, want ErrUnauthenticatedMesh", err)
	}
	for _, want := range []string{"bind_addr 0.0.0.0", "encrypt", "edgeplane keygen", "edgeplane tls ca create", "join_token", "insecure_mesh: true"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not name %q: %v", want, err)
		}
	}
	if entries, err := os.ReadDir(cfg.DataDir); err != nil || len(entries) != 0 {
		t.Fatalf("the refused agent left %v in its data dir (%v)", entries, err)
	}

	ta := newTestAgentWith(t, func(c *config.Config) {
		c.AdvertiseAddr = "192.0.2.1" // documentation range: announced, never dialled
		c.InsecureMesh = true
	})
	ta.run(t, Hooks{})
	ta.sock.WaitFor(wait, isReady)
	if !strings.Contains(ta.logs.String(), "insecure_mesh is set") {
		t.Fatalf("no warning of insecure_mesh in the log:\n%s", ta.logs)
	}
	self, err := apiClient(t, ta.Agent).Self(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rpc := self.Stats["rpc"]; rpc["insecure_mesh"] != "true" || rpc["trust"] != "pinned-unauthenticated" {
		t.Fatalf("rpc stats = %v, want insecure_mesh true", rpc)
	}
}
