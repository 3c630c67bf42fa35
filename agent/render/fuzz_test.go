package render

import (
	"slices"
	"strings"
	"testing"

	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/agent/layers"
	"github.com/edgeplane/edgeplane/store"
)

// ParseServiceQuery never panics, and what it accepts names a service
// and keeps only known statuses.
func FuzzParseServiceQuery(f *testing.F) {
	for _, s := range []string{"web", "prod.web", "tag.name~_agent|any", "web@dc1~near|passing,warning", "a.b.c", "|", "web|", "web|any,passing", ".web", "web~", strings.Repeat("a", 600)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseServiceQuery(s)
		if err != nil {
			return
		}
		if q.Name == "" || strings.ContainsAny(q.Name, ".@~|") {
			t.Fatalf("%q: name %q", s, q.Name)
		}
		for _, st := range q.Statuses {
			if !slices.Contains(filterStatuses, st) {
				t.Fatalf("%q: status %q", s, st)
			}
		}
		if q.Statuses != nil && len(q.Statuses) == 0 {
			t.Fatalf("%q: an empty filter keeps nothing", s)
		}
	})
}

// The KV functions take any argument a template may give them without
// panicking, and what they read becomes the render's dependencies.
func FuzzKeyFunctionArguments(f *testing.F) {
	st := testutil.OpenStore(f)
	for _, kv := range [][2]string{{"app/a", "1"}, {"app/b/c", "2"}, {"global/app/a", "3"}, {"node/n1/app/a", "4"}} {
		if _, err := st.Put(kv[0], []byte(kv[1]), 0); err != nil {
			f.Fatal(err)
		}
	}
	res, err := layers.New(layers.Default, layers.Names{Node: "n1"})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"app/a", "app", "app/", "/", "", "app/b/c", "\x00", "a/../b", "{{", strings.Repeat("k/", 300)} {
		f.Add(s, "default")
	}
	f.Fuzz(func(t *testing.T, key, def string) {
		err := st.View(func(tx *store.Tx) error {
			r := &reader{tx: tx, resolver: res, getenv: func(string) string { return "" }}
			r.key(key)
			r.keyOrDefault(key, def)
			r.keyExists(key)
			r.ls(key)
			r.tree(key)
			r.resolve(key)
			r.service(key)
			parseJSON(key)
			if len(r.deps.Keys) == 0 {
				t.Fatalf("%q: no dependency recorded", key)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
