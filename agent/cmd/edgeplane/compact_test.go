package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/store"
)

// TestCrashDuringCompaction: an agent holding 20,000 keys is killed with
// SIGKILL while it compacts its store, at seeded random moments spread
// over a compaction's duration (measured by a first, whole one); each
// restart holds every key and every write acknowledged before the kill,
// and no copy of an unfinished compaction is left beside the file.
func TestCrashDuringCompaction(t *testing.T) {
	rng := crashRNG(t)
	const keys = 20_000
	dir := t.TempDir()
	populate(t, keys, dir)
	p := startAgent(t, "-data-dir", dir)
	if out, errOut, code := p.cli(t, "store", "compact"); code != 0 || !strings.HasPrefix(out, "Compacted the store from ") {
		t.Fatalf("store compact = %d %q %q", code, out, errOut)
	}
	client := &http.Client{Timeout: time.Minute}
	compact := func() error {
		req, _ := http.NewRequest(http.MethodPut, p.url("/v1/edgeplane/store/compact"), nil)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return errors.New(resp.Status)
		}
		return nil
	}
	start := time.Now()
	if err := compact(); err != nil {
		t.Fatal(err)
	}
	whole := time.Since(start)
	t.Logf("a whole compaction took %v", whole)

	acked := map[string]string{}
	for round := range 6 {
		for i := range 20 {
			key, val := fmt.Sprintf("round%d/%d", round, i), fmt.Sprint(rng.Uint64())
			req, _ := http.NewRequest(http.MethodPut, p.url("/v1/kv/"+key), strings.NewReader(val))
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("PUT %s: %s", key, resp.Status)
			}
			acked[key] = val
		}
		delay := time.Duration(rng.Int64N(int64(whole) * 5 / 4))
		t.Logf("round %d: kill %v into the compaction", round, delay)
		killed := make(chan struct{})
		kill := time.AfterFunc(delay, func() { p.cmd.Process.Kill(); close(killed) })
		if err := compact(); err == nil {
			t.Logf("round %d: the compaction completed before the kill", round)
		}
		<-killed
		kill.Stop()
		p.wait()

		p = startAgent(t, "-data-dir", dir)
		verify(t, p, acked)
		var held []string
		getJSON(t, p.url("/v1/kv/cfg/?keys"), &held)
		if len(held) != keys {
			t.Fatalf("round %d: %d keys under cfg/ after the restart, want %d", round, len(held), keys)
		}
		if _, err := os.Stat(filepath.Join(dir, store.FileName+".compact")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("round %d: the unfinished compaction's copy is left: %v", round, err)
		}
	}
}
