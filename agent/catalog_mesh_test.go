package agent

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	consul "github.com/hashicorp/consul/api"

	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/store"
)

// checkServer is an HTTP check's target that can be stopped and started
// again on the same address.
type checkServer struct {
	addr string
	srv  *http.Server
	done chan struct{}
}

func newCheckServer(t *testing.T) *checkServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &checkServer{addr: ln.Addr().String()}
	s.serve(ln)
	t.Cleanup(s.stop)
	return s
}

func (s *checkServer) serve(ln net.Listener) {
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") })}
	s.done = make(chan struct{})
	go func() { defer close(s.done); s.srv.Serve(ln) }()
}

func (s *checkServer) stop() {
	if s.srv != nil {
		s.srv.Close()
		<-s.done
		s.srv = nil
	}
}

func (s *checkServer) start(t *testing.T) {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	s.serve(ln)
}

// webOn returns the instances of web that agent c's
// /v1/health/service/web shows, by node, with their aggregated status.
func webOn(c *consul.Client) (map[string]string, error) {
	entries, _, err := c.Health().Service("web", "", false, nil)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, e := range entries {
		out[e.Node.Node] = e.Checks.AggregatedStatus()
	}
	return out, nil
}

// TestCatalogAcrossFiveAgents follows one instance of web, with an HTTP
// check run by its own agent A on a fake clock, as another agent C of a
// five-node mesh sees it: passing, critical when the checked server
// stops, passing again; critical once A is killed, without a single
// store write anywhere; back when A restarts from its data dir; back
// after a record deleted behind A's back; hidden while A has left;
// removed everywhere when A comes back with its data dir wiped; and, once
// a dead A is reaped, tombstoned for good.
func TestCatalogAcrossFiveAgents(t *testing.T) {
	clock := testutil.NewFakeClock(time.Now())
	dirA := t.TempDir()
	opts := buildOptions{catalogClock: clock}
	tuned := func(c *config.Config) {
		c.LeaveOnTerminate = false // a stopped agent fails, as a killed one
		c.ReconnectInterval = config.Duration{Duration: 100 * time.Millisecond}
		c.ReconnectTimeout = config.Duration{Duration: 8 * time.Second}
		c.DeadNodeReclaim = config.Duration{Duration: 100 * time.Millisecond}
	}
	startA := func(join string) (*Agent, func()) {
		return startWith(t, "cat-a", join, func(c *config.Config) { tuned(c); c.DataDir = dirA }, opts)
	}
	a, stopA := startA("")
	others := make([]*Agent, 4)
	for i := range others {
		others[i], _ = startWith(t, fmt.Sprintf("cat-%c", 'b'+i), a.mesh.LocalMember().Address(), tuned, opts)
	}
	b, c := others[0], others[1]
	seeAll := func(n int, agents ...*Agent) {
		t.Helper()
		testutil.Eventually(t, time.Minute, func() error {
			for _, ag := range agents {
				if alive := ag.mesh.NumAlive(); alive != n {
					return fmt.Errorf("%s sees %d alive, want %d", ag.cfg.NodeName, alive, n)
				}
			}
			return nil
		})
	}
	seeAll(5, append(others, a)...)
	cc := consulClient(t, c)

	// seen waits until C shows web as want (node → status; empty: none),
	// advancing the fake clock by step at each look, so that A's check
	// runs and its catalog's timers fire.
	seen := func(what string, step time.Duration, want map[string]string) {
		t.Helper()
		testutil.Eventually(t, time.Minute, func() error {
			clock.Advance(step)
			got, err := webOn(cc)
			if err != nil {
				return err
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				return fmt.Errorf("%s: C shows web %v, want %v", what, got, want)
			}
			return nil
		})
	}

	target := newCheckServer(t)
	register := func(ag *Agent) {
		t.Helper()
		err := consulClient(t, ag).Agent().ServiceRegister(&consul.AgentServiceRegistration{Name: "web", Port: 8080,
			Check: &consul.AgentServiceCheck{HTTP: "http://" + target.addr + "/health", Interval: "10s"}})
		if err != nil {
			t.Fatal(err)
		}
	}
	register(a)
	seen("A's HTTP check runs", 10*time.Second, map[string]string{"cat-a": consul.HealthPassing})
	target.stop()
	seen("the checked server stopped", 10*time.Second, map[string]string{"cat-a": consul.HealthCritical})
	target.start(t)
	seen("the checked server back", 10*time.Second, map[string]string{"cat-a": consul.HealthPassing})

	// A is killed: C learns it from membership alone. No store of the
	// survivors is written meanwhile.
	stopA()
	indexes := make([]uint64, len(others))
	for i, ag := range others {
		indexes[i] = ag.store.Index()
	}
	seen("A killed", 0, map[string]string{"cat-a": consul.HealthCritical})
	for i, ag := range others {
		if got := ag.store.Index(); got != indexes[i] {
			t.Errorf("%s: store index %d → %d while A was found dead: a failure must cost no write", ag.cfg.NodeName, indexes[i], got)
		}
	}

	// A restarts from its data dir: its registration and check are back.
	a, stopA = startA(b.mesh.LocalMember().Address())
	seeAll(5, a, c)
	seen("A restarted", 10*time.Second, map[string]string{"cat-a": consul.HealthPassing})

	// B deletes A's instance behind A's back: A writes it back, over the
	// tombstone, on every node.
	key := catalog.ServiceKey("cat-a", "web")
	var tomb store.Record
	if err := b.store.Update(func(tx *store.Tx) error {
		if _, err := tx.Delete(catalog.Table, key); err != nil {
			return err
		}
		e, _, err := tx.Get(catalog.Table, key)
		tomb = e.Record
		return err
	}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, time.Minute, func() error {
		clock.Advance(catalog.DefaultSyncInterval / 6)
		for _, ag := range append(others, a) {
			var e store.Entry
			_ = ag.store.View(func(tx *store.Tx) error { e, _, _ = tx.Get(catalog.Table, key); return nil })
			if e.Deleted || store.Compare(&e.Record, &tomb) <= 0 {
				return fmt.Errorf("%s holds A's instance at %+v, not written back over B's tombstone", ag.cfg.NodeName, e.Record)
			}
		}
		return nil
	})
	// The fake clock steps by the check's interval: a probe of A's that
	// timed out under load is run again, not left critical.
	seen("A's record written back", 10*time.Second, map[string]string{"cat-a": consul.HealthPassing})

	// A leaves: hidden on C, its records kept; back when A returns.
	if err := consulClient(t, a).Agent().Leave(); err != nil {
		t.Fatal(err)
	}
	stopA()
	seen("A left", 0, map[string]string{})
	if _, ok := catalogRecord(c, key); !ok {
		t.Error("a left node's records were removed on C")
	}
	a, stopA = startA(b.mesh.LocalMember().Address())
	seeAll(5, a, c)
	seen("A back after leaving", 10*time.Second, map[string]string{"cat-a": consul.HealthPassing})

	// A's data dir is wiped: the node that comes back under its name, with
	// a new identity (its old name freed with force-leave -prune), holds no
	// registration, and removes A's stale instance from every node.
	stopA()
	testutil.Eventually(t, time.Minute, func() error {
		if m, ok := b.mesh.Member("cat-a"); ok && m.Status != gossip.StatusFailed {
			return fmt.Errorf("A is %v on B", m.Status)
		}
		return nil
	})
	if err := consulClient(t, b).Agent().ForceLeaveOptions("cat-a", consul.ForceLeaveOpts{Prune: true}, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dirA); err != nil {
		t.Fatal(err)
	}
	a, stopA = startA(b.mesh.LocalMember().Address())
	seeAll(5, a, c)
	testutil.Eventually(t, time.Minute, func() error {
		clock.Advance(catalog.DefaultSyncInterval / 6)
		for _, ag := range append(others, a) {
			if _, ok := catalogRecord(ag, key); ok {
				return fmt.Errorf("A's stale instance is still live on %s", ag.cfg.NodeName)
			}
		}
		return nil
	})
	seen("A wiped", 0, map[string]string{})

	// A registers again, then dies for good: once reaped, its records are
	// tombstoned, and stay so through the survivors' anti-entropy.
	register(a)
	seen("A registered again", 10*time.Second, map[string]string{"cat-a": consul.HealthPassing})
	stopA()
	testutil.Eventually(t, time.Minute, func() error {
		if _, ok := c.mesh.Member("cat-a"); ok {
			return errors.New("A is not reaped yet")
		}
		if _, ok := catalogRecord(c, key); ok {
			return errors.New("A was reaped but its instance is live on C")
		}
		return nil
	})
	testutil.Eventually(t, time.Minute, func() error {
		for _, ag := range others {
			if _, ok := catalogRecord(ag, key); ok {
				return fmt.Errorf("A's instance is live on %s after it was reaped", ag.cfg.NodeName)
			}
		}
		return nil
	})
	clock.Advance(2 * catalog.DefaultSyncInterval)
	for _, ag := range others {
		if _, ok := catalogRecord(ag, key); ok {
			t.Errorf("A's instance came back on %s after it was reaped", ag.cfg.NodeName)
		}
	}
	seen("A reaped", 0, map[string]string{})
}
