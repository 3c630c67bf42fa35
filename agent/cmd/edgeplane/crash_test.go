package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCrashSafety kills a real agent with SIGKILL while 8 writers put keys,
// at a moment chosen by a seeded random count of acknowledged writes, then
// restarts it and checks that every write whose PUT answered 200 survived
// with its value. It repeats over several rounds on the same data dir.
func TestCrashSafety(t *testing.T) {
	rng := crashRNG(t)
	dir := t.TempDir()
	acked := map[string]string{} // key -> value whose PUT returned 200
	var mu sync.Mutex

	const rounds, writers, maxPerWriter = 5, 8, 2000
	for round := range rounds {
		p := startAgent(t, "-data-dir", dir)
		verify(t, p, acked)

		killAt := int64(20 + rng.IntN(400))
		t.Logf("round %d: kill after %d acknowledged writes", round, killAt)
		var count atomic.Int64
		var once sync.Once
		var wg sync.WaitGroup
		client := &http.Client{Timeout: 30 * time.Second}
		for w := range writers {
			wg.Go(func() {
				for i := range maxPerWriter {
					key := fmt.Sprintf("r%d/w%d/%d", round, w, i)
					val := fmt.Sprintf("%d-%x", i, rand.Uint64())
					req, _ := http.NewRequest(http.MethodPut, p.url("/v1/kv/"+key), strings.NewReader(val))
					resp, err := client.Do(req)
					if err != nil {
						return // the agent is gone
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						return
					}
					if string(body) != "true" {
						t.Errorf("PUT %s answered %q", key, body)
						return
					}
					mu.Lock()
					acked[key] = val
					mu.Unlock()
					if count.Add(1) >= killAt {
						once.Do(func() { p.cmd.Process.Kill() })
					}
				}
			})
		}
		wg.Wait()
		once.Do(func() { p.cmd.Process.Kill() })
		p.wait()
	}
	p := startAgent(t, "-data-dir", dir)
	verify(t, p, acked)
	t.Logf("%d acknowledged writes survived %d kills", len(acked), rounds)
}

// crashRNG returns the random source that picks when a crash test
// kills, seeded from EDGEPLANE_CRASH_SEED or the clock, and logs the seed.
func crashRNG(t *testing.T) *rand.Rand {
	seed := getenvUint("EDGEPLANE_CRASH_SEED")
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (set EDGEPLANE_CRASH_SEED to replay)", seed)
	return rand.New(rand.NewPCG(seed, seed>>1))
}

func verify(t *testing.T, p *agentProc, acked map[string]string) {
	t.Helper()
	resp, err := http.Get(p.url("/v1/kv/?recurse"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var entries []struct {
		Key   string
		Value []byte
	}
	if len(acked) == 0 {
		return
	}
	if err := decodeJSON(resp.Body, &entries); err != nil {
		t.Fatal(err)
	}
	have := make(map[string]string, len(entries))
	for _, e := range entries {
		have[e.Key] = string(e.Value)
	}
	lost := 0
	for k, v := range acked {
		if have[k] != v {
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged write %s=%q lost (have %q)", k, v, have[k])
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged writes lost", lost, len(acked))
	}
}
