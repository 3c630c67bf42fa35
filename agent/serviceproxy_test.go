package agent

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/agent/proxy"
)

// freeLoopbackAddr returns a loopback address with a port free a moment
// ago.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestProxyBetweenAgents: checkout on one agent calls billing on another
// through its upstream listener; billing sees who called, as the agents
// established it.
func TestProxyBetweenAgents(t *testing.T) {
	billing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s|%s|%s|%s", r.Header.Get(proxy.CallerServiceHdr), r.Header.Get(proxy.CallerNodeHdr),
			r.Header.Get(proxy.CallerSiteHdr), body)
	}))
	defer billing.Close()
	_, port, _ := net.SplitHostPort(billing.Listener.Addr().String())
	billingPort, _ := strconv.Atoi(port)
	upstream := freeLoopbackAddr(t)

	a, _ := startWith(t, "px-a", "", func(c *config.Config) {
		c.Site = "X"
		c.Services = []config.ServiceDef{{Name: "checkout", Port: 8080,
			Upstreams: []config.UpstreamDef{{Service: "billing", LocalBind: upstream, Protocol: "http"}}}}
	}, buildOptions{})
	startWith(t, "px-b", a.mesh.LocalMember().Address(), func(c *config.Config) {
		c.Site = "Y"
		c.Services = []config.ServiceDef{{Name: "billing", Address: "127.0.0.1", Port: billingPort}}
	}, buildOptions{})

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	testutil.Eventually(t, time.Minute, func() error {
		resp, err := client.Post("http://"+upstream+"/charge", "text/plain", strings.NewReader("42"))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if want := "checkout|px-a|X|42"; resp.StatusCode != 200 || string(body) != want {
			return fmt.Errorf("%d %s %q, want 200 %q", resp.StatusCode, resp.Header.Get(proxy.ErrorHeader), body, want)
		}
		return nil
	})
}

// TestProxyUpstreamsReload: a reload that changes a service's upstreams
// says "services" needs a restart, as the listeners are bound at start.
func TestProxyUpstreamsReload(t *testing.T) {
	ta := newTestAgent(t)
	change := ta.runReloadable(t)
	change(func(c *config.Config) {
		c.Services = []config.ServiceDef{{Name: "checkout", Port: 8080,
			Upstreams: []config.UpstreamDef{{Service: "billing", LocalBind: "127.0.0.1:9191"}}}}
	})
	res, err := ta.Reload()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(res.RestartRequired, "services") || slices.Contains(res.Applied, "services") {
		t.Fatalf("Reload = %+v, want services needing a restart", res)
	}
}
