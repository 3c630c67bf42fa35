package api

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/edgeplane/edgeplane/transport/resilience"
)

// Defaults of WatchOptions.
const (
	// DefaultWatchWait is how long a blocking query waits at most.
	DefaultWatchWait = 5 * time.Minute
	// MaxWatchWait is the agent's cap on a blocking query's wait.
	MaxWatchWait = 10 * time.Minute
	// DefaultWatchMinInterval spaces queries when changes arrive faster:
	// rapid changes come together, a few times a second.
	DefaultWatchMinInterval = 50 * time.Millisecond
)

// DefaultWatchBackoff paces the retries of a failed watch request: each
// pause is between half and all of a step that starts at 1 s and doubles
// up to 30 s.
var DefaultWatchBackoff = resilience.Retry{BackoffBase: time.Second, BackoffCap: 30 * time.Second}

// watchSlack is how long past its wait (and the agent's jitter of up to
// wait/16) a blocking query may take before it is given up.
const watchSlack = 30 * time.Second

// WatchOptions tune KV.Watch and HealthServiceWatch. The zero value is the defaults.
type WatchOptions struct {
	// Wait bounds each blocking query; 0 means DefaultWatchWait. The agent
	// caps it at MaxWatchWait.
	Wait time.Duration
	// MinInterval is the least time between two queries; 0 means
	// DefaultWatchMinInterval.
	MinInterval time.Duration
	// Backoff paces retries after failed requests (its Attempts is
	// ignored: the watch retries until its loop stops it). Zero means
	// DefaultWatchBackoff.
	Backoff resilience.Retry
	// Clock times the pauses; nil means the system clock.
	Clock resilience.Clock
	// Jitter draws the random part of each backoff pause, uniform in
	// [0, 1); nil means math/rand/v2.
	Jitter func() float64
}

func (o WatchOptions) withDefaults() WatchOptions {
	if o.Wait <= 0 {
		o.Wait = DefaultWatchWait
	}
	if o.MinInterval <= 0 {
		o.MinInterval = DefaultWatchMinInterval
	}
	if o.Backoff.BackoffBase <= 0 {
		o.Backoff = DefaultWatchBackoff
	}
	if o.Clock == nil {
		o.Clock = resilience.SystemClock{}
	}
	if o.Jitter == nil {
		o.Jitter = rand.Float64
	}
	return o
}

// RetryError is what Watch yields for a failed request that it will
// retry.
type RetryError struct {
	Err      error         // why the request failed
	Failures int           // failed requests in a row, this one included
	Delay    time.Duration // the pause before the next request
}

func (e *RetryError) Error() string {
	return fmt.Sprintf("%v (retrying in %v)", e.Err, e.Delay.Round(time.Millisecond))
}

func (e *RetryError) Unwrap() error { return e.Err }

// Watch ranges over blocking queries on every pair under prefix. The first
// answer comes at once and holds the prefix as it is; each later one comes
// when something under the prefix changed (or a query's wait ran out),
// and again holds the whole prefix, so a caller compares it with the last
// one it saw. Several changes in quick succession may come as one answer.
//
// A failed request yields a *RetryError, then the watch pauses for its
// Delay and starts over with a read that does not block, whose answer may
// differ in any way from the last (the agent may have restarted on another
// store). The same read follows an index that went backwards. A request
// the agent refuses (a 4xx answer other than 429), which asking again
// cannot mend, is yielded as is and ends the watch. The watch ends
// without yielding when ctx ends, and when the loop body breaks.
func (kv *KV) Watch(ctx context.Context, prefix string, opts WatchOptions) iter.Seq2[KVList, error] {
	return watch(ctx, opts, func(ctx context.Context, index uint64, wait time.Duration) (KVList, uint64, error) {
		l, err := kv.list(ctx, prefix, index, wait)
		return l, l.Index, err
	})
}

// watchQuery is one query of a watch: with index 0 a read that does not
// block, else a blocking query on index that waits at most wait. It
// returns the answer and the index it was read at.
type watchQuery[T any] func(ctx context.Context, index uint64, wait time.Duration) (T, uint64, error)

// watch is the loop of every watch: it ranges over the answers of query,
// each bounded by its wait, the agent's jitter and some slack, spaced by
// opts.MinInterval, retrying failures after opts.Backoff, as KV.Watch
// documents.
func watch[T any](ctx context.Context, opts WatchOptions, query watchQuery[T]) iter.Seq2[T, error] {
	opts = opts.withDefaults()
	return func(yield func(T, error) bool) {
		var (
			zero     T
			index    uint64
			failures int
			last     time.Time
		)
		for {
			if !last.IsZero() {
				if d := opts.MinInterval - opts.Clock.Now().Sub(last); d > 0 && opts.Clock.Sleep(ctx, d) != nil {
					return
				}
			}
			last = opts.Clock.Now()
			qctx, cancel := context.WithTimeout(ctx, opts.Wait+opts.Wait/16+watchSlack)
			answer, at, err := query(qctx, index, opts.Wait)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				if !retryable(err) {
					yield(zero, err)
					return
				}
				failures++
				index = 0
				delay := opts.Backoff.Backoff(failures, opts.Jitter())
				if !yield(zero, &RetryError{Err: err, Failures: failures, Delay: delay}) {
					return
				}
				if opts.Clock.Sleep(ctx, delay) != nil {
					return
				}
				continue
			}
			failures = 0
			if !yield(answer, nil) {
				return
			}
			// As Consul's clients: an index that goes backwards (the
			// agent's store was replaced) restarts from 0, which answers
			// at once with the whole answer; an index of 0 would never
			// block, so it becomes 1.
			switch {
			case at < index:
				index = 0
			case at == 0:
				index = 1
			default:
				index = at
			}
		}
	}
}

// blockingQuery adds a blocking query's parameters to q: with index > 0
// the agent answers once its index passes index, or after wait.
func blockingQuery(q url.Values, index uint64, wait time.Duration) url.Values {
	if index > 0 {
		q.Set("index", strconv.FormatUint(index, 10))
		q.Set("wait", wait.String())
	}
	return q
}

// answerIndex reads the index an answer was read at, X-Consul-Index.
func answerIndex(resp *http.Response) (uint64, error) {
	h := resp.Header.Get("X-Consul-Index")
	index, err := strconv.ParseUint(h, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("api: answer without a valid X-Consul-Index: %q", h)
	}
	return index, nil
}

// retryable reports whether asking again may mend err: anything but a
// 4xx answer other than 429 Too Many Requests.
func retryable(err error) bool {
	var se *StatusError
	return !errors.As(err, &se) || se.Code/100 != 4 || se.Code == http.StatusTooManyRequests
}
