package api_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/internal/apitest"
	"github.com/edgeplane/edgeplane/transport/resilience"
)

func instancesOf(l api.HealthList) string {
	var ids []string
	for _, e := range l.Entries {
		ids = append(ids, e.Service.ID)
	}
	return strings.Join(ids, ",")
}

// TestHealthServiceWatchSeesChanges watches a service on a real agent:
// the first answer is its instances as they are, then each registration
// and deregistration of one comes as an answer with a larger index, and a
// registration of another service wakes nobody.
func TestHealthServiceWatchSeesChanges(t *testing.T) {
	a := apitest.Start(t)
	ctx := testContext(t)
	register := func(id, name string) {
		t.Helper()
		if err := a.Client.ServiceRegister(ctx, api.AgentServiceRegistration{ID: id, Name: name, Port: 80}); err != nil {
			t.Fatal(err)
		}
	}
	register("web-1", "web")
	steps := []struct {
		want string // the answer expected
		then func() // the change made after it
	}{
		{"web-1", func() { register("db", "db"); register("web-2", "web") }},
		{"web-1,web-2", func() { a.Client.ServiceDeregister(ctx, "web-1") }},
		{"web-2", nil},
	}
	var last uint64
	n := 0
	q := api.ServiceQuery{Site: apitest.Site}
	for l, err := range a.Client.HealthServiceWatch(ctx, "web", q, api.WatchOptions{Wait: time.Minute}) {
		if err != nil {
			t.Fatal(err)
		}
		if got := instancesOf(l); got != steps[n].want || l.Index <= last {
			t.Fatalf("answer %d = %q at index %d (after %d); want %q", n, got, l.Index, last, steps[n].want)
		}
		last = l.Index
		if steps[n].then == nil {
			break
		}
		steps[n].then()
		n++
	}
	if n != len(steps)-1 {
		t.Fatalf("the watch ended after %d answers", n+1)
	}

	// Another site has none of them.
	for l, err := range a.Client.HealthServiceWatch(ctx, "web", api.ServiceQuery{Site: "elsewhere"}, api.WatchOptions{}) {
		if err != nil || l.Entries == nil || len(l.Entries) != 0 || l.Index == 0 {
			t.Fatalf("watch of another site = %+v, %v; want an empty list", l, err)
		}
		break
	}
}

// TestHealthServiceWatchIndexes runs a watch against a scripted agent: it
// sends the query's filters with every request, answers at once, blocks
// on the last index, retries an error with a read that does not block,
// restarts from 0 when the index goes backwards, and ends on a 403.
func TestHealthServiceWatchIndexes(t *testing.T) {
	type answer struct {
		status int
		index  uint64
		body   string
	}
	answers := []answer{
		{200, 10, `[{"Service":{"ID":"web-1"}}]`},
		{200, 12, `[{"Service":{"ID":"web-1"}},{"Service":{"ID":"web-2"}}]`},
		{503, 0, "no leader"},
		{200, 12, `[{"Service":{"ID":"web-1"}},{"Service":{"ID":"web-2"}}]`},
		{200, 4, `[{"Service":{"ID":"web-2"}}]`}, // the store was replaced
		{200, 6, `[]`},
		{200, 7, ``}, // no body
		{403, 0, "Permission denied"},
	}
	var (
		mu      sync.Mutex
		queries []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		mu.Lock()
		n := len(queries)
		queries = append(queries, q.Get("index")+"/"+q.Get("wait"))
		mu.Unlock()
		if r.URL.Path != "/v1/health/service/web api" || q.Get("passing") != "1" || !slices.Equal(q["tag"], []string{"v1", "v2"}) ||
			!slices.Equal(q["node-meta"], []string{"rack:a", "site:west"}) {
			http.Error(w, "unexpected request "+r.URL.String(), http.StatusTeapot)
			return
		}
		a := answers[n]
		if a.index > 0 {
			w.Header().Set("X-Consul-Index", fmt.Sprint(a.index))
		}
		w.WriteHeader(a.status)
		fmt.Fprint(w, a.body)
	}))
	defer srv.Close()
	c, err := api.NewClient(api.Config{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	q := api.ServiceQuery{Tags: []string{"v1", "v2"}, NodeMeta: map[string]string{"rack": "a"}, Site: "west", Passing: true}
	opts := api.WatchOptions{Wait: 7 * time.Second, Clock: resilience.NewFakeClock(time.Unix(0, 0))}
	var got []string
	for l, err := range c.HealthServiceWatch(testContext(t), "web api", q, opts) {
		var retry *api.RetryError
		switch {
		case errors.As(err, &retry):
			got = append(got, fmt.Sprintf("retry %d", retry.Failures))
		case err != nil:
			got = append(got, "error "+err.Error())
		default:
			got = append(got, fmt.Sprintf("%d:%s", l.Index, instancesOf(l)))
		}
	}
	want := []string{
		"10:web-1", "12:web-1,web-2", "retry 1", "12:web-1,web-2", "4:web-2", "6:", "retry 1",
		"error unexpected response code: 403 (Permission denied)",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("yielded\n%q\nwant\n%q", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	wantQueries := []string{"/", "10/7s", "12/7s", "/", "12/7s", "/", "6/7s", "/"}
	if !slices.Equal(queries, wantQueries) {
		t.Fatalf("queries %q, want %q", queries, wantQueries)
	}
}
