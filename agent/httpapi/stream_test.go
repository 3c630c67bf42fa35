package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/store"
)

// pairsJSON is entries as encoding/json writes api.KVPairs: the reference
// the streamed answers must match byte for byte.
func pairsJSON(t *testing.T, entries []store.Entry) string {
	t.Helper()
	pairs := make([]api.KVPair, len(entries))
	for i, e := range entries {
		pairs[i] = api.KVPair{Key: e.Key, Flags: e.Flags, Value: e.Value, CreateIndex: e.CreateIndex, ModifyIndex: e.ModifyIndex}
	}
	b, err := json.Marshal(pairs)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWritePairMatchesEncodingJSON(t *testing.T) {
	entries := []store.Entry{
		{Record: store.Record{Key: "plain", Value: []byte("v")}, CreateIndex: 2, ModifyIndex: 3},
		{Record: store.Record{Key: "<html>&\"quote\"\\", Value: []byte{0, 1, 2, 0xff}}},
		{Record: store.Record{Key: "é/\u2028/\u2029/\x01", Value: nil, Flags: math.MaxUint64}},
		{Record: store.Record{Key: "bad\xffutf8", Value: bytes.Repeat([]byte("xyz"), 10000)}, CreateIndex: math.MaxUint64, ModifyIndex: math.MaxUint64},
		{Record: store.Record{Key: "len1", Value: []byte("a")}},
		{Record: store.Record{Key: "len2", Value: []byte("ab")}},
	}
	for n := range len(entries) + 1 {
		rec := httptest.NewRecorder()
		writePairs(rec, entries[:n]...)
		if got, want := rec.Body.String(), pairsJSON(t, entries[:n]); got != want {
			t.Errorf("%d entries:\n got %.300s\nwant %.300s", n, got, want)
		}
	}
}

// putValues writes n values of size bytes under prefix straight to st.
func putValues(t *testing.T, st *store.Store, prefix string, n, size int) {
	t.Helper()
	for i := range n {
		v := bytes.Repeat([]byte{byte('a' + i%26)}, size)
		if _, err := st.Put(fmt.Sprintf("%s%04d", prefix, i), v, uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRecurseStreamsAcrossPages(t *testing.T) {
	srv, st := testServer(t)
	// 3.2 MB: four pages of readPageBytes.
	putValues(t, st, "big/", 8, 400<<10)
	if _, err := st.Delete("big/0003", nil); err != nil {
		t.Fatal(err)
	}
	putValues(t, st, "other/", 1, 10)
	want, wantIdx, err := st.List("big/")
	if err != nil {
		t.Fatal(err)
	}
	resp, body := do(t, "GET", srv.URL+"/v1/kv/big/?recurse", "")
	if resp.StatusCode != 200 || body != pairsJSON(t, want) {
		t.Fatalf("recurse = %d, %d bytes; want the %d bytes encoding/json writes", resp.StatusCode, len(body), len(pairsJSON(t, want)))
	}
	if got := resp.Header.Get("X-Consul-Index"); got != strconv.FormatUint(wantIdx, 10) {
		t.Errorf("X-Consul-Index %s, want %d (the prefix's, deletions included)", got, wantIdx)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if use := srv.Config.Handler.(*API).readBudget.inUse(); use != 0 {
		t.Errorf("%d bytes of the read budget still taken after the answer", use)
	}
	// HEAD answers the status and index without reading the answer.
	resp, body = do(t, "HEAD", srv.URL+"/v1/kv/big/?recurse", "")
	if resp.StatusCode != 200 || body != "" || resp.Header.Get("X-Consul-Index") != strconv.FormatUint(wantIdx, 10) {
		t.Errorf("HEAD recurse = %d %q index %s", resp.StatusCode, body, resp.Header.Get("X-Consul-Index"))
	}
}

func TestKeysStreamAcrossPages(t *testing.T) {
	srv, st := testServer(t)
	// 300 keys of about 4000 bytes: more than a page of keys.
	long := strings.Repeat("k", 3990)
	for i := range 300 {
		dir := "d" + strconv.Itoa(i%3) + "/"
		if _, err := st.Put(fmt.Sprintf("p/%s%s%04d", dir, long, i), []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	for _, sep := range []string{"", "/"} {
		want, idx, err := st.Keys("p/", sep)
		if err != nil {
			t.Fatal(err)
		}
		wantBody, _ := json.Marshal(want)
		resp, body := do(t, "GET", srv.URL+"/v1/kv/p/?keys&separator="+sep, "")
		if resp.StatusCode != 200 || body != string(wantBody) || resp.Header.Get("X-Consul-Index") != strconv.FormatUint(idx, 10) {
			t.Errorf("keys separator %q = %d, %d bytes, index %s; want %d bytes, index %d",
				sep, resp.StatusCode, len(body), resp.Header.Get("X-Consul-Index"), len(wantBody), idx)
		}
	}
}

func TestRecurseOfEntryLargerThanAPage(t *testing.T) {
	srv, st := testServer(t)
	putValues(t, st, "x/", 1, 10)
	if _, err := st.Apply([]store.Record{{Key: "x/huge", Value: bytes.Repeat([]byte("h"), 3*readPageBytes), Version: 1, Origin: "peer"}}); err != nil {
		t.Fatal(err)
	}
	want, _, err := st.List("x/")
	if err != nil {
		t.Fatal(err)
	}
	resp, body := do(t, "GET", srv.URL+"/v1/kv/x/?recurse", "")
	if resp.StatusCode != 200 || body != pairsJSON(t, want) {
		t.Fatalf("recurse with an entry over a page = %d, %d bytes", resp.StatusCode, len(body))
	}
}

func TestPrefixReadsWaitForTheReadBudget(t *testing.T) {
	srv, st := testServer(t)
	api := srv.Config.Handler.(*API)
	putValues(t, st, "q/", 3, 100)
	// Another reader holds the whole budget.
	held, err := api.readBudget.acquire(context.Background(), readBudgetBytes)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		status int
		body   string
	}
	done := make(chan result, 1)
	go func() {
		resp, body := do(t, "GET", srv.URL+"/v1/kv/q/?recurse", "")
		done <- result{resp.StatusCode, body}
	}()
	waitQueued(t, api.readBudget, 1)
	select {
	case r := <-done:
		t.Fatalf("read answered %d while the budget was taken", r.status)
	default:
	}
	api.readBudget.release(held)
	select {
	case r := <-done:
		if r.status != 200 || strings.Count(r.body, `"Key"`) != 3 {
			t.Fatalf("read after the budget freed = %d %q", r.status, r.body)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("read did not answer once the budget was free")
	}
	if use := api.readBudget.inUse(); use != 0 {
		t.Errorf("%d bytes still taken", use)
	}
}

// failingStore is a store whose pages after the first fail, and whose
// writes fail with writeErr when it is set.
type failingStore struct {
	*store.Store
	pages    int
	writeErr error
}

func (f *failingStore) ListPage(prefix, from string, maxBytes int) (store.Page, error) {
	f.pages++
	if f.pages > 1 {
		return store.Page{}, errors.New("disk read error")
	}
	return f.Store.ListPage(prefix, from, maxBytes)
}

func (f *failingStore) CAS(key string, value []byte, flags uint64, index *uint64) (store.Entry, bool, error) {
	if f.writeErr != nil {
		return store.Entry{}, false, f.writeErr
	}
	return f.Store.CAS(key, value, flags, index)
}

func (f *failingStore) Delete(key string, index *uint64) (bool, error) {
	if f.writeErr != nil {
		return false, f.writeErr
	}
	return f.Store.Delete(key, index)
}

func (f *failingStore) DeleteTree(prefix string) (int, error) {
	if f.writeErr != nil {
		return 0, f.writeErr
	}
	return f.Store.DeleteTree(prefix)
}

// faultServer serves the API over a failingStore.
func faultServer(t *testing.T) (*httptest.Server, *failingStore) {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	fs := &failingStore{Store: st}
	api := New(Config{Store: fs, Self: func() Self { return Self{NodeName: "node-a", Datacenter: "dc1"} }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv := httptest.NewServer(api)
	t.Cleanup(func() {
		api.Close()
		srv.Close()
		st.Close()
	})
	return srv, fs
}

func TestReadFailingMidAnswerBreaksTheResponse(t *testing.T) {
	srv, fs := faultServer(t)
	putValues(t, fs.Store, "m/", 4, 400<<10)
	resp, err := http.Get(srv.URL + "/v1/kv/m/?recurse")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: the first page read fine", resp.StatusCode)
	}
	var pairs []api.KVPair
	err = json.NewDecoder(bufio.NewReader(resp.Body)).Decode(&pairs)
	if err == nil {
		t.Fatalf("a read that failed after the first page decoded as %d pairs", len(pairs))
	}
	if use := srv.Config.Handler.(*API).readBudget.inUse(); use != 0 {
		t.Errorf("%d bytes of the read budget still taken after a failed read", use)
	}
}

func TestFullDiskIsInsufficientStorage(t *testing.T) {
	srv, fs := faultServer(t)
	putValues(t, fs.Store, "d/", 1, 10)
	for _, tt := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("store: commit: %w", &os.PathError{Op: "write", Path: "edgeplane.db", Err: syscall.ENOSPC}), http.StatusInsufficientStorage},
		{fmt.Errorf("store: commit: %w", &os.PathError{Op: "write", Path: "edgeplane.db", Err: syscall.EDQUOT}), http.StatusInsufficientStorage},
		{fmt.Errorf("store: commit: %w", &os.PathError{Op: "write", Path: "edgeplane.db", Err: syscall.EIO}), http.StatusInternalServerError},
	} {
		fs.writeErr = tt.err
		for _, req := range []struct{ method, path string }{
			{"PUT", "/v1/kv/d/new"}, {"DELETE", "/v1/kv/d/0000"}, {"DELETE", "/v1/kv/d/?recurse"},
		} {
			resp, body := do(t, req.method, srv.URL+req.path, "v")
			if resp.StatusCode != tt.want || !strings.Contains(body, tt.err.Error()) {
				t.Errorf("%s %s with %v = %d %q, want %d with the error", req.method, req.path, tt.err, resp.StatusCode, body, tt.want)
			}
		}
	}
	fs.writeErr = nil
	if resp, body := do(t, "PUT", srv.URL+"/v1/kv/d/new", "v"); resp.StatusCode != 200 || body != "true" {
		t.Fatalf("put once there is room = %d %q", resp.StatusCode, body)
	}
}

func TestRestoreOnFullDiskIsInsufficientStorage(t *testing.T) {
	srv, _ := testServerWith(t, func(c *Config) {
		c.Snapshots = fakeSnapshots{restore: func(io.Reader) (RestoreResult, error) {
			return RestoreResult{Changed: 3}, fmt.Errorf("store: commit: %w", &os.PathError{Op: "write", Path: "edgeplane.db", Err: syscall.ENOSPC})
		}}
	})
	resp, body := do(t, "PUT", srv.URL+"/v1/edgeplane/snapshot", "x")
	if resp.StatusCode != http.StatusInsufficientStorage || !strings.Contains(body, "no space left on device") ||
		!strings.Contains(body, "after 3 records") {
		t.Fatalf("restore on a full disk = %d %q", resp.StatusCode, body)
	}
}

// fakeSnapshots saves nothing and restores with restore.
type fakeSnapshots struct {
	restore func(io.Reader) (RestoreResult, error)
}

func (fakeSnapshots) Save(io.Writer) error                         { return nil }
func (f fakeSnapshots) Restore(r io.Reader) (RestoreResult, error) { return f.restore(r) }
