package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/store"
)

// The store a bootstrap pulls in the test and the benchmark: 100,000 keys
// with 100-byte values, about 10 MB, all written by one node.
const (
	bootstrapKeys     = 100_000
	bootstrapValueLen = 100
	bootstrapOrigin   = "5eed5eed-0000-4000-8000-000000000001"
)

// populate writes the same n records into a store in each of dirs, before
// any agent runs on them, as if one node had written them and replication
// had brought them everywhere: keys cfg/000000 onwards, 100-byte values,
// stamps from a minute ago increasing in key order. The stores end with
// equal digests.
func populate(tb testing.TB, n int, dirs ...string) {
	tb.Helper()
	ms := uint64(time.Now().Add(-time.Minute).UnixMilli())
	values := make([]byte, n*bootstrapValueLen)
	for i := range values {
		values[i] = 'a' + byte(i%26)
	}
	recs := make([]store.Record, n)
	for i := range recs {
		v := values[i*bootstrapValueLen : (i+1)*bootstrapValueLen : (i+1)*bootstrapValueLen]
		copy(v, fmt.Sprintf("value of cfg/%06d ", i))
		recs[i] = store.Record{
			Key:     fmt.Sprintf("cfg/%06d", i),
			Value:   v,
			Version: store.MakeStamp(ms+uint64(i/1000), uint16(i%1000)),
			Origin:  bootstrapOrigin,
		}
	}
	errs := make(chan error, len(dirs))
	for _, dir := range dirs {
		go func() {
			// The file is closed before an agent opens it, so skipping
			// fsync loses nothing.
			s, err := store.Open(dir, store.Options{NoSync: true})
			if err != nil {
				errs <- err
				return
			}
			changed, err := s.Apply(recs)
			if err == nil && changed != n {
				err = fmt.Errorf("%s: %d of %d records applied", dir, changed, n)
			}
			if cerr := s.Close(); err == nil {
				err = cerr
			}
			errs <- err
		}()
	}
	for range dirs {
		if err := <-errs; err != nil {
			tb.Fatal(err)
		}
	}
}

// replicationView is the part of /v1/edgeplane/replication a bootstrap
// shows: the local counters and the bootstrap in progress.
type replicationView struct {
	Local     map[string]string
	Bootstrap *struct {
		Running bool
		Peer    string // streaming from
		Records int    // received so far
	}
}

func getReplication(tb testing.TB, httpAddr string) replicationView {
	tb.Helper()
	resp, err := http.Get("http://" + httpAddr + "/v1/edgeplane/replication")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var v replicationView
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		tb.Fatalf("/v1/edgeplane/replication: %v", err)
	}
	return v
}

var lastBootstrapRE = regexp.MustCompile(`^(\d+) records from \[([^\]]*)\] in (\S+)`)

// completedBootstrap is Local["last_bootstrap"] parsed: "N records from
// [b c] in 1.2s (...)", or ok false for "never".
type completedBootstrap struct {
	Records int
	Peers   []string
	Took    time.Duration
}

func parseLastBootstrap(s string) (completedBootstrap, bool) {
	m := lastBootstrapRE.FindStringSubmatch(s)
	if m == nil {
		return completedBootstrap{}, false
	}
	n, err1 := strconv.Atoi(m[1])
	took, err2 := time.ParseDuration(m[3])
	if err1 != nil || err2 != nil {
		return completedBootstrap{}, false
	}
	return completedBootstrap{Records: n, Peers: strings.Fields(m[2]), Took: took}, true
}

// kvWriter writes new keys live/<node>/<seq> to one agent through the HTTP
// API at a steady pace, until stopped or the agent is killed.
type kvWriter struct {
	p        *agentProc
	node     string
	attempts int
	acked    []string // keys whose PUT succeeded
	err      error    // a failure while the agent was alive
}

func (w *kvWriter) run(stop <-chan struct{}, killed *atomic.Pointer[agentProc]) {
	client := &http.Client{Timeout: 10 * time.Second}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := range 100_000 { // about 17 minutes at this pace: the test ends long before
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if killed.Load() == w.p {
			return
		}
		key := fmt.Sprintf("live/%s/%06d", w.node, i)
		w.attempts++
		req, _ := http.NewRequest(http.MethodPut, w.p.url("/v1/kv/"+key), strings.NewReader(key))
		resp, err := client.Do(req)
		var body []byte
		if err == nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(body) != "true" {
				err = fmt.Errorf("status %d: %s", resp.StatusCode, body)
			}
		}
		if err != nil {
			if killed.Load() != w.p {
				w.err = fmt.Errorf("PUT %s on %s: %w", key, w.node, err)
			}
			return
		}
		w.acked = append(w.acked, key)
	}
}

// TestBootstrapOf100kKeysUnderWritesAndCut: three agents hold 100,000 keys
// (about 10 MB); a fourth starts empty and bootstraps from one of them
// while two keep taking writes. Its source is killed (SIGKILL) when about
// half the records have arrived; the new node resumes from another peer
// after the last key it got, without fetching anything twice, and ends
// with the same digest root as the live agents.
func TestBootstrapOf100kKeysUnderWritesAndCut(t *testing.T) {
	dirs := map[string]string{"a": t.TempDir(), "b": t.TempDir(), "c": t.TempDir()}
	start := time.Now()
	populate(t, bootstrapKeys, dirs["a"], dirs["b"], dirs["c"])
	t.Logf("populated three stores with %d keys in %v", bootstrapKeys, time.Since(start).Round(time.Millisecond))

	fast := []string{"-retry-interval", "100ms"}
	a := startAgent(t, append(fast, "-node", "a", "-data-dir", dirs["a"])...)
	b := startAgent(t, append(fast, "-node", "b", "-data-dir", dirs["b"], "-join", a.gossipAddr)...)
	c := startAgent(t, append(fast, "-node", "c", "-data-dir", dirs["c"], "-join", a.gossipAddr)...)
	holders := map[string]*agentProc{"a": a, "b": b, "c": c}
	for _, p := range []*agentProc{a, b, c} {
		for _, m := range []string{"a", "b", "c"} {
			if holders[m] != p {
				waitMembers(t, p, m, "alive")
			}
		}
	}
	// Each agent registers its own catalog records at start: the stores
	// agree once those have replicated.
	testutil.Eventually(t, time.Minute, func() error {
		root := getReplication(t, a.httpAddr).Local["digest_root"]
		for _, p := range []*agentProc{b, c} {
			if r := getReplication(t, p.httpAddr).Local["digest_root"]; r != root {
				return fmt.Errorf("populated stores differ: digest roots %s and %s", root, r)
			}
		}
		return nil
	})

	// Writes on a and b from before the new node starts until its
	// bootstrap has completed.
	var killed atomic.Pointer[agentProc]
	stop := make(chan struct{})
	var stopOnce sync.Once
	stopWrites := func() { stopOnce.Do(func() { close(stop) }) }
	defer stopWrites()
	var wg sync.WaitGroup
	writers := []*kvWriter{{p: a, node: "a"}, {p: b, node: "b"}}
	for _, w := range writers {
		wg.Go(func() { w.run(stop, &killed) })
	}

	bootStart := time.Now()
	n := startAgent(t, append(fast, "-node", "n", "-data-dir", t.TempDir(), "-join", a.gossipAddr)...)

	// Kill the source once about half the records have arrived.
	var source string
	deadline := time.Now().Add(2 * time.Minute)
	for source == "" {
		v := getReplication(t, n.httpAddr)
		switch {
		case v.Bootstrap == nil:
			t.Fatalf("/v1/edgeplane/replication has no Bootstrap: %+v", v)
		case v.Local["last_bootstrap"] != "never":
			t.Fatalf("the bootstrap completed before it could be cut: %s", v.Local["last_bootstrap"])
		case v.Bootstrap.Running && v.Bootstrap.Peer != "" && v.Bootstrap.Records >= bootstrapKeys/2:
			source = v.Bootstrap.Peer
			t.Logf("%d records received from %s after %v: killing %s", v.Bootstrap.Records, source,
				time.Since(bootStart).Round(time.Millisecond), source)
		case time.Now().After(deadline):
			t.Fatalf("no bootstrap reached %d records within 2m: %+v", bootstrapKeys/2, *v.Bootstrap)
		}
		if source == "" {
			time.Sleep(10 * time.Millisecond) // polling interval
		}
	}
	victim := holders[source]
	if victim == nil {
		t.Fatalf("the bootstrap streams from %q, not from a populated agent", source)
	}
	// An earlier attempt may have failed, when the peers it tried had not
	// yet learned this node's certificate, and the next round retried;
	// from here on, the bootstrap must not fail.
	logged := len(bootstrapEvents(n))
	killed.Store(victim)
	if err := victim.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-victim.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not die within 30s of SIGKILL", source)
	}
	cutAt := time.Now()
	var live []*agentProc
	for _, name := range []string{"a", "b", "c"} {
		if name != source {
			live = append(live, holders[name])
		}
	}

	// The bootstrap resumes from another peer and completes.
	var done completedBootstrap
	testutil.Eventually(t, 3*time.Minute, func() error {
		v := getReplication(t, n.httpAddr)
		if res, ok := parseLastBootstrap(v.Local["last_bootstrap"]); ok {
			done = res
			return nil
		}
		for _, e := range bootstrapEvents(n)[logged:] {
			if strings.HasPrefix(e.Msg, "bootstrap failed") {
				t.Fatalf("the bootstrap failed after %s was killed:\n%s", source, bootstrapLines(n))
			}
		}
		return fmt.Errorf("the bootstrap did not complete after killing %s: %s, %+v", source, v.Local["last_bootstrap"], v.Bootstrap)
	})
	doneAt := time.Now()
	t.Logf("bootstrap: %d records from %v in %v, complete %v after the kill; %s", done.Records, done.Peers, done.Took,
		doneAt.Sub(cutAt).Round(time.Millisecond), n.lineWith("bootstrap stream failed"))
	if len(done.Peers) < 2 || !slices.Contains(done.Peers, source) || done.Peers[len(done.Peers)-1] == source {
		t.Errorf("bootstrap peers %v: want %s, the killed source, then another", done.Peers, source)
	}
	var streamed []string // by the attempt that completed
	failed := 0
	for _, e := range bootstrapEvents(n) {
		switch {
		case e.Msg == "bootstrap streaming":
			streamed = append(streamed, e.Peer)
		case strings.HasPrefix(e.Msg, "bootstrap failed"):
			streamed = nil
			failed++
		}
	}
	if failed > 0 {
		t.Logf("%d bootstrap attempts failed before the one cut:\n%s", failed, bootstrapLines(n))
	}
	if !slices.Equal(streamed, done.Peers) {
		t.Errorf("logged bootstrap streams from %v, completed bootstrap names %v", streamed, done.Peers)
	}

	// Records count each chunk once: resuming after the last key received
	// fetches nothing twice, so no more than the keys that ever existed.
	stopWrites()
	wg.Wait()
	attempts := 0
	for _, w := range writers {
		if w.err != nil {
			t.Error(w.err)
		}
		attempts += w.attempts
		t.Logf("writes on %s: %d attempted, %d acknowledged", w.node, w.attempts, len(w.acked))
	}
	if done.Records < bootstrapKeys || done.Records > bootstrapKeys+attempts {
		t.Errorf("bootstrap received %d records: want %d to %d (the store and the writes, each once)",
			done.Records, bootstrapKeys, bootstrapKeys+attempts)
	}

	// n converges with the live agents.
	testutil.Eventually(t, 2*time.Minute, func() error {
		roots := []string{getReplication(t, n.httpAddr).Local["digest_root"]}
		for _, p := range live {
			roots = append(roots, getReplication(t, p.httpAddr).Local["digest_root"])
		}
		if roots[0] == roots[1] && roots[0] == roots[2] {
			t.Logf("digest roots equal %v after the bootstrap completed", time.Since(doneAt).Round(time.Millisecond))
			return nil
		}
		return fmt.Errorf("digest roots of n, %s and %s still differ: %v", nodeName(holders, live[0]), nodeName(holders, live[1]), roots)
	})

	// Every write acknowledged by a live agent is on n, and so is the store.
	for _, w := range writers {
		if w.p == victim {
			continue
		}
		var keys []string
		getJSON(t, n.url("/v1/kv/live/"+w.node+"/?keys"), &keys)
		held := make(map[string]bool, len(keys))
		for _, k := range keys {
			held[k] = true
		}
		for _, k := range w.acked {
			if !held[k] {
				t.Fatalf("%s acknowledged %s, which n lacks", w.node, k)
			}
		}
	}
	var keys []string
	getJSON(t, n.url("/v1/kv/cfg/?keys"), &keys)
	if len(keys) != bootstrapKeys {
		t.Fatalf("n holds %d keys under cfg/, want %d", len(keys), bootstrapKeys)
	}
}

// bootstrapEvents returns the messages and peers of the agent's log lines
// about its bootstrap, in order.
func bootstrapEvents(p *agentProc) []struct{ Msg, Peer string } {
	var out []struct{ Msg, Peer string }
	for _, line := range strings.Split(p.log(), "\n") {
		var rec struct{ Msg, Peer string }
		if json.Unmarshal([]byte(line), &rec) == nil && strings.HasPrefix(rec.Msg, "bootstrap") {
			out = append(out, rec)
		}
	}
	return out
}

// bootstrapLines returns the agent's log lines about its bootstrap.
func bootstrapLines(p *agentProc) string {
	var out []string
	for _, line := range strings.Split(p.log(), "\n") {
		if strings.Contains(line, `"msg":"bootstrap`) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

func nodeName(holders map[string]*agentProc, p *agentProc) string {
	for name, q := range holders {
		if q == p {
			return name
		}
	}
	return "?"
}

// leave makes the agent leave the mesh and waits for it to exit, so that
// the next node to join does not take it for a live peer.
func (p *agentProc) leave() {
	p.t.Helper()
	req, _ := http.NewRequest(http.MethodPut, p.url("/v1/agent/leave"), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	resp.Body.Close()
	p.wait()
}

// procStats reads, in MiB, a process's resident memory from
// /proc/PID/status (VmRSS, VmHWM: the peak, RssAnon, RssFile: mapped
// files, the store's among them) and what it wrote to disk from
// /proc/PID/io (write_bytes).
func procStats(b *testing.B, pid int) map[string]float64 {
	b.Helper()
	out := map[string]float64{}
	for _, file := range []string{"status", "io"} {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, file))
		if err != nil {
			b.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			name, value, ok := strings.Cut(line, ":")
			f := strings.Fields(value)
			if !ok || len(f) == 0 {
				continue
			}
			v, err := strconv.ParseFloat(f[0], 64)
			switch {
			case err != nil:
			case len(f) == 2 && f[1] == "kB":
				out[name] = v / 1024
			case name == "write_bytes":
				out[name] = v / (1 << 20)
			}
		}
	}
	return out
}

// BenchmarkBootstrap100k: an empty agent joins one holding 100,000 keys
// (about 10 MB) over loopback and bootstraps. It reports the bootstrap's
// own time (s/bootstrap) and the time from the new process's start
// (s/start-to-complete); the resident memory of the new node after the
// bootstrap, now (rss), at its peak (hwm) and its anonymous part (anon:
// the rest is mapped files, the store's and the binary's) now and at its
// peak as sampled every 10 ms (anon-peak), and what it wrote to disk, in
// MiB and over the 10 MB of values; and the resident memory of the holder idle before the
// first bootstrap and after serving them.
//
// The new node keeps the default history (history=10) or none
// (history=0): history copies each version it receives, which doubles
// what a bootstrap writes.
func BenchmarkBootstrap100k(b *testing.B) {
	dir := b.TempDir()
	populate(b, bootstrapKeys, dir)
	holder := startAgent(b, "-node", "holder", "-data-dir", dir)
	idle := procStats(b, holder.cmd.Process.Pid)
	for _, versions := range []string{"10", "0"} {
		b.Run("history="+versions, func(b *testing.B) { benchBootstrap(b, holder, idle, versions) })
	}
}

func benchBootstrap(b *testing.B, holder *agentProc, idle map[string]float64, versions string) {
	var took, wall time.Duration
	sum := map[string]float64{}
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		// A name of its own: the holder remembers the nodes that left.
		n := startAgent(b, "-node", fmt.Sprintf("new-h%s-%d", versions, i), "-data-dir", b.TempDir(),
			"-retry-interval", "100ms", "-join", holder.gossipAddr, "-history-versions", versions)
		deadline := time.Now().Add(2 * time.Minute)
		var peakAnon float64 // sampled at each poll: the kernel keeps no peak of it
		for {
			peakAnon = max(peakAnon, procStats(b, n.cmd.Process.Pid)["RssAnon"])
			v := getReplication(b, n.httpAddr)
			if res, ok := parseLastBootstrap(v.Local["last_bootstrap"]); ok {
				// The holder's agent writes a few records of its own
				// (its catalog entry and the like) besides the keys.
				if res.Records < bootstrapKeys || res.Records > bootstrapKeys+100 {
					b.Fatalf("bootstrap received %d records, want %d and the holder's few own", res.Records, bootstrapKeys)
				}
				took += res.Took
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("no bootstrap within 2m: %s", v.Local["last_bootstrap"])
			}
			time.Sleep(10 * time.Millisecond) // polling interval
		}
		wall += time.Since(start)
		st := procStats(b, n.cmd.Process.Pid)
		for k, v := range st {
			sum[k] += v
		}
		sum["peakAnon"] += max(peakAnon, st["RssAnon"])
		n.leave()
	}
	h := procStats(b, holder.cmd.Process.Pid)
	runs := float64(b.N)
	b.ReportMetric(took.Seconds()/runs, "s/bootstrap")
	b.ReportMetric(wall.Seconds()/runs, "s/start-to-complete")
	b.ReportMetric(sum["VmRSS"]/runs, "MiB-rss-new")
	b.ReportMetric(sum["VmHWM"]/runs, "MiB-hwm-new")
	b.ReportMetric(sum["RssAnon"]/runs, "MiB-anon-new")
	b.ReportMetric(sum["peakAnon"]/runs, "MiB-anon-peak-new")
	b.ReportMetric(sum["write_bytes"]/runs, "MiB-written-new")
	// Over the 10 MB of values the bootstrap brings.
	b.ReportMetric(sum["write_bytes"]*(1<<20)/runs/(bootstrapKeys*bootstrapValueLen), "written/data")
	b.ReportMetric(idle["VmRSS"], "MiB-rss-holder-idle")
	b.ReportMetric(idle["RssAnon"], "MiB-anon-holder-idle")
	b.ReportMetric(h["VmRSS"], "MiB-rss-holder")
	b.ReportMetric(h["VmHWM"], "MiB-hwm-holder")
	b.ReportMetric(h["RssAnon"], "MiB-anon-holder")
}
