package api_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/internal/apitest"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestKVReadWrite(t *testing.T) {
	a := apitest.Start(t)
	ctx := testContext(t)
	kv := a.Client.KV()
	// Keys that need escaping in a URL path, and one with a slash run.
	keys := []string{"app/a b", "app/q?x=1#f", "app/%41", "app//double", "app/é"}
	for i, k := range keys {
		if err := kv.Put(ctx, api.KVPair{Key: k, Value: []byte(k), Flags: uint64(i)}); err != nil {
			t.Fatalf("Put %q: %v", k, err)
		}
	}
	for i, k := range keys {
		p, err := kv.Get(ctx, k)
		if err != nil || p == nil || p.Key != k || string(p.Value) != k || p.Flags != uint64(i) || p.ModifyIndex == 0 {
			t.Fatalf("Get %q = %+v, %v", k, p, err)
		}
	}
	if p, err := kv.Get(ctx, "app/missing"); p != nil || err != nil {
		t.Fatalf("Get of a missing key = %+v, %v; want nil, nil", p, err)
	}
	if err := kv.Put(ctx, api.KVPair{Key: "app/empty"}); err != nil {
		t.Fatal(err)
	}
	if p, err := kv.Get(ctx, "app/empty"); err != nil || p == nil || p.Value != nil {
		t.Fatalf("Get of an empty value = %+v, %v", p, err)
	}

	pairs, err := kv.List(ctx, "app/")
	if err != nil || len(pairs) != len(keys)+1 {
		t.Fatalf("List = %d pairs, %v", len(pairs), err)
	}
	if !slices.IsSortedFunc(pairs, func(x, y api.KVPair) int { return strings.Compare(x.Key, y.Key) }) {
		t.Fatalf("List is not in key order: %v", pairs)
	}
	if pairs, err := kv.List(ctx, "nothing/"); err != nil || len(pairs) != 0 {
		t.Fatalf("List of an empty prefix = %v, %v", pairs, err)
	}
	if err := kv.Put(ctx, api.KVPair{Key: "app/sub/x", Value: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	top, err := kv.Keys(ctx, "app/s", "/")
	if err != nil || !slices.Equal(top, []string{"app/sub/"}) {
		t.Fatalf("Keys with a separator = %q, %v", top, err)
	}
	if none, err := kv.Keys(ctx, "nothing/", ""); err != nil || len(none) != 0 {
		t.Fatalf("Keys of an empty prefix = %q, %v", none, err)
	}

	if err := kv.Delete(ctx, "app/a b"); err != nil {
		t.Fatal(err)
	}
	if p, _ := kv.Get(ctx, "app/a b"); p != nil {
		t.Fatalf("deleted key still reads %+v", p)
	}
	if err := kv.Delete(ctx, "app/never"); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
	if err := kv.DeleteTree(ctx, "app/"); err != nil {
		t.Fatal(err)
	}
	if pairs, _ := kv.List(ctx, ""); len(pairs) != 0 {
		t.Fatalf("DeleteTree left %v", pairs)
	}
}

func TestKVCheckAndSet(t *testing.T) {
	a := apitest.Start(t)
	ctx := testContext(t)
	kv := a.Client.KV()
	// Index 0: only if the key does not exist.
	if ok, err := kv.CAS(ctx, api.KVPair{Key: "k", Value: []byte("1")}); !ok || err != nil {
		t.Fatalf("CAS create = %v, %v", ok, err)
	}
	if ok, err := kv.CAS(ctx, api.KVPair{Key: "k", Value: []byte("2")}); ok || err != nil {
		t.Fatalf("CAS create of an existing key = %v, %v; want false", ok, err)
	}
	p, err := kv.Get(ctx, "k")
	if err != nil || p == nil {
		t.Fatal(p, err)
	}
	if ok, err := kv.CAS(ctx, api.KVPair{Key: "k", Value: []byte("3"), ModifyIndex: p.ModifyIndex + 1}); ok || err != nil {
		t.Fatalf("CAS with a stale index = %v, %v; want false", ok, err)
	}
	if ok, err := kv.CAS(ctx, api.KVPair{Key: "k", Value: []byte("3"), Flags: 7, ModifyIndex: p.ModifyIndex}); !ok || err != nil {
		t.Fatalf("CAS with the current index = %v, %v", ok, err)
	}
	p, _ = kv.Get(ctx, "k")
	if string(p.Value) != "3" || p.Flags != 7 {
		t.Fatalf("after CAS: %+v", p)
	}
	if ok, err := kv.DeleteCAS(ctx, "k", p.ModifyIndex-1); ok || err != nil {
		t.Fatalf("DeleteCAS with a stale index = %v, %v; want false", ok, err)
	}
	if ok, err := kv.DeleteCAS(ctx, "k", p.ModifyIndex); !ok || err != nil {
		t.Fatalf("DeleteCAS = %v, %v", ok, err)
	}
	if p, _ := kv.Get(ctx, "k"); p != nil {
		t.Fatalf("DeleteCAS left %+v", p)
	}
}

func TestKVErrors(t *testing.T) {
	a := apitest.Start(t)
	ctx := testContext(t)
	err := a.Client.KV().Put(ctx, api.KVPair{Key: "bad\xff", Value: []byte("v")})
	var se *api.StatusError
	if !errors.As(err, &se) || se.Code != 400 || !strings.Contains(se.Message, "keys must be valid UTF-8") {
		t.Fatalf("Put of an invalid key = %v; want a 400 StatusError", err)
	}
	if got, want := se.Error(), "unexpected response code: 400 ("+se.Message+")"; got != want {
		t.Fatalf("StatusError = %q, want %q", got, want)
	}
	if errors.Is(err, api.ErrUnreachable) {
		t.Fatal("a 400 matches ErrUnreachable")
	}
	big := make([]byte, 1<<20)
	if err := a.Client.KV().Put(ctx, api.KVPair{Key: "big", Value: big}); !errors.As(err, &se) || se.Code != 413 {
		t.Fatalf("Put of 1 MiB = %v; want 413", err)
	}
	if (&api.StatusError{Code: 502}).Error() != "unexpected response code: 502" {
		t.Fatal("a StatusError without a message prints an empty pair of parentheses")
	}
}
