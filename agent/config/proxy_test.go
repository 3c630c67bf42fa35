package config

import (
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/proxy"
	"github.com/edgeplane/edgeplane/transport/resilience"
)

// Upstreams of the configured services and communication blocks become
// the proxy's listeners and rules.
func TestProxyConfig(t *testing.T) {
	file := writeFile(t, t.TempDir(), "p.yaml", `
services:
  - name: checkout
    port: 8080
    upstreams:
      - {service: billing, local_bind: "127.0.0.1:9191", protocol: http}
      - {service: stock, local_bind: "127.0.0.1:9192"}
communication:
  - from: checkout
    to: billing
    timeout: 3s
    retry: {attempts: 2, per_try_timeout: 1s, backoff: {base: 25ms, max: 250ms}}
    circuit_breaker: {consecutive_failures: 5, open_for: 30s}
    balancer: least_outstanding
    locality: site_first
    max_concurrent: 256
  - {from: "*", to: stock, locality: site_only}
`)
	c := mustLoad(t, []string{"-config-file", file}, nil)
	ups := c.ProxyUpstreams()
	want := []proxy.Upstream{{Caller: "checkout", Service: "billing", LocalBind: "127.0.0.1:9191", Protocol: proxy.HTTP},
		{Caller: "checkout", Service: "stock", LocalBind: "127.0.0.1:9192", Protocol: proxy.HTTP}}
	if len(ups) != 2 || ups[0] != want[0] || ups[1] != want[1] {
		t.Fatalf("upstreams %+v, want %+v", ups, want)
	}
	pols, err := proxy.NewPolicies(c.ProxyRules())
	if err != nil {
		t.Fatal(err)
	}
	got := pols.For("checkout", "billing")
	if got.Timeout != 3*time.Second || got.Attempts != 2 || got.PerTryTimeout != time.Second ||
		got.Backoff != (resilience.Retry{BackoffBase: 25 * time.Millisecond, BackoffCap: 250 * time.Millisecond}) ||
		got.Breaker != (resilience.BreakerConfig{FailureThreshold: 5, CoolDown: 30 * time.Second}) ||
		got.Balancer != resilience.LeastOutstanding || got.Locality != proxy.SiteFirst || got.MaxConcurrent != 256 {
		t.Errorf("checkout → billing: %+v", got)
	}
	if got := pols.For("cart", "stock"); got.Locality != proxy.SiteOnly {
		t.Errorf("* → stock: %+v", got)
	}
	// Upstreams are not part of the registration.
	if _, err := c.ServiceRegistrations(); err != nil {
		t.Fatal(err)
	}
}

func TestProxyConfigRefused(t *testing.T) {
	tests := []struct{ name, yaml, key, want string }{
		{"upstream without service", "services:\n  - name: w\n    upstreams: [{local_bind: \"127.0.0.1:1\"}]\n", "services[0].upstreams[0].service", "required"},
		{"upstream bind", "services:\n  - name: w\n    upstreams: [{service: b, local_bind: \"localhost\"}]\n", "services[0].upstreams[0].local_bind", "IP address and port"},
		{"upstream protocol", "services:\n  - name: w\n    upstreams: [{service: b, local_bind: \"127.0.0.1:1\", protocol: smtp}]\n", "services[0].upstreams[0].protocol", "only http"},
		{"no from", "communication:\n  - {to: b}\n", "communication[0].from", "required"},
		{"locality", "communication:\n  - {from: a, to: b, locality: moon}\n", "communication[0].locality", "unknown locality"},
		{"attempts", "communication:\n  - {from: a, to: b, retry: {attempts: 50}}\n", "communication[0].retry.attempts", "between 1 and"},
		{"backoff", "communication:\n  - {from: a, to: b, retry: {backoff: {base: 1s, max: 10ms}}}\n", "communication[0].retry.backoff.max", "at least"},
		{"balancer", "communication:\n  - {from: a, to: b, balancer: fastest}\n", "communication[0].balancer", "unknown balancer"},
		{"per try over timeout", "communication:\n  - {from: a, to: b, timeout: 1s, retry: {per_try_timeout: 2s}}\n", "communication[0].retry.per_try_timeout", "must not exceed"},
		{"duplicate pair", "communication:\n  - {from: a, to: b}\n  - {from: a, to: b}\n", "communication[1].to", "also communication[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writeFile(t, t.TempDir(), "p.yaml", tt.yaml)
			_, err := load(t, []string{"-config-file", file}, nil)
			e := asError(err, tt.key)
			if e == nil || !strings.Contains(e.Error(), tt.want) || !strings.Contains(e.Error(), "p.yaml:") {
				t.Fatalf("error %v, want one for key %s saying %q at p.yaml:line", err, tt.key, tt.want)
			}
		})
	}
}
