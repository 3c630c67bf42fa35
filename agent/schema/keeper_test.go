package schema

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/store"
)

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, func() error {
		if !cond() {
			return errors.New(what)
		}
		return nil
	})
}

// settle writes only what changed: a value already kept, or a key no
// schema governs, takes no write.
func TestKeeperWritesOnlyChanges(t *testing.T) {
	st := openStore(t)
	g := NewGuard(st, nil)
	k := NewKeeper(st, g, nil, nil)
	for key, v := range map[string]string{"_schema/app/": `{"type":"int","max":10}`, "app/a": "3", "app/b": "30", "other": "x"} {
		if _, err := st.Put(key, []byte(v), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := k.rescan(); err != nil {
		t.Fatal(err)
	}
	if bad := k.Bad(); len(bad) != 1 || bad["app/b"] != "30 above max 10" {
		t.Fatalf("Bad = %v", bad)
	}
	var keys []string
	st.Local(Bucket).Scan("", func(key string, _ []byte) error { keys = append(keys, key); return nil })
	if len(keys) != 1 || keys[0] != "app/a" {
		t.Fatalf("kept %v, want app/a", keys)
	}
	err := st.View(func(tx *store.Tx) error {
		for _, key := range []string{"app/a", "app/b", "other", "missing"} {
			e, _, err := tx.Get(store.TableKV, key)
			if err != nil {
				return err
			}
			e.Key = key
			if w, err := k.settle(tx, e, map[string]string{}, true); err != nil || w {
				t.Errorf("settle %s: write %v, %v; want no write", key, w, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The Keeper follows the feed: a bad value keeps the last good one, a
// deleted key loses it.
func TestKeeperFollowsFeed(t *testing.T) {
	st := openStore(t)
	reports := make(chan map[string]string, 16)
	k := NewKeeper(st, NewGuard(st, nil), func(bad map[string]string) { reports <- bad }, nil)
	if err := k.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if bad := <-reports; len(bad) != 0 {
		t.Fatalf("first report %v", bad)
	}
	st.Put("_schema/app/", []byte(`{"type":"enum","values":["a","b"]}`), 0)
	st.Put("app/mode", []byte("a"), 0)
	kept := func() string { v, _, _ := st.Local(Bucket).Get("app/mode"); return string(v) }
	poll(t, "the value kept", func() bool { return kept() != "" })
	good := kept()
	st.Put("app/mode", []byte("c"), 0)
	if bad := <-reports; bad["app/mode"] != `"c" is not one of a, b` {
		t.Fatalf("report %v", bad)
	}
	if kept() != good {
		t.Fatalf("kept %s, want %s", kept(), good)
	}
	st.Delete("app/mode", nil)
	if bad := <-reports; len(bad) != 0 {
		t.Fatalf("report after delete %v", bad)
	}
	poll(t, "the kept value dropped", func() bool { return kept() == "" })
}

// Rescan checks every key again under the guard's strip in force now: a
// reload that changes the layers changes which schema governs a key.
func TestKeeperRescan(t *testing.T) {
	st := openStore(t)
	var strip atomic.Pointer[func(string) string]
	none := func(k string) string { return k }
	strip.Store(&none)
	k := NewKeeper(st, NewGuard(st, func(key string) string { return (*strip.Load())(key) }), nil, nil)
	st.Put("_schema/app/", []byte(`{"type":"int"}`), 0)
	st.Put("shop/app/n", []byte("many"), 0) // governed only once "shop/" is a layer
	if err := k.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if bad := k.Bad(); len(bad) != 0 {
		t.Fatalf("before the layer: %v", bad)
	}
	shop := func(key string) string { return strings.TrimPrefix(key, "shop/") }
	strip.Store(&shop)
	if err := k.Rescan(); err != nil {
		t.Fatal(err)
	}
	if bad := k.Bad(); bad["shop/app/n"] == "" {
		t.Fatalf("after the layer: %v, want shop/app/n breaking its schema", bad)
	}
}
