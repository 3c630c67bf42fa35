package api_test

import (
	"context"
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

func keysOf(l api.KVList) string {
	var ks []string
	for _, p := range l.Pairs {
		ks = append(ks, p.Key+"="+string(p.Value))
	}
	return strings.Join(ks, ",")
}

// TestWatchSeesChanges watches a prefix on a real store: the first answer
// is the prefix as it is, then each write and delete under it comes as an
// answer with a larger index, and a write elsewhere wakes nobody.
func TestWatchSeesChanges(t *testing.T) {
	a := apitest.Start(t)
	ctx := testContext(t)
	kv := a.Client.KV()
	put := func(k, v string) {
		t.Helper()
		if err := kv.Put(ctx, api.KVPair{Key: k, Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	put("app/a", "1")
	steps := []struct {
		want string // the answer expected
		then func() // the change made after it
	}{
		{"app/a=1", func() { put("other/x", "y"); put("app/b", "2") }},
		{"app/a=1,app/b=2", func() { kv.Delete(ctx, "app/a") }},
		{"app/b=2", nil},
	}
	var last uint64
	n := 0
	for l, err := range kv.Watch(ctx, "app/", api.WatchOptions{Wait: time.Minute}) {
		if err != nil {
			t.Fatal(err)
		}
		if got := keysOf(l); got != steps[n].want || l.Index <= last {
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
}

// TestWatchEndsWithContext cancels the context of a watch blocked in a
// query: the loop ends at once, yielding nothing more.
func TestWatchEndsWithContext(t *testing.T) {
	a := apitest.Start(t)
	ctx, cancel := context.WithCancel(testContext(t))
	answers := make(chan api.KVList, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for l, err := range a.Client.KV().Watch(ctx, "app/", api.WatchOptions{Wait: time.Minute}) {
			if err != nil {
				t.Error(err)
				return
			}
			answers <- l
		}
	}()
	select {
	case <-answers:
	case <-time.After(15 * time.Second):
		t.Fatal("no first answer")
	}
	cancel() // the watch now blocks on an empty prefix
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("the watch did not end with its context")
	}
	if len(answers) != 0 {
		t.Fatalf("the watch yielded %d more answers", len(answers))
	}
}

// TestWatchBacksOff watches through an agent that is down: each failure
// comes as a RetryError counting the failures in a row, with the pause of
// the backoff, which a fake clock records instead of sleeping.
func TestWatchBacksOff(t *testing.T) {
	c, err := api.NewClient(api.Config{Address: apitest.DeadAddress(t)})
	if err != nil {
		t.Fatal(err)
	}
	clock := resilience.NewFakeClock(time.Unix(1_700_000_000, 0))
	backoff := resilience.Retry{BackoffBase: 100 * time.Millisecond, BackoffCap: 400 * time.Millisecond}
	opts := api.WatchOptions{Backoff: backoff, Clock: clock, Jitter: func() float64 { return 0.5 }}
	var delays []time.Duration
	for _, err := range c.KV().Watch(testContext(t), "app/", opts) {
		var retry *api.RetryError
		if !errors.As(err, &retry) || !errors.Is(err, api.ErrUnreachable) {
			t.Fatalf("watch with no agent yielded %v", err)
		}
		if retry.Failures != len(delays)+1 {
			t.Fatalf("failure %d counted as %d", len(delays)+1, retry.Failures)
		}
		if !strings.Contains(retry.Error(), "retrying in "+retry.Delay.String()) {
			t.Fatalf("RetryError = %q", retry.Error())
		}
		delays = append(delays, retry.Delay)
		if len(delays) == 5 {
			break
		}
	}
	var want []time.Duration
	for n := 1; n <= 5; n++ {
		want = append(want, backoff.Backoff(n, 0.5))
	}
	if !slices.Equal(delays, want) {
		t.Fatalf("delays %v, want %v", delays, want)
	}
	// Slept after each failure but the last, where the loop broke.
	if got := clock.Sleeps(); !slices.Equal(got, want[:4]) {
		t.Fatalf("slept %v, want %v", got, want[:4])
	}
}

// TestWatchIndexes runs a watch against a scripted agent: an error is
// retried with a read that does not block, an index that goes backwards
// restarts from 0, a 404 is an empty prefix, and a 400 ends the watch.
func TestWatchIndexes(t *testing.T) {
	type answer struct {
		status int
		index  uint64
		body   string
	}
	answers := []answer{
		{200, 10, `[{"Key":"a","Value":"MQ==","ModifyIndex":10}]`},
		{500, 0, "store failure"},
		{200, 12, `[{"Key":"a","Value":"MQ==","ModifyIndex":10},{"Key":"b","Value":"Mg==","ModifyIndex":12}]`},
		{200, 5, `[{"Key":"b","Value":"Mg==","ModifyIndex":5}]`}, // the store was replaced
		{200, 0, `[{"Key":"b","Value":"Mg==","ModifyIndex":5}]`}, // an index of 0 never blocks
		{404, 6, ""},
		{200, 6, `not json`},
		{400, 0, "unsupported query parameter"},
	}
	var (
		mu      sync.Mutex
		queries []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n := len(queries)
		queries = append(queries, r.URL.Query().Get("index")+"/"+r.URL.Query().Get("wait"))
		mu.Unlock()
		a := answers[n]
		if a.index > 0 || a.status == 200 {
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
	opts := api.WatchOptions{Wait: 7 * time.Second, Clock: resilience.NewFakeClock(time.Unix(0, 0))}
	var got []string
	for l, err := range c.KV().Watch(testContext(t), "p/", opts) {
		var retry *api.RetryError
		switch {
		case errors.As(err, &retry):
			got = append(got, fmt.Sprintf("retry %d", retry.Failures))
		case err != nil:
			got = append(got, "error "+err.Error())
		default:
			got = append(got, fmt.Sprintf("%d:%s", l.Index, keysOf(l)))
		}
	}
	want := []string{
		"10:a=1", "retry 1", "12:a=1,b=2", "5:b=2", "0:b=2", "6:", "retry 1",
		"error unexpected response code: 400 (unsupported query parameter)",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("yielded\n%q\nwant\n%q", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	wantQueries := []string{"/", "10/7s", "/", "12/7s", "/", "1/7s", "6/7s", "/"}
	if !slices.Equal(queries, wantQueries) {
		t.Fatalf("queries %q, want %q", queries, wantQueries)
	}
}
