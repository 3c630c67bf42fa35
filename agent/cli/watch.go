package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"
)

// Backoff between failed requests of kv watch: doubles from the first to
// the cap, with up to a quarter of jitter.
const (
	watchBackoffMin = 500 * time.Millisecond
	watchBackoffMax = 30 * time.Second
	// watchMinInterval spaces queries when changes arrive faster than
	// that: rapid changes are printed together, a few times a second.
	watchMinInterval = 50 * time.Millisecond
)

// watchEvent is one line of kv watch -format=json.
type watchEvent struct {
	Key         string `json:"key"`
	Value       string `json:"value"` // base64
	Flags       uint64 `json:"flags"`
	ModifyIndex uint64 `json:"modify_index"`
	Deleted     bool   `json:"deleted"`
}

func kvWatch(std IO, args []string) int {
	fs := newFlagSet(std, "kv watch", "[PREFIX]", `
Watches every key under PREFIX and prints each change as it arrives, until
interrupted (SIGINT or SIGTERM: exit 0). It first prints the current keys,
unless -changes-only. A written key prints "KEY=VALUE"; a key that was
present and is gone prints "KEY deleted". Several writes to one key in
quick succession may be printed once, with the last value. Values holding
a newline, another control character or bytes that are not UTF-8 are
printed quoted, as Go does ("a\nb"); -format=json gives exact bytes.

With -format=json each change is one JSON object per line:
{"key", "value" (base64), "flags", "modify_index", "deleted"}. A deletion
has an empty value and, as modify_index, the index at which it was seen.

Changes come from blocking queries on the local agent, and so include
changes written on any node once the agent has them. When the agent cannot
be reached the request is retried with backoff (0.5 s doubling up to 30 s);
after -max-errors failures in a row the command gives up (exit 1).`)
	addr := addHTTPFlag(std, fs)
	format := fs.String("format", "text", "output format: text or json")
	changesOnly := fs.Bool("changes-only", false, "do not print the current keys first, only later changes")
	wait := fs.Duration("wait", 5*time.Minute, "how long each blocking query waits at most (at most 10m)")
	maxErrors := fs.Int("max-errors", 10, "failed requests in a row before giving up; 0 retries forever")
	if code, done := parse(std, fs, args); done {
		return code
	}
	if fs.NArg() > 1 {
		return fail(std, "kv watch takes at most one PREFIX")
	}
	if *format != "text" && *format != "json" {
		return fail(std, "-format must be text or json, not %q", *format)
	}
	if *wait <= 0 || *wait > 10*time.Minute {
		return fail(std, "-wait must be more than 0 and at most 10m, not %v", *wait)
	}
	if *maxErrors < 0 {
		return fail(std, "-max-errors must be 0 or more, not %d", *maxErrors)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	w := &watcher{
		std:       std,
		client:    newClient(*addr),
		prefix:    fs.Arg(0),
		json:      *format == "json",
		wait:      *wait,
		maxErrors: *maxErrors,
	}
	// A blocking query answers after wait plus up to wait/16 of jitter.
	w.client.http = &http.Client{Timeout: *wait + *wait/16 + 30*time.Second}
	return w.run(ctx, !*changesOnly)
}

type watcher struct {
	std       IO
	client    *client
	prefix    string
	json      bool
	wait      time.Duration
	maxErrors int
}

// run is the blocking-query loop. It returns the exit code.
func (w *watcher) run(ctx context.Context, printFirst bool) int {
	var (
		index    uint64
		known    map[string]kvEntry // nil until the first answer
		failures int
		last     time.Time
	)
	for {
		if d := watchMinInterval - time.Since(last); d > 0 {
			select {
			case <-ctx.Done():
				return 0
			case <-time.After(d):
			}
		}
		last = time.Now()
		entries, newIndex, err := w.query(ctx, index)
		if ctx.Err() != nil {
			return 0
		}
		if err != nil {
			var apiErr *apiError
			if errors.As(err, &apiErr) && apiErr.status/100 == 4 && apiErr.status != http.StatusTooManyRequests {
				return fail(w.std, "watching %q: %v", w.prefix, err) // retrying cannot help
			}
			failures++
			// The agent may have restarted on another store: the next
			// query reads at once and is compared with what was printed.
			index = 0
			if w.maxErrors > 0 && failures >= w.maxErrors {
				return fail(w.std, "watching %q: giving up after %d failed requests in a row: %v", w.prefix, failures, err)
			}
			delay := backoff(failures)
			fmt.Fprintf(w.std.Stderr, "Error watching %q: %v (retrying in %v)\n", w.prefix, err, delay.Round(time.Millisecond))
			select {
			case <-ctx.Done():
				return 0
			case <-time.After(delay):
			}
			continue
		}
		failures = 0
		current := make(map[string]kvEntry, len(entries))
		for _, e := range entries {
			current[e.Key] = e
		}
		if known != nil || printFirst {
			if err := w.print(known, current, newIndex); err != nil {
				return fail(w.std, "writing output: %v", err)
			}
		}
		known = current
		// As Consul's clients: an index that goes backwards (the agent's
		// store was replaced) restarts from 0, which answers at once with
		// the whole prefix to compare with; an index of 0 would never
		// block, so it becomes 1.
		switch {
		case newIndex < index:
			index = 0
		case newIndex == 0:
			index = 1
		default:
			index = newIndex
		}
	}
}

// backoff is the wait after the n-th failure in a row (n ≥ 1).
func backoff(n int) time.Duration {
	d := watchBackoffMin
	for i := 1; i < n && d < watchBackoffMax; i++ {
		d *= 2
	}
	d = min(d, watchBackoffMax)
	return d + rand.N(d/4+1)
}

// query runs one (blocking unless index is 0) recursive read of the prefix
// and returns its keys and X-Consul-Index.
func (w *watcher) query(ctx context.Context, index uint64) ([]kvEntry, uint64, error) {
	q := url.Values{"recurse": {""}}
	if index > 0 {
		q.Set("index", strconv.FormatUint(index, 10))
		q.Set("wait", w.wait.String())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.client.base+kvPath(w.prefix)+"?"+q.Encode(), nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := w.client.http.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("cannot reach the agent: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, err
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound {
		return nil, 0, &apiError{status: resp.StatusCode, msg: strings.TrimSpace(string(data))}
	}
	newIndex, err := strconv.ParseUint(resp.Header.Get("X-Consul-Index"), 10, 64)
	if err != nil {
		return nil, 0, fmt.Errorf("answer without a valid X-Consul-Index: %q", resp.Header.Get("X-Consul-Index"))
	}
	var entries []kvEntry
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(data, &entries); err != nil {
			return nil, 0, fmt.Errorf("decoding the answer: %w", err)
		}
	}
	return entries, newIndex, nil
}

// print writes, in key order, every key of current that is new or changed
// since known, and every key of known absent from current as deleted.
func (w *watcher) print(known, current map[string]kvEntry, index uint64) error {
	keys := make([]string, 0, len(current))
	for k, e := range current {
		if old, ok := known[k]; !ok || old.ModifyIndex != e.ModifyIndex || old.Flags != e.Flags || !bytes.Equal(old.Value, e.Value) {
			keys = append(keys, k)
		}
	}
	for k := range known {
		if _, ok := current[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var buf bytes.Buffer
	for _, k := range keys {
		e, present := current[k]
		switch {
		case w.json:
			ev := watchEvent{Key: k, ModifyIndex: index, Deleted: true}
			if present {
				ev = watchEvent{Key: k, Value: base64.StdEncoding.EncodeToString(e.Value), Flags: e.Flags, ModifyIndex: e.ModifyIndex}
			}
			b, _ := json.Marshal(ev)
			buf.Write(b)
			buf.WriteByte('\n')
		case present:
			fmt.Fprintf(&buf, "%s=%s\n", k, textValue(e.Value))
		default:
			fmt.Fprintf(&buf, "%s deleted\n", k)
		}
	}
	if buf.Len() == 0 {
		return nil
	}
	_, err := w.std.Stdout.Write(buf.Bytes())
	return err
}

// textValue is a value as printed on one line: as is, or Go-quoted when it
// holds a control character or is not UTF-8.
func textValue(v []byte) string {
	s := string(v)
	if !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return strconv.Quote(s)
	}
	return s
}
