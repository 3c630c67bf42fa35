package watch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/internal/apitest"
	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/agent/watch"
)

// recordingHandler is a handler program that records each run in dir:
// its stdin in in.<n>, "$CONSUL_INDEX $EDGEPLANE_INDEX" in idx.<n>, and
// the count of runs in count. Runs of one watch never overlap, so the
// count needs no lock.
func recordingHandler(dir string) []string {
	return []string{"/bin/sh", "-c", `set -e
n=$(cat "$1/count" 2>/dev/null || echo 0); n=$((n+1))
cat > "$1/in.$n"
echo "$CONSUL_INDEX $EDGEPLANE_INDEX" > "$1/idx.$n"
echo $n > "$1/count"`, "sh", dir}
}

// runs returns how many runs dir's recording handler has recorded.
func runs(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, "count"))
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// waitRuns waits until dir's handler has run n times, and fails the test
// when it ran more.
func waitRuns(t *testing.T, dir string, n int) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, func() error {
		if got := runs(dir); got != n {
			return fmt.Errorf("%s: %d runs, want %d", filepath.Base(dir), got, n)
		}
		return nil
	})
}

// input returns what run n of dir's handler read, and its index.
func input(t *testing.T, dir string, n int) (string, string) {
	t.Helper()
	in, err := os.ReadFile(filepath.Join(dir, "in."+strconv.Itoa(n)))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := os.ReadFile(filepath.Join(dir, "idx."+strconv.Itoa(n)))
	if err != nil {
		t.Fatal(err)
	}
	return string(in), strings.TrimSpace(string(idx))
}

// apiGet returns the API's answer to GET path over HTTP: status, body and
// X-Consul-Index.
func apiGet(t *testing.T, a *apitest.Agent, path string) (int, []byte, string) {
	t.Helper()
	resp, err := http.Get(a.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body, resp.Header.Get("X-Consul-Index")
}

// apiDo sends a request with a JSON body to the API and fails the test
// unless it succeeds.
func apiDo(t *testing.T, a *apitest.Agent, method, path string, body any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, msg)
	}
}

func put(t *testing.T, a *apitest.Agent, key, value string) {
	t.Helper()
	if _, err := a.Store.Put(key, []byte(value), 0); err != nil {
		t.Fatal(err)
	}
}

// start runs a watch.Manager of specs over a's API until the test ends.
func start(t *testing.T, a *apitest.Agent, cfg watch.Config, specs ...watch.Spec) *watch.Manager {
	t.Helper()
	if cfg.Source == nil {
		cfg.Source = watch.HandlerSource(a.API)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	m, err := watch.New(cfg, specs)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// seenSource is a watch.Source that remembers the largest index it answered,
// so a test knows when a watch has read a write.
type seenSource struct {
	watch.Source
	mu   sync.Mutex
	seen uint64
	cond chan struct{} // closed and replaced at each answer
}

func newSeenSource(s watch.Source) *seenSource {
	return &seenSource{Source: s, cond: make(chan struct{})}
}

func (s *seenSource) Get(ctx context.Context, r watch.Request) (watch.Response, error) {
	resp, err := s.Source.Get(ctx, r)
	if err == nil {
		s.mu.Lock()
		s.seen = max(s.seen, resp.Index)
		close(s.cond)
		s.cond = make(chan struct{})
		s.mu.Unlock()
	}
	return resp, err
}

// waitSeen waits until the source has answered index or later.
func (s *seenSource) waitSeen(t *testing.T, index uint64) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		s.mu.Lock()
		seen, cond := s.seen, s.cond
		s.mu.Unlock()
		if seen >= index {
			return
		}
		select {
		case <-cond:
		case <-deadline:
			t.Fatalf("the watch read index %d, not %d", seen, index)
		}
	}
}
