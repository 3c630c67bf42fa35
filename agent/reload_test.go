package agent

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/edgeplane/edgeplane/agent/config"
)

// TestReloadNeedsRestart: ports, addresses, the timing profile and a
// change of trust mode answer "needs restart" and leave the running
// values; metrics_peer_limit applies at once.
func TestReloadNeedsRestart(t *testing.T) {
	ta := newTestAgent(t)
	change := ta.runReloadable(t)
	running := ta.sup.current()
	change(func(c *config.Config) {
		c.GossipPort, c.RPCPort, c.HTTPAddr = 17946, 17947, "127.0.0.1:18500"
		c.Profile = "wan"
		c.MetricsPeerLimit = 5
		c.TLS = config.TLSConfig{CAFile: "ca.pem", CertFile: "n.pem", KeyFile: "n-key.pem"}
	})
	res, err := ta.Reload()
	if err != nil {
		t.Fatal(err)
	}
	wantRestart := []string{"gossip_port", "rpc_port", "http_addr", "profile", "tls.ca_file", "tls.cert_file", "tls.key_file"}
	if !slices.Equal(res.Applied, []string{"metrics_peer_limit"}) || !slices.Equal(res.RestartRequired, wantRestart) || len(res.Rejected) != 0 {
		t.Fatalf("Reload = %+v, want metrics_peer_limit applied and %v needing a restart", res, wantRestart)
	}
	now := ta.sup.current()
	if now.GossipPort != running.GossipPort || now.Profile != running.Profile || now.TLS.Enabled() || now.MetricsPeerLimit != 5 {
		t.Fatalf("running configuration after the reload: %+v", now)
	}

	// The HTTP answer lists the three verdicts, each an array.
	req, _ := http.NewRequest(http.MethodPut, ta.url("/v1/agent/reload"), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rep map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil || resp.StatusCode != 200 {
		t.Fatalf("PUT /v1/agent/reload = %d %v", resp.StatusCode, err)
	}
	if string(rep["Applied"]) != "[]" || string(rep["Rejected"]) != "[]" || len(rep["RestartRequired"]) < 10 {
		t.Fatalf("PUT /v1/agent/reload = %s", rep)
	}
}
