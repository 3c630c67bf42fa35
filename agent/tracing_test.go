package agent

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/agent/proxy"
	"github.com/edgeplane/edgeplane/agent/tracing/otlptest"
)

// TestReloadTracing: a new tracing.sample_ratio applies at once, from
// the next trace; a new tracing.otlp_endpoint needs a restart.
func TestReloadTracing(t *testing.T) {
	ta := newTestAgent(t)
	change := ta.runReloadable(t)
	if r := ta.tracer.SampleRatio(); r != 1 {
		t.Fatalf("default sample ratio %v", r)
	}
	change(func(c *config.Config) {
		c.Tracing.SampleRatio = 0.125
		c.Tracing.OTLPEndpoint = "http://127.0.0.1:4318/v1/traces"
	})
	res, err := ta.Reload()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Applied, []string{"tracing.sample_ratio"}) || !slices.Equal(res.RestartRequired, []string{"tracing.otlp_endpoint"}) {
		t.Fatalf("Reload = %+v", res)
	}
	if r := ta.tracer.SampleRatio(); r != 0.125 {
		t.Fatalf("sample ratio after the reload %v", r)
	}
	if now := ta.sup.current(); now.Tracing.SampleRatio != 0.125 || now.Tracing.OTLPEndpoint != "" || ta.tracer.Exporting() {
		t.Fatalf("running configuration %+v", now.Tracing)
	}
}

// TestTracingBetweenAgents: with tracing.otlp_endpoint set on both
// agents, a call from checkout on one to billing on the other keeps the
// application's trace id, billing sees the destination's span as its
// parent, and both agents' spans reach the collector, named by their
// node. The last spans are exported when the agents stop.
func TestTracingBetweenAgents(t *testing.T) {
	col := otlptest.New(t)
	var parent atomic.Value
	billing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parent.Store(r.Header.Get("Traceparent"))
	}))
	defer billing.Close()
	_, port, _ := net.SplitHostPort(billing.Listener.Addr().String())
	billingPort, _ := strconv.Atoi(port)
	upstream := freeLoopbackAddr(t)

	a, stopA := startWith(t, "tr-a", "", func(c *config.Config) {
		c.Tracing.OTLPEndpoint = col.Endpoint()
		c.Services = []config.ServiceDef{{Name: "checkout", Port: 8080,
			Upstreams: []config.UpstreamDef{{Service: "billing", LocalBind: upstream, Protocol: "http"}}}}
	}, buildOptions{})
	_, stopB := startWith(t, "tr-b", a.mesh.LocalMember().Address(), func(c *config.Config) {
		c.Tracing.OTLPEndpoint = col.Endpoint()
		c.Services = []config.ServiceDef{{Name: "billing", Address: "127.0.0.1", Port: billingPort}}
	}, buildOptions{})

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	const appSpan = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	testutil.Eventually(t, time.Minute, func() error {
		req, _ := http.NewRequest("GET", "http://"+upstream+"/charge", nil)
		req.Header.Set("Traceparent", appSpan)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d %s", resp.StatusCode, resp.Header.Get(proxy.ErrorHeader))
		}
		return nil
	})
	got, _ := parent.Load().(string)
	if !strings.HasPrefix(got, "00-0af7651916cd43dd8448eb211c80319c-") || got == appSpan {
		t.Fatalf("billing got traceparent %q", got)
	}
	stopA()
	stopB()
	hosts := map[string]string{} // kind: node
	for _, s := range col.Spans(t) {
		if s.TraceID() == "0af7651916cd43dd8448eb211c80319c" && s.Attr("http.response.status_code") == "200" {
			hosts[s.Kind.String()] = s.Resource["host.name"]
			if s.Kind.String() == "SPAN_KIND_SERVER" && !strings.Contains(got, s.SpanID()) {
				t.Errorf("billing's parent %q is not the server span %s", got, s.SpanID())
			}
		}
	}
	if hosts["SPAN_KIND_CLIENT"] != "tr-a" || hosts["SPAN_KIND_SERVER"] != "tr-b" {
		t.Fatalf("spans from %v", hosts)
	}
}
