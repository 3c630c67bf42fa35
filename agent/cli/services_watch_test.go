package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/internal/apitest"
	"github.com/edgeplane/edgeplane/agent/internal/testutil"
)

// startWatch runs the command line args in-process until the returned
// stop ends its context; stop returns its exit code.
func startWatch(t *testing.T, addr string, out, errb *testutil.SyncBuffer, args ...string) (stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	go func() { code <- Main(args, testEnv(ctx, addr, "", out, errb)) }()
	t.Cleanup(func() { cancel(); <-code })
	return func() int {
		t.Helper()
		cancel()
		select {
		case c := <-code:
			code <- c // for the cleanup
			return c
		case <-time.After(15 * time.Second):
			t.Fatalf("%s did not end with its context", strings.Join(args, " "))
			return -1
		}
	}
}

// TestServicesWatch runs services watch in-process on an agent until its
// context ends: the instances at once, then again when one is registered,
// not when another service is, then exit 0.
func TestServicesWatch(t *testing.T) {
	a := apitest.Start(t)
	ctx := context.Background()
	register := func(id, name string) {
		t.Helper()
		if err := a.Client.ServiceRegister(ctx, api.AgentServiceRegistration{ID: id, Name: name, Port: 80}); err != nil {
			t.Fatal(err)
		}
	}
	register("web-1", "web")
	var out, errb testutil.SyncBuffer
	stop := startWatch(t, a.Addr, &out, &errb, "services", "watch", "-format", "json", "-site", apitest.Site, "web")
	waitFor(t, &out, `"ID":"web-1"`)
	register("db", "db")
	register("web-2", "web")
	waitFor(t, &out, `"ID":"web-2"`)
	if c := stop(); c != 0 || errb.String() != "" {
		t.Fatalf("services watch ended with %d: %s", c, errb.String())
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	var want = [][]string{{"web-1"}, {"web-1", "web-2"}}
	if len(lines) != len(want) {
		t.Fatalf("services watch printed %d answers, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i, line := range lines {
		var entries []api.ServiceEntry
		if err := json.Unmarshal([]byte(line), &entries); err != nil {
			t.Fatalf("answer %d: %v: %s", i, err, line)
		}
		var ids []string
		for _, e := range entries {
			ids = append(ids, e.Service.ID)
		}
		if strings.Join(ids, ",") != strings.Join(want[i], ",") {
			t.Fatalf("answer %d holds %q, want %q", i, ids, want[i])
		}
	}

	// Another site has no instance: an empty array.
	var other testutil.SyncBuffer
	stop = startWatch(t, a.Addr, &other, &errb, "services", "watch", "-format", "json", "-site", "elsewhere", "web")
	waitFor(t, &other, "[]\n")
	if c := stop(); c != 0 || other.String() != "[]\n" {
		t.Fatalf("services watch of another site ended with %d: %q %s", c, other.String(), errb.String())
	}
}

// scriptedHealth is an agent that answers GET /v1/health/service/web
// with bodies in turn, at indexes 1, 2, ..., then blocks until the
// request ends. It counts the requests it got.
type scriptedHealth struct {
	bodies []string
	mu     sync.Mutex
	n      int
}

func (s *scriptedHealth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	n := s.n
	s.n++
	s.mu.Unlock()
	if r.URL.Path != "/v1/health/service/web" {
		http.NotFound(w, r)
		return
	}
	if n >= len(s.bodies) {
		<-r.Context().Done()
		return
	}
	w.Header().Set("X-Consul-Index", fmt.Sprint(n+1))
	fmt.Fprint(w, s.bodies[n])
}

func (s *scriptedHealth) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// TestServicesWatchSkipsSameAnswer watches a scripted agent whose second
// answer prints the same table as the first (only a check's output
// changed): it is not printed, the third is, after an empty line.
func TestServicesWatchSkipsSameAnswer(t *testing.T) {
	entry := func(id, output string) string {
		return `{"Node":{"Node":"n1","Address":"10.0.0.1"},"Service":{"ID":"` + id + `","Service":"web","Port":80},` +
			`"Checks":[{"CheckID":"serfHealth","Status":"passing","Output":"` + output + `"}]}`
	}
	h := &scriptedHealth{bodies: []string{
		"[" + entry("web-1", "a") + "]",
		"[" + entry("web-1", "b") + "]",
		"[" + entry("web-1", "b") + "," + entry("web-2", "b") + "]",
	}}
	srv := httptest.NewServer(h)
	defer srv.Close()
	var out, errb testutil.SyncBuffer
	stop := startWatch(t, srv.URL, &out, &errb, "services", "watch", "web")
	testutil.Eventually(t, 15*time.Second, func() error {
		if n := h.requests(); n <= len(h.bodies) {
			return fmt.Errorf("the agent got %d requests", n)
		}
		return nil
	})
	if c := stop(); c != 0 || errb.String() != "" {
		t.Fatalf("services watch ended with %d: %s", c, errb.String())
	}
	want := `Node  ID     Address   Port  Tags  Checks
n1    web-1  10.0.0.1  80    -     serfHealth=passing

Node  ID     Address   Port  Tags  Checks
n1    web-1  10.0.0.1  80    -     serfHealth=passing
n1    web-2  10.0.0.1  80    -     serfHealth=passing
`
	if out.String() != want {
		t.Fatalf("services watch printed\n%s\nwant\n%s", out.String(), want)
	}
}

func TestServicesWatchErrors(t *testing.T) {
	refused := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "Permission denied", http.StatusForbidden)
	}))
	defer refused.Close()
	run(t, refused.URL, "", "services", "watch", "web").
		expect(t, 1, "", `watching service "web": unexpected response code: 403 (Permission denied)`)
	run(t, apitest.DeadAddress(t), "", "services", "watch", "-max-errors", "1", "web").
		expect(t, 1, "", `watching service "web": giving up after 1 failed requests in a row: cannot reach the agent`)
	run(t, "", "", "services", "watch", "-format", "yaml", "web").expect(t, 1, "", `-format must be text or json, not "yaml"`)
	run(t, "", "", "services", "watch", "-wait", "11m", "web").expect(t, 1, "", "-wait must be more than 0 and at most 10m")
	run(t, "", "", "services", "watch").expect(t, 1, "", "services watch takes NAME, got 0 arguments")
}
