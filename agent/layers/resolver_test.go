package layers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/store"
)

func openStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func put(t *testing.T, s *store.Store, key, value string) store.Entry {
	t.Helper()
	e, err := s.Put(key, []byte(value), 0)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func del(t *testing.T, s *store.Store, key string) uint64 {
	t.Helper()
	if _, err := s.Delete(key, nil); err != nil {
		t.Fatal(err)
	}
	e, _, _, err := s.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	return e.ModifyIndex
}

func newResolver(t *testing.T, names Names) *Resolver {
	t.Helper()
	r, err := New(Default, names)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var berlin = Names{Node: "n1", Site: "berlin", Env: "prod"}

func lookup(t *testing.T, r *Resolver, s *store.Store, key string) Resolution {
	t.Helper()
	res, err := r.Lookup(s, Query{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// winner returns the winning layer and value, or "-" for none.
func winner(res Resolution) string {
	c, ok := res.Value()
	if !ok {
		return "-"
	}
	return c.Layer + "=" + string(c.Entry.Value)
}

func TestMoreSpecificLayerWins(t *testing.T) {
	s := openStore(t)
	r := newResolver(t, berlin)
	steps := []struct {
		put, del string // one is set
		want     string
	}{
		{want: "-"},
		{put: "global/app/timeout", want: "global=global/app/timeout"},
		{put: "env/prod/app/timeout", want: "env/prod=env/prod/app/timeout"},
		{put: "env/dev/app/timeout", want: "env/prod=env/prod/app/timeout"}, // another environment
		{put: "site/berlin/app/timeout", want: "site/berlin=site/berlin/app/timeout"},
		{put: "node/n2/app/timeout", want: "site/berlin=site/berlin/app/timeout"}, // another node
		{put: "node/n1/app/timeout", want: "node/n1=node/n1/app/timeout"},
		{del: "node/n1/app/timeout", want: "site/berlin=site/berlin/app/timeout"}, // a tombstone does not win
		{del: "site/berlin/app/timeout", want: "env/prod=env/prod/app/timeout"},
		{del: "env/prod/app/timeout", want: "global=global/app/timeout"},
		{del: "global/app/timeout", want: "-"},
	}
	for i, st := range steps {
		switch {
		case st.put != "":
			put(t, s, st.put, st.put)
		case st.del != "":
			del(t, s, st.del)
		}
		if got := winner(lookup(t, r, s, "app/timeout")); got != st.want {
			t.Fatalf("step %d (put %q, delete %q): resolved %s, want %s", i, st.put, st.del, got, st.want)
		}
	}
}

func TestSkippedLayersAreNotRead(t *testing.T) {
	s := openStore(t)
	put(t, s, "site//app/x", "empty site") // what an unskipped {{site}} would read
	put(t, s, "env//app/x", "empty env")
	put(t, s, "global/app/x", "g")
	r := newResolver(t, Names{Node: "n1"})
	res := lookup(t, r, s, "app/x")
	if got := winner(res); got != "global=g" {
		t.Fatalf("resolved %s, want global=g", got)
	}
	if len(res.Candidates) != 2 {
		t.Fatalf("candidates %+v, want node and global only", res.Candidates)
	}
}

func TestExplainListsEveryLayer(t *testing.T) {
	s := openStore(t)
	put(t, s, "site/berlin/app/x", "s")
	put(t, s, "global/app/x", "g")
	res := lookup(t, newResolver(t, berlin), s, "app/x")
	var got []string
	for _, c := range res.Candidates {
		v := "-"
		if c.Held {
			v = string(c.Entry.Value)
		}
		got = append(got, c.StoreKey+"="+v)
	}
	want := []string{"node/n1/app/x=-", "site/berlin/app/x=s", "env/prod/app/x=-", "global/app/x=g"}
	if !slices.Equal(got, want) || res.Winner != 1 {
		t.Fatalf("explain = %q, winner %d; want %q, winner 1", got, res.Winner, want)
	}
}

func TestResolvePrefixMerges(t *testing.T) {
	s := openStore(t)
	put(t, s, "global/app/a", "ga")
	put(t, s, "global/app/b", "gb")
	put(t, s, "global/app/sub/c", "gc")
	put(t, s, "global/other/z", "gz") // outside the prefix
	put(t, s, "site/berlin/app/b", "sb")
	put(t, s, "node/n1/app/a", "na")
	put(t, s, "node/n1/app/d", "nd")
	put(t, s, "env/prod/app/d", "ed")
	last := put(t, s, "env/prod/app/e", "ee")
	del(t, s, "env/prod/app/e") // deleted: global has none, so e is gone
	tomb, _, _, _ := s.Get("env/prod/app/e")
	put(t, s, "site/paris/app/a", "pa") // another site, written last
	out, idx, err := newResolver(t, berlin).LookupPrefix(s, Query{Key: "app/", Prefix: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range out {
		got = append(got, fmt.Sprintf("%s=%s@%s", r.Key, r.Entry.Value, r.Layer))
	}
	want := []string{"app/a=na@node/n1", "app/b=sb@site/berlin", "app/d=nd@node/n1", "app/sub/c=gc@global"}
	if !slices.Equal(got, want) {
		t.Fatalf("merged = %q, want %q", got, want)
	}
	if idx != tomb.ModifyIndex || idx <= last.ModifyIndex {
		t.Fatalf("prefix index = %d, want the tombstone's %d", idx, tomb.ModifyIndex)
	}
}

func TestUnreadableLayersAreSkipped(t *testing.T) {
	s := openStore(t)
	put(t, s, "node/n1/app/x", "secret")
	g := put(t, s, "global/app/x", "g")
	noNode := func(k string) bool { return !strings.HasPrefix(k, "node/") }
	r := newResolver(t, berlin)
	res, err := r.Lookup(s, Query{Key: "app/x", Readable: noNode})
	if err != nil {
		t.Fatal(err)
	}
	if got := winner(res); got != "global=g" || !res.Candidates[0].Denied || res.Candidates[0].Held {
		t.Fatalf("resolved %s, candidates %+v; want global=g with the node layer denied", got, res.Candidates)
	}
	if res.Index != g.ModifyIndex {
		t.Fatalf("index %d counts the unreadable layer, want %d", res.Index, g.ModifyIndex)
	}
	out, _, err := r.LookupPrefix(s, Query{Key: "app/", Prefix: true, Readable: noNode})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Layer != "global" {
		t.Fatalf("prefix = %+v, want global's app/x only", out)
	}
}

// waitAnswer runs r.Wait in the background and returns its answer.
func waitAnswer(ctx context.Context, r *Resolver, s *store.Store, q Query, after uint64) <-chan uint64 {
	c := make(chan uint64, 1)
	go func() {
		idx, _ := r.Wait(ctx, s, q, after)
		c <- idx
	}()
	return c
}

func TestWaitWakesForCandidateKeysOnly(t *testing.T) {
	s := openStore(t)
	r := newResolver(t, berlin)
	q := Query{Key: "app/timeout"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	g := put(t, s, "global/app/timeout", "30s")
	res := lookup(t, r, s, "app/timeout")
	if res.Index != g.ModifyIndex {
		t.Fatalf("index %d, want %d", res.Index, g.ModifyIndex)
	}

	// The node layer gains the key: writes to other keys come first and
	// must not answer the wait.
	woke := waitAnswer(ctx, r, s, q, res.Index)
	put(t, s, "global/app/other", "x")
	put(t, s, "node/n2/app/timeout", "x")
	put(t, s, "app/timeout", "x")
	n := put(t, s, "node/n1/app/timeout", "5s")
	if got := <-woke; got != n.ModifyIndex {
		t.Fatalf("wait answered %d, want the node layer's write %d", got, n.ModifyIndex)
	}
	if got := winner(lookup(t, r, s, "app/timeout")); got != "node/n1=5s" {
		t.Fatalf("resolved %s after the node write", got)
	}

	// The node layer loses it.
	woke = waitAnswer(ctx, r, s, q, n.ModifyIndex)
	put(t, s, "site/paris/app/timeout", "x")
	d := del(t, s, "node/n1/app/timeout")
	if got := <-woke; got != d {
		t.Fatalf("wait answered %d, want the node layer's delete %d", got, d)
	}
	if got := winner(lookup(t, r, s, "app/timeout")); got != "global=30s" {
		t.Fatalf("resolved %s after the delete", got)
	}

	// Nothing relevant happens: the wait ends with its context, unchanged.
	short, cancelShort := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancelShort()
	put(t, s, "global/app/timeoutx", "x")
	if got, err := r.Wait(short, s, q, d); err != nil || got != d {
		t.Fatalf("idle wait = %d, %v; want %d", got, err, d)
	}
}

func TestStrip(t *testing.T) {
	r, err := New(Default, Names{Node: "n1", Site: "berlin"})
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"node/n2/app/x":       "app/x",
		"site/paris/app/x":    "app/x",
		"env/prod/app/x":      "app/x",
		"global/app/x":        "app/x",
		"app/x":               "app/x",
		"node/n1":             "node/n1",
		"global/":             "global/",
		"node//app":           "node//app",
		"globalx/app/timeout": "globalx/app/timeout",
	} {
		if got := r.Strip(key); got != want {
			t.Errorf("Strip(%q) = %q, want %q", key, got, want)
		}
	}
}
