package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	consul "github.com/hashicorp/consul/api"

	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/internal/promtext"
	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/agent/relay"
	"github.com/edgeplane/edgeplane/agent/telemetry"
	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/transport"
	"github.com/edgeplane/edgeplane/transport/tlsmesh"
)

const metricsToken = "metrics-token-0123456789"

// writeToken writes token into a file of mode 0600 and returns its path.
func writeToken(t *testing.T, token string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "metrics.token")
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// get sends GET url with the bearer token (none when empty) and returns
// the status and body.
func get(t *testing.T, c *http.Client, url, token string) (int, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// localInstances sums edgeplane_catalog_local_instances of an
// exposition: the services registered on the node that wrote it.
func localInstances(text string) (float64, error) {
	fams, err := promtext.Parse(text)
	if err != nil {
		return 0, err
	}
	sum := 0.0
	for _, st := range []string{"passing", "warning", "critical"} {
		v, ok := promtext.Value(fams, telemetry.CatalogLocalInstances, "status", st)
		if !ok {
			return 0, fmt.Errorf("no %s{status=%q}", telemetry.CatalogLocalInstances, st)
		}
		sum += v
	}
	return sum, nil
}

// TestMetricsAddrAndRelay runs three agents with metrics_addr, the first
// behind a bearer token. Its metrics_addr serves its own /metrics and,
// with ?node=, the other nodes' fetched over RPC, as does its local API's
// /v1/edgeplane/metrics/<node>; an unknown node is 404; other paths are
// 404; a missing or wrong token is 401. Each agent's own service is
// registered on its metrics port. The relay counts what it did.
func TestMetricsAddrAndRelay(t *testing.T) {
	tokenFile := writeToken(t, metricsToken)
	agents := startMeshOfAgents(t, 3, func(i int, c *config.Config) {
		c.MetricsAddr = "127.0.0.1:0"
		if i == 0 {
			c.MetricsBearerTokenFile = tokenFile
		}
	})
	gw, far := agents[0], agents[2]
	// far gets two services of its own: its metrics say 3 instances, the
	// others' 1 (each agent's own).
	farAPI, err := consul.NewClient(&consul.Config{Address: far.HTTPAddr().String()})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"far-1", "far-2"} {
		if err := farAPI.Agent().ServiceRegister(&consul.AgentServiceRegistration{ID: id, Name: "far", Port: 1}); err != nil {
			t.Fatal(err)
		}
	}

	c := &http.Client{}
	base := "http://" + gw.MetricsAddr().String()
	api := "http://" + gw.HTTPAddr().String()
	instances := func(url, token string) (float64, error) {
		code, body, err := get(t, c, url, token)
		if err != nil {
			return 0, err
		}
		if code != http.StatusOK {
			return 0, fmt.Errorf("GET %s: %d %q", url, code, body)
		}
		return localInstances(body)
	}
	// The gateway's own metrics, then far's through both relays.
	if n, err := instances(base+"/metrics", metricsToken); err != nil || n != 1 {
		t.Fatalf("the gateway's own metrics: %v instances, %v", n, err)
	}
	for _, url := range []string{base + "/metrics?node=" + far.cfg.NodeName, api + "/v1/edgeplane/metrics/" + far.cfg.NodeName} {
		testutil.Eventually(t, 30*time.Second, func() error {
			n, err := instances(url, metricsToken)
			if err == nil && n != 3 {
				err = fmt.Errorf("GET %s: %v instances, want far's 3", url, n)
			}
			return err
		})
	}
	// Its own name through the relay: its own metrics.
	if n, err := instances(base+"/metrics?node="+gw.cfg.NodeName, metricsToken); err != nil || n != 1 {
		t.Errorf("the gateway's metrics through its relay: %v instances, %v", n, err)
	}

	// An unknown node: 404 with a clear message, on both.
	for _, url := range []string{base + "/metrics?node=nowhere", api + "/v1/edgeplane/metrics/nowhere",
		base + "/metrics?node=../v1/agent/self", api + "/v1/edgeplane/metrics/%2e%2e%2fagent%2fself"} {
		code, body, err := get(t, c, url, metricsToken)
		if err != nil || code != http.StatusNotFound || !strings.Contains(body, "no live member named") {
			t.Errorf("GET %s: %d %q %v, want 404 naming no live member", url, code, body, err)
		}
	}
	// Other paths, with the token: 404; without it or with a wrong one:
	// 401, and counted.
	for _, path := range []string{"/", "/v1/agent/self", "/v1/agent/metrics", "/v1/kv/app?recurse", "/v1/agent/members",
		"/v1/edgeplane/metrics/" + far.cfg.NodeName, "/metrics/x"} {
		if code, body, err := get(t, c, base+path, metricsToken); err != nil || code != http.StatusNotFound {
			t.Errorf("GET %s on metrics_addr: %d %q %v, want 404", path, code, body, err)
		}
	}
	for _, token := range []string{"", "wrong-token-0123456789", metricsToken + "x"} {
		for _, path := range []string{"/metrics", "/metrics?node=" + far.cfg.NodeName} {
			code, body, err := get(t, c, base+path, token)
			if err != nil || code != http.StatusUnauthorized || strings.Contains(body, "edgeplane_") {
				t.Errorf("GET %s with token %q: %d %q %v, want 401", path, token, code, body, err)
			}
		}
	}
	// Without a token, the others' metrics_addr answer anyone on loopback.
	if n, err := instances("http://"+far.MetricsAddr().String()+"/metrics", ""); err != nil || n != 3 {
		t.Errorf("far's own metrics_addr: %v instances, %v", n, err)
	}

	// The agent's own service is on the metrics port, found by Consul's
	// client as consul_sd finds it.
	testutil.Eventually(t, 30*time.Second, func() error {
		entries, _, err := farAPI.Catalog().Service("edgeplane", "", nil)
		if err != nil {
			return err
		}
		ports := map[string]int{}
		for _, e := range entries {
			ports[e.Node] = e.ServicePort
		}
		for _, a := range agents {
			want := a.MetricsAddr().(*net.TCPAddr).Port
			if ports[a.cfg.NodeName] != want {
				return fmt.Errorf("service edgeplane on %s has port %d, want metrics_addr's %d (all: %v)", a.cfg.NodeName, ports[a.cfg.NodeName], want, ports)
			}
		}
		return nil
	})

	// What the gateway counted.
	code, body, err := get(t, c, base+"/metrics", metricsToken)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", code, err)
	}
	fams, err := promtext.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		name   string
		labels []string
		least  float64
	}{
		{telemetry.MetricsRelayed, []string{"result", "ok"}, 3},
		{telemetry.MetricsRelayed, []string{"result", "unknown_node"}, 4},
		{telemetry.MetricsAddrRefused, nil, 6},
	} {
		if v, ok := promtext.Value(fams, want.name, want.labels...); !ok || v < want.least {
			t.Errorf("%s%v = %v (found %v), want at least %v", want.name, want.labels, v, ok, want.least)
		}
	}
}

// wireChunk is relay's answer message as a hostile peer writes it.
type wireChunk struct {
	Text []byte `cbor:"1,keyasint"`
}

// TestMetricsRelayAttacks: a member that answers the metrics call with
// too much (bytes, or endless empty messages) is cut off at the cap, one
// that never answers at the timeout, and past the relays allowed at once
// a fetch is refused at once; each is counted. The agent's relay has the
// package's limits (16 MiB, 5 s); these relays use smaller ones, to run
// quickly on a busy machine.
func TestMetricsRelayAttacks(t *testing.T) {
	agents := startMeshOfAgents(t, 2, nil)
	a, hostile := agents[0], agents[1]
	peer := hostile.cfg.NodeName
	newRelay := func(t *testing.T, adjust func(c *relay.Config)) *relay.Relay {
		cfg := relayConfig(a.cfg.NodeName, a.rpc, staticMetrics("# local\n"))
		adjust(&cfg)
		r, err := relay.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	serve := func(h func(ctx context.Context, send func(*wireChunk) error) error) {
		hostile.rpc.srv.HandleStream(relay.MethodMetrics, transport.ServerStreaming(
			func(ctx context.Context, _ *struct{}, send func(*wireChunk) error) error { return h(ctx, send) }))
	}

	t.Run("too many bytes", func(t *testing.T) {
		serve(func(ctx context.Context, send func(*wireChunk) error) error {
			big := make([]byte, relay.ChunkSize)
			for i := 0; i < 1000 && ctx.Err() == nil; i++ {
				if err := send(&wireChunk{Text: big}); err != nil {
					return err
				}
			}
			return nil
		})
		r := newRelay(t, func(c *relay.Config) { c.MaxBytes = 1 << 20; c.Timeout = time.Minute })
		text, err := r.Fetch(t.Context(), peer)
		if !errors.Is(err, relay.ErrTooLarge) || text != nil {
			t.Fatalf("Fetch = %d bytes, %v; want ErrTooLarge", len(text), err)
		}
		if s := r.Stats(); s.TooLarge != 1 || s.OK != 0 {
			t.Errorf("stats %+v", s)
		}
	})
	t.Run("endless empty messages", func(t *testing.T) {
		serve(func(ctx context.Context, send func(*wireChunk) error) error {
			for i := 0; i < 1_000_000 && ctx.Err() == nil; i++ {
				if err := send(&wireChunk{}); err != nil {
					return err
				}
			}
			return nil
		})
		r := newRelay(t, func(c *relay.Config) { c.Timeout = time.Minute })
		if _, err := r.Fetch(t.Context(), peer); !errors.Is(err, relay.ErrTooLarge) {
			t.Fatalf("Fetch: %v, want ErrTooLarge", err)
		}
	})
	t.Run("silence", func(t *testing.T) {
		serve(func(ctx context.Context, send func(*wireChunk) error) error {
			<-ctx.Done() // the caller's deadline, or its cancel
			return ctx.Err()
		})
		r := newRelay(t, func(c *relay.Config) { c.Timeout = 200 * time.Millisecond })
		if _, err := r.Fetch(t.Context(), peer); err == nil || errors.Is(err, relay.ErrTooLarge) {
			t.Fatalf("Fetch of a silent peer: %v, want a deadline error", err)
		}
		if s := r.Stats(); s.Failed != 1 {
			t.Errorf("stats %+v, want 1 failed", s)
		}
	})
	t.Run("busy", func(t *testing.T) {
		called := make(chan struct{}, 1)
		release := make(chan struct{})
		serve(func(ctx context.Context, send func(*wireChunk) error) error {
			called <- struct{}{}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-release:
			}
			return send(&wireChunk{Text: []byte("# late\n")})
		})
		r := newRelay(t, func(c *relay.Config) { c.MaxInFlight = 1; c.Timeout = time.Minute })
		done := make(chan error, 1)
		go func() { _, err := r.Fetch(t.Context(), peer); done <- err }()
		select {
		case <-called:
		case <-time.After(30 * time.Second):
			t.Fatal("the first fetch never reached the peer")
		}
		if _, err := r.Fetch(t.Context(), peer); !errors.Is(err, relay.ErrBusy) {
			t.Errorf("second Fetch: %v, want ErrBusy", err)
		}
		close(release)
		if err := <-done; err != nil {
			t.Errorf("first Fetch: %v", err)
		}
		if s := r.Stats(); s.Busy != 1 || s.OK != 1 {
			t.Errorf("stats %+v, want 1 busy, 1 ok", s)
		}
	})
}

// staticMetrics writes a fixed exposition.
type staticMetrics string

func (s staticMetrics) WritePrometheus(w io.Writer) { io.WriteString(w, string(s)) }

// TestMetricsMethodServesOnlyMetrics: the metrics method's request
// chooses nothing. A member that sends paths, methods or keys in it
// gets the node's metrics, and nothing of its store.
func TestMetricsMethodServesOnlyMetrics(t *testing.T) {
	agents := startMeshOfAgents(t, 2, nil)
	a, b := agents[0], agents[1]
	if _, err := b.store.Put("secret/key", []byte("s3cret-value"), 0); err != nil {
		t.Fatal(err)
	}
	mem, _ := a.rpc.members.live(b.cfg.NodeName)
	to := transport.Peer{Node: b.cfg.NodeName, Addr: mem.Tags[gossip.MetaRPC]}
	for _, req := range []any{
		map[int]any{1: "x", 2: "/v1/kv/secret/key", 3: "GET"},
		map[string]any{"path": "/v1/kv/secret/key?raw", "method": "PUT", "body": "x"},
		map[int]any{},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		st, err := a.rpc.client.Stream(ctx, to, relay.MethodMetrics, req)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		var text strings.Builder
		for i := 0; i < 1000; i++ {
			var c wireChunk
			if err := st.Recv(&c); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("request %v: %v", req, err)
			}
			text.Write(c.Text)
		}
		st.Close()
		cancel()
		s := text.String()
		if !strings.HasPrefix(s, "# HELP edgeplane_") || strings.Contains(s, "s3cret") {
			t.Errorf("request %v answered %.200q", req, s)
		}
		if _, err := promtext.Parse(s); err != nil {
			t.Errorf("request %v: %v", req, err)
		}
	}
}

// TestMetricsAddrTLS: with metrics_tls, metrics_addr serves TLS with the
// node's fleet certificate: a client that trusts the fleet CA and names
// the node reads /metrics with the token; plain HTTP, a client without
// the CA, or one naming another node get no metrics.
func TestMetricsAddrTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := tlsmesh.CreateCA(dir, tlsmesh.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := ca.WriteNodeCert(t.TempDir(), "gw", tlsmesh.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a := startInProcess(t, "gw", "", func(c *config.Config) {
		c.TLS = config.TLSConfig{CAFile: filepath.Join(dir, "ca.pem"), CertFile: certFile, KeyFile: keyFile}
		c.MetricsAddr, c.MetricsTLS, c.MetricsBearerTokenFile = "127.0.0.1:0", true, writeToken(t, metricsToken)
	})
	addr := a.MetricsAddr().String()
	client := func(roots *x509.CertPool, name string) *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: name}}}
	}

	code, body, err := get(t, client(ca.Pool(), "gw"), "https://"+addr+"/metrics", metricsToken)
	if err != nil || code != http.StatusOK || !strings.Contains(body, telemetry.BuildInfo) {
		t.Fatalf("TLS with the fleet CA: %d %.100q %v", code, body, err)
	}
	if code, _, err := get(t, client(ca.Pool(), "gw"), "https://"+addr+"/metrics", ""); err != nil || code != http.StatusUnauthorized {
		t.Errorf("TLS without the token: %d %v, want 401", code, err)
	}
	// Plain HTTP gets Go's 400 for HTTP on a TLS port, never metrics.
	code, body, err = get(t, &http.Client{}, "http://"+addr+"/metrics", metricsToken)
	if err == nil && (code == http.StatusOK || strings.Contains(body, "edgeplane_")) {
		t.Errorf("plain HTTP: %d %.100q", code, body)
	}
	other, err := tlsmesh.NewCA(tlsmesh.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*http.Client{
		"another CA":   client(other.Pool(), "gw"),
		"system roots": client(nil, "gw"),
		"another node": client(ca.Pool(), "node-2"),
	} {
		if _, _, err := get(t, c, "https://"+addr+"/metrics", metricsToken); err == nil {
			t.Errorf("%s: the handshake succeeded", name)
		}
	}
	// The agent's own service is on the TLS port.
	port := a.MetricsAddr().(*net.TCPAddr).Port
	if inst, ok := ownServicePort(a); !ok || inst != port {
		t.Errorf("service edgeplane on port %d (found %v), want %d", inst, ok, port)
	}
}

// ownServicePort returns the port of the agent's own service in its
// catalog.
func ownServicePort(a *Agent) (int, bool) {
	c, err := consul.NewClient(&consul.Config{Address: a.HTTPAddr().String()})
	if err != nil {
		return 0, false
	}
	s, _, err := c.Agent().Service("edgeplane", nil)
	if err != nil {
		return 0, false
	}
	return s.Port, true
}

// BenchmarkMetricsRelay measures one relayed scrape of a member's
// metrics (its real exposition) over loopback QUIC, with its size.
func BenchmarkMetricsRelay(b *testing.B) {
	agents := startMeshOfAgents(b, 2, nil)
	a, peer := agents[0], agents[1].cfg.NodeName
	var size int
	b.ReportAllocs()
	for b.Loop() {
		text, err := a.relay.Fetch(b.Context(), peer)
		if err != nil {
			b.Fatal(err)
		}
		size = len(text)
	}
	b.ReportMetric(float64(size), "bytes/scrape")
}
