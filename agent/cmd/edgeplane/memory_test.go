package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// memoryLimit is the agent's default memory_limit (config.DefaultMemoryLimit).
const memoryLimit = 192 << 20

// TestLargeRecurseReadsStayUnderMemoryLimit writes 300 values of 500 KB
// (150 MB) into a real agent process, reads them all back with four
// concurrent GET ?recurse (200 MB of JSON each), and checks that the
// agent's peak resident memory during the reads stays under the default
// memory_limit. The agent is a release-style build (no race detector, whose
// memory overhead would swamp the figure), built here unless EDGEPLANE_BIN
// names one.
//
// The figures are logged; scripts/bench-kv-memory.sh prints them.
func TestLargeRecurseReadsStayUnderMemoryLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 150 MB and builds the agent")
	}
	bin := os.Getenv("EDGEPLANE_BIN")
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "edgeplane")
		build := exec.Command("go", "build", "-o", bin, "github.com/edgeplane/edgeplane/agent/cmd/edgeplane")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	t.Setenv("EDGEPLANE_BIN", bin)
	p := startAgent(t, "-dev", "-data-dir", t.TempDir())
	pid := p.cmd.Process.Pid

	const (
		values = 300
		size   = 500 << 10
	)
	putValues(t, p, values, size)
	before := procStatus(t, pid)

	// Reset the peak (VmHWM) to the current resident size, so that the
	// figure below is the peak of the reads alone.
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		t.Logf("cannot reset VmHWM (%v): the peak below includes the writes", err)
	}
	// Sample the resident set's parts while the reads run, to tell the
	// heap (RssAnon) from the data file's mapped pages (RssFile) in the
	// peak. The assertion is on VmHWM, which misses nothing.
	sampled := make(chan map[string]int64, 1)
	stopSampling := make(chan struct{})
	go func() {
		peak := map[string]int64{}
		for {
			st, _ := readProcStatus(pid) // an error ends with the sampled figures empty
			for k, v := range st {
				peak[k] = max(peak[k], v)
			}
			select {
			case <-stopSampling:
				sampled <- peak
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	const readers = 4
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for i := range readers {
		wg.Go(func() { errs <- readRecurse(p.url("/v1/kv/big/?recurse"), values, size, i == 0) })
	}
	wg.Wait()
	close(stopSampling)
	peak := <-sampled
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	after := procStatus(t, pid)
	t.Logf("agent memory: before the reads VmRSS %d MiB (RssAnon %d MiB, RssFile %d MiB); during %d concurrent ?recurse reads of %d x %d KB: VmHWM %d MiB (sampled peaks: RssAnon %d MiB, RssFile %d MiB); after: VmRSS %d MiB",
		before["VmRSS"]>>20, before["RssAnon"]>>20, before["RssFile"]>>20, readers, values, size>>10,
		after["VmHWM"]>>20, peak["RssAnon"]>>20, peak["RssFile"]>>20, after["VmRSS"]>>20)
	if hwm := after["VmHWM"]; hwm >= memoryLimit {
		t.Errorf("agent peak resident memory %d MiB during the reads, want under memory_limit %d MiB", hwm>>20, memoryLimit>>20)
	}
}

// putValues writes n values of size bytes under big/, four writers at a time.
func putValues(t *testing.T, p *agentProc, n, size int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	for range 4 {
		wg.Go(func() {
			val := bytes.Repeat([]byte{'v'}, size)
			for i := range next {
				copy(val, fmt.Sprintf("%06d", i))
				req, err := http.NewRequest(http.MethodPut, p.url(fmt.Sprintf("/v1/kv/big/%06d", i)), bytes.NewReader(val))
				if err != nil {
					errs <- err
					return
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "true" {
					errs <- fmt.Errorf("put %d: %s %s", i, resp.Status, body)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// readRecurse reads a ?recurse answer to its end and checks its size; with
// decode it also checks every record.
func readRecurse(url string, n, size int, decode bool) error {
	client := &http.Client{Timeout: 5 * time.Minute}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if idx, err := strconv.ParseUint(resp.Header.Get("X-Consul-Index"), 10, 64); err != nil || idx < uint64(n) {
		return fmt.Errorf("X-Consul-Index %q after %d writes", resp.Header.Get("X-Consul-Index"), n)
	}
	if !decode {
		got, err := io.Copy(io.Discard, resp.Body)
		if err != nil {
			return err
		}
		if min := int64(n * size * 4 / 3); got < min {
			return fmt.Errorf("read %d bytes, want at least %d", got, min)
		}
		return nil
	}
	dec := json.NewDecoder(bufio.NewReader(resp.Body))
	if _, err := dec.Token(); err != nil { // [
		return err
	}
	i := 0
	for ; dec.More(); i++ {
		var e struct {
			Key   string
			Value []byte
		}
		if err := dec.Decode(&e); err != nil {
			return err
		}
		if want := fmt.Sprintf("big/%06d", i); e.Key != want || len(e.Value) != size || string(e.Value[:6]) != want[4:] {
			return fmt.Errorf("record %d: key %q, %d bytes, want %q of %d bytes", i, e.Key, len(e.Value), want, size)
		}
	}
	if _, err := dec.Token(); err != nil { // ]
		return err
	}
	if i != n {
		return fmt.Errorf("decoded %d records, want %d", i, n)
	}
	return nil
}

// procStatus reads the memory lines of /proc/PID/status, in bytes.
func procStatus(t *testing.T, pid int) map[string]int64 {
	t.Helper()
	st, err := readProcStatus(pid)
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	return st
}

func readProcStatus(pid int) (map[string]int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for line := range strings.Lines(string(b)) {
		name, rest, ok := strings.Cut(line, ":")
		f := strings.Fields(rest)
		if !ok || len(f) != 2 || f[1] != "kB" {
			continue
		}
		if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
			out[name] = n << 10
		}
	}
	return out, nil
}
