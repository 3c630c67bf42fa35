package httpapi

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/store"
)

// syncMesh is a fakeMesh whose members change while it is read.
type syncMesh struct {
	fakeMesh
	mu   sync.Mutex
	list []gossip.Member
}

func (m *syncMesh) Members() []gossip.Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.list)
}

func (m *syncMesh) setStatus(name string, st gossip.Status) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.list {
		if m.list[i].Name == name {
			m.list[i].Status = st
		}
	}
}

// blockingAPI is an API over a catalog on node-a, with node-b and node-c
// alive, and membership numbered by the MemberIndex it returns. Its
// requests are served in process, without a listener.
func blockingAPI(t testing.TB) (*API, *store.Store, *MemberIndex, *syncMesh) {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cat, err := catalog.New(catalog.Config{Store: st, Node: "node-a", Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := cat.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	mesh := &syncMesh{list: []gossip.Member{
		member("node-a", "shop-7", gossip.StatusAlive),
		member("node-b", "shop-7", gossip.StatusAlive),
		member("node-c", "shop-8", gossip.StatusAlive),
	}}
	idx := NewMemberIndex()
	idx.Bump(st.Index(), "node-a", "node-b", "node-c")
	a := New(Config{Store: st, Catalog: cat, Mesh: mesh, MemberIndex: idx,
		Self: func() Self {
			return Self{NodeName: "node-a", Datacenter: "dc1", Site: "shop-7"}
		},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(a.Close)
	return a, st, idx, mesh
}

// serveGet serves a GET in process and returns its code, index and body.
func serveGet(t testing.TB, a *API, path string) (int, uint64, []byte) {
	return serveReader(a, path, "")
}

// serveReader is serveGet for a reader named in the X-Reader header.
func serveReader(a *API, path, reader string) (int, uint64, []byte) {
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8500"+path, nil)
	req.Header.Set("X-Reader", reader)
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, req)
	index, _ := strconv.ParseUint(rec.Header().Get("X-Consul-Index"), 10, 64)
	return rec.Code, index, rec.Body.Bytes()
}

// pollUntil polls cond until it holds, failing after 20s.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // polling, not synchronisation
	}
}

// TestDiscoveryBlockingPrecision: 100 blocking reads on 10 services. A
// change of one service answers its readers only; the removal of a
// service's last instance answers its readers at a higher index; a node's
// failure answers the readers of the services on it only. The other
// readers are counted as they re-evaluate, so that "not answered" is
// checked once each of them has seen the change.
func TestDiscoveryBlockingPrecision(t *testing.T) {
	a, st, idx, mesh := blockingAPI(t)
	const services, readers = 10, 10
	node := func(i int) string { return []string{"node-b", "node-c"}[i%2] }
	recs := map[string][]byte{}
	for i := range services {
		id := fmt.Sprintf("svc-%d-1", i)
		recs[catalog.ServiceKey(node(i), id)] = encodeInstance(t, catalog.Instance{ID: id, Name: fmt.Sprintf("svc-%d", i), Port: 80, Weights: catalog.DefaultWeights})
	}
	putRecords(t, st, recs)

	start := make([]uint64, services)
	for i := range services {
		code, index, _ := serveGet(t, a, fmt.Sprintf("/v1/health/service/svc-%d", i))
		if code != http.StatusOK || index == 0 {
			t.Fatalf("svc-%d: %d, index %d", i, code, index)
		}
		start[i] = index
	}

	// Each reader's last evaluation: the table and membership indexes it
	// saw.
	type seenAt struct{ table, members uint64 }
	var mu sync.Mutex
	last := map[string]seenAt{}
	a.evaluated = func(r *http.Request, table, members uint64) {
		if id := r.Header.Get("X-Reader"); id != "" {
			mu.Lock()
			last[id] = seenAt{table, members}
			mu.Unlock()
		}
	}
	var returned [services]atomic.Int32
	done := map[string]bool{}
	answers := map[int][]uint64{} // service → indexes answered
	bodies := map[int][]byte{}
	var wg sync.WaitGroup
	for i := range services {
		for r := range readers {
			id := fmt.Sprintf("%d/%d", i, r)
			wg.Go(func() {
				_, index, body := serveReader(a, fmt.Sprintf("/v1/health/service/svc-%d?index=%d&wait=60s", i, start[i]), id)
				mu.Lock()
				answers[i] = append(answers[i], index)
				bodies[i] = body
				done[id] = true
				mu.Unlock()
				returned[i].Add(1)
			})
		}
	}
	defer wg.Wait()
	defer a.Close() // answers the readers still waiting

	// allSaw reports whether every reader has answered or evaluated what
	// the table and membership were at (table, members).
	allSaw := func(table, members uint64) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			for i := range services {
				for r := range readers {
					id := fmt.Sprintf("%d/%d", i, r)
					if s, ok := last[id]; !done[id] && (!ok || s.table < table || s.members < members) {
						return false
					}
				}
			}
			return true
		}
	}
	pollUntil(t, "every reader's first answer", allSaw(0, 0))
	expect := func(phase string, want map[int]int32) {
		t.Helper()
		var sum int32
		for i := range services {
			if got := returned[i].Load(); got != want[i] {
				t.Errorf("%s: svc-%d answered %d readers, want %d", phase, i, got, want[i])
			}
			sum += want[i]
		}
		// The agent counts what each change woke, as an operator sees it.
		if got, want := a.Stats()["blocking_woken"], fmt.Sprint(sum); got != want {
			t.Errorf("%s: blocking_woken = %s, want %s", phase, got, want)
		}
	}

	// A new instance of svc-3.
	putRecords(t, st, map[string][]byte{catalog.ServiceKey("node-b", "svc-3-2"): encodeInstance(t,
		catalog.Instance{ID: "svc-3-2", Name: "svc-3", Port: 81, Weights: catalog.DefaultWeights})})
	pollUntil(t, "svc-3's readers", func() bool { return returned[3].Load() == readers && allSaw(st.Index(), 0)() })
	expect("svc-3 changed", map[int]int32{3: readers})

	// svc-8's last instance goes.
	if err := st.Update(func(tx *store.Tx) error {
		_, err := tx.Delete(catalog.Table, catalog.ServiceKey("node-b", "svc-8-1"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, "svc-8's readers", func() bool { return returned[8].Load() == readers && allSaw(st.Index(), 0)() })
	expect("svc-8 removed", map[int]int32{3: readers, 8: readers})
	mu.Lock()
	for _, index := range answers[8] {
		if index <= start[8] {
			t.Errorf("svc-8's last instance removed: index %d, not past %d", index, start[8])
		}
	}
	if string(bodies[8]) != "[]" {
		t.Errorf("svc-8 after its removal: %s, want []", bodies[8])
	}
	after8 := slices.Max(answers[8])
	mu.Unlock()
	if _, index, _ := serveGet(t, a, "/v1/health/service/svc-8"); index < after8 {
		t.Errorf("svc-8's index went back from %d to %d", after8, index)
	}

	// node-c fails: svc-1, 5, 7 and 9 (3 answered already) live there.
	mesh.setStatus("node-c", gossip.StatusFailed)
	bumped := idx.Bump(st.Index(), "node-c")
	pollUntil(t, "node-c's services' readers", func() bool {
		return returned[1].Load() == readers && returned[5].Load() == readers && returned[7].Load() == readers &&
			returned[9].Load() == readers && allSaw(0, bumped)()
	})
	expect("node-c failed", map[int]int32{1: readers, 3: readers, 5: readers, 7: readers, 8: readers, 9: readers})
	mu.Lock()
	defer mu.Unlock()
	for _, i := range []int{1, 3, 5, 7, 9} {
		for _, index := range answers[i] {
			if index <= start[i] {
				t.Errorf("svc-%d answered at index %d, not past %d", i, index, start[i])
			}
		}
	}
	var entries []struct {
		Checks []struct{ CheckID, Status string }
	}
	if err := json.Unmarshal(bodies[9], &entries); err != nil || len(entries) != 1 || entries[0].Checks[0].Status != catalog.StatusCritical {
		t.Errorf("svc-9 after node-c failed: %s, %v; want its serfHealth critical", bodies[9], err)
	}
}

// TestCatalogNodesBlocking: /v1/catalog/nodes waits for a membership
// change, not a catalog one, and answers at a higher index.
func TestCatalogNodesBlocking(t *testing.T) {
	a, st, idx, mesh := blockingAPI(t)
	_, index, _ := serveGet(t, a, "/v1/catalog/nodes")
	if index == 0 {
		t.Fatal("index 0")
	}
	done := make(chan uint64, 1)
	var evaluated atomic.Bool
	a.evaluated = func(*http.Request, uint64, uint64) { evaluated.Store(true) }
	go func() {
		_, i, _ := serveGet(t, a, fmt.Sprintf("/v1/catalog/nodes?index=%d&wait=60s", index))
		done <- i
	}()
	pollUntil(t, "the first answer", evaluated.Load)
	putRecords(t, st, map[string][]byte{catalog.ServiceKey("node-b", "x"): encodeInstance(t,
		catalog.Instance{ID: "x", Name: "x", Weights: catalog.DefaultWeights})})
	mesh.setStatus("node-b", gossip.StatusFailed)
	idx.Bump(st.Index(), "node-b")
	select {
	case i := <-done:
		if i <= index {
			t.Fatalf("catalog/nodes answered at %d, not past %d", i, index)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("catalog/nodes did not wake on a membership change")
	}
	// Timed out: the index stays, and is never 0.
	if _, i, _ := serveGet(t, a, fmt.Sprintf("/v1/catalog/nodes?index=%d&wait=10ms", index+100)); i == 0 || i > index+100 {
		t.Fatalf("timed-out catalog/nodes: index %d", i)
	}
}

// TestDiscoveryIndexNeverZero: an empty catalog, without membership
// numbering, answers index 1 or more.
func TestDiscoveryIndexNeverZero(t *testing.T) {
	mesh := &fakeMesh{members: []gossip.Member{member("node-a", "shop-7", gossip.StatusAlive)}}
	srv, _, _ := catalogServer(t, func(c *Config) { c.Mesh = mesh })
	for _, path := range []string{"/v1/health/service/nope", "/v1/catalog/service/nope", "/v1/catalog/services",
		"/v1/catalog/nodes", "/v1/health/state/any", "/v1/health/node/nope", "/v1/catalog/node/nope", "/v1/health/checks/nope"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if i, _ := strconv.ParseUint(resp.Header.Get("X-Consul-Index"), 10, 64); resp.StatusCode != 200 || i == 0 {
			t.Errorf("GET %s: %d, index %q", path, resp.StatusCode, resp.Header.Get("X-Consul-Index"))
		}
	}
}
