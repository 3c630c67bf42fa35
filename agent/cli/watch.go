package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/edgeplane/edgeplane/agent/api"
)

// watchEvent is one line of kv watch -format=json.
type watchEvent struct {
	Key         string `json:"key"`
	Value       string `json:"value"` // base64
	Flags       uint64 `json:"flags"`
	ModifyIndex uint64 `json:"modify_index"`
	Deleted     bool   `json:"deleted"`
}

// watchFlags are the flags of every watch command: the output format,
// how long each blocking query waits, and how many failed requests in a
// row end the command.
type watchFlags struct {
	format    string
	wait      time.Duration
	maxErrors int
}

func (w *watchFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&w.format, "format", "text", "output format: text or json")
	fs.DurationVar(&w.wait, "wait", api.DefaultWatchWait, "how long each blocking query waits at most (at most 10m)")
	fs.IntVar(&w.maxErrors, "max-errors", 10, "failed requests in a row before giving up; 0 retries forever")
}

// start checks the flags, reporting a bad one as fail does (code 1), and
// returns the context of the watch: e's, ended by SIGINT or SIGTERM too.
func (w *watchFlags) start(e *env) (ctx context.Context, stop context.CancelFunc, code int) {
	switch {
	case w.format != "text" && w.format != "json":
		code = fail(e, "-format must be text or json, not %q", w.format)
	case w.wait <= 0 || w.wait > api.MaxWatchWait:
		code = fail(e, "-wait must be more than 0 and at most 10m, not %v", w.wait)
	case w.maxErrors < 0:
		code = fail(e, "-max-errors must be 0 or more, not %d", w.maxErrors)
	default:
		ctx, stop = signal.NotifyContext(e.ctx, os.Interrupt, syscall.SIGTERM)
		return ctx, stop, 0
	}
	return nil, func() {}, code
}

// options are the watch options the flags ask for.
func (w *watchFlags) options() api.WatchOptions { return api.WatchOptions{Wait: w.wait} }

// failed handles an error a watch of what yielded: a request it retries
// is reported and the command goes on (ok), unless it was the
// -max-errors-th failure in a row; any other error ends the command with
// the exit code returned.
func (w *watchFlags) failed(e *env, what string, err error) (code int, ok bool) {
	var retry *api.RetryError
	if !errors.As(err, &retry) {
		return fail(e, "watching %s: %v", what, err), false // retrying cannot help
	}
	if w.maxErrors > 0 && retry.Failures >= w.maxErrors {
		return fail(e, "watching %s: giving up after %d failed requests in a row: %v", what, retry.Failures, retry.Err), false
	}
	fmt.Fprintf(e.Stderr, "Error watching %s: %v\n", what, retry)
	return 0, true
}

type kvWatchCmd struct {
	watchFlags
	changesOnly bool
}

func (*kvWatchCmd) spec() spec {
	return spec{args: "[PREFIX]", maxArgs: 1, agent: true, timeout: unbounded, help: `
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
be reached the request is retried with backoff (each pause between half
and all of a step that starts at 1 s and doubles up to 30 s); after
-max-errors failures in a row the command gives up (exit 1).`}
}

func (c *kvWatchCmd) define(fs *flag.FlagSet) {
	fs.BoolVar(&c.changesOnly, "changes-only", false, "do not print the current keys first, only later changes")
	c.watchFlags.define(fs)
}

func (c *kvWatchCmd) run(e *env) int {
	ctx, stop, code := c.start(e)
	defer stop()
	if code != 0 {
		return code
	}
	prefix := e.arg(0)
	what := strconv.Quote(prefix)
	var known map[string]api.KVPair // nil until the first answer
	for list, err := range e.client.KV().Watch(ctx, prefix, c.options()) {
		if err != nil {
			if code, ok := c.failed(e, what, err); !ok {
				return code
			}
			continue
		}
		current := make(map[string]api.KVPair, len(list.Pairs))
		for _, p := range list.Pairs {
			current[p.Key] = p
		}
		if known != nil || !c.changesOnly {
			if err := c.print(e, known, current, list.Index); err != nil {
				return fail(e, "writing output: %v", err)
			}
		}
		known = current
	}
	return 0 // interrupted
}

// print writes, in key order, every key of current that is new or changed
// since known, and every key of known absent from current as deleted.
func (c *kvWatchCmd) print(e *env, known, current map[string]api.KVPair, index uint64) error {
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
		case c.format == "json":
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
	_, err := e.Stdout.Write(buf.Bytes())
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
