package tracing

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Config.
const (
	DefaultSampleRatio = 1.0
	DefaultQueueSize   = 2048
	DefaultBatchSize   = 512
	DefaultInterval    = 5 * time.Second
	DefaultTimeout     = 10 * time.Second
	// DefaultFlushTimeout bounds Close's last export.
	DefaultFlushTimeout = 2 * time.Second
)

// Config is what a Tracer runs with.
type Config struct {
	// SampleRatio is the share of new traces sampled, from 0 to 1; a
	// caller's sampled flag is honoured whatever it is. Key
	// tracing.sample_ratio; default 1 (OpenTelemetry's default,
	// parentbased_always_on). Changed by SetSampleRatio.
	SampleRatio float64
	// Endpoint is the OTLP/HTTP traces URL spans are exported to, such as
	// http://127.0.0.1:4318/v1/traces; "" exports nothing. Key
	// tracing.otlp_endpoint.
	Endpoint string
	// Resource names this agent in the exported batches.
	Resource Resource
	// QueueSize bounds the spans waiting for export; past it they are
	// dropped. Default DefaultQueueSize.
	QueueSize int
	// BatchSize is the most spans one export carries. Default
	// DefaultBatchSize.
	BatchSize int
	// Interval is how often queued spans are exported. Default
	// DefaultInterval.
	Interval time.Duration
	// Timeout bounds one export. Default DefaultTimeout.
	Timeout time.Duration
	// FlushTimeout bounds Close's export of what is queued. Default
	// DefaultFlushTimeout.
	FlushTimeout time.Duration
	// Client sends the exports. Default a client of its own.
	Client *http.Client
	// Log receives export failures (at most one line an interval).
	// Default slog.Default().
	Log *slog.Logger
}

// ValidateEndpoint reports whether s is an OTLP/HTTP URL: http or https,
// with a host, without user info or fragment.
func ValidateEndpoint(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("not a URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q: the scheme must be http or https", s)
	case u.Host == "":
		return fmt.Errorf("%q: no host", s)
	case u.User != nil || u.Fragment != "":
		return fmt.Errorf("%q: no user info or fragment allowed", s)
	}
	return nil
}

// Validate reports a configuration New refuses, naming the field.
func (c *Config) Validate() error {
	var errs []error
	if !ValidRatio(c.SampleRatio) {
		errs = append(errs, fmt.Errorf("tracing: Config.SampleRatio %v is not from 0 to 1", c.SampleRatio))
	}
	if c.Endpoint != "" {
		if err := ValidateEndpoint(c.Endpoint); err != nil {
			errs = append(errs, fmt.Errorf("tracing: Config.Endpoint: %w", err))
		}
	}
	if c.QueueSize < 0 || c.BatchSize < 0 || c.Interval < 0 || c.Timeout < 0 || c.FlushTimeout < 0 {
		errs = append(errs, errors.New("tracing: Config.QueueSize, BatchSize, Interval, Timeout and FlushTimeout may not be negative"))
	}
	return errors.Join(errs...)
}

// Stats counts the spans given to the exporter.
type Stats struct {
	// Exported spans were taken by the collector.
	Exported uint64
	// DroppedQueueFull spans found the queue full.
	DroppedQueueFull uint64
	// DroppedExportFailed spans were in a batch the collector did not
	// take, or that could not be sent before Close's deadline.
	DroppedExportFailed uint64
}

// Tracer samples new traces and exports the spans it is given. Its
// methods are safe for concurrent use.
type Tracer struct {
	cfg   Config
	ratio atomic.Uint64 // float64 bits

	queue chan *Span // nil without an endpoint
	flush chan chan struct{}
	stop  chan struct{}
	wg    sync.WaitGroup

	mu      sync.Mutex
	started bool
	closed  bool

	exported, droppedFull, droppedFailed atomic.Uint64
}

// New returns a Tracer; with an endpoint, its exporter runs from Start.
func New(cfg Config) (*Tracer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&cfg.QueueSize, DefaultQueueSize)
	def(&cfg.BatchSize, DefaultBatchSize)
	defDur(&cfg.Interval, DefaultInterval)
	defDur(&cfg.Timeout, DefaultTimeout)
	defDur(&cfg.FlushTimeout, DefaultFlushTimeout)
	if cfg.Client == nil {
		cfg.Client = &http.Client{Transport: &http.Transport{MaxIdleConns: 2, IdleConnTimeout: time.Minute, DisableCompression: true}}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	t := &Tracer{cfg: cfg, stop: make(chan struct{}), flush: make(chan chan struct{})}
	t.ratio.Store(math.Float64bits(cfg.SampleRatio))
	if cfg.Endpoint != "" {
		t.queue = make(chan *Span, cfg.QueueSize)
	}
	return t, nil
}

// SampleRatio returns the share of new traces sampled.
func (t *Tracer) SampleRatio() float64 { return math.Float64frombits(t.ratio.Load()) }

// SetSampleRatio changes the share of new traces sampled, from the next
// trace on; a value out of 0..1 is ignored.
func (t *Tracer) SetSampleRatio(r float64) {
	if ValidRatio(r) {
		t.ratio.Store(math.Float64bits(r))
	}
}

// Exporting reports whether spans are exported.
func (t *Tracer) Exporting() bool { return t.queue != nil }

// Record queues a finished span for export, if it is sampled and there
// is an endpoint; it never blocks.
func (t *Tracer) Record(s *Span) {
	if t.queue == nil || !s.Sampled() {
		return
	}
	select {
	case t.queue <- s:
	default:
		t.droppedFull.Add(1)
	}
}

// Stats returns the export counters.
func (t *Tracer) Stats() Stats {
	return Stats{Exported: t.exported.Load(), DroppedQueueFull: t.droppedFull.Load(), DroppedExportFailed: t.droppedFailed.Load()}
}

// Start runs the exporter, when there is an endpoint, until Close.
func (t *Tracer) Start(context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return errors.New("tracing: closed")
	}
	if t.queue != nil && !t.started {
		t.started = true
		t.wg.Go(t.run)
	}
	return nil
}

// Flush exports what is queued now and returns once it was tried, or
// when ctx ends. Without a running exporter it returns at once.
func (t *Tracer) Flush(ctx context.Context) {
	t.mu.Lock()
	running := t.started && !t.closed
	t.mu.Unlock()
	if !running {
		return
	}
	done := make(chan struct{})
	select {
	case t.flush <- done:
	case <-ctx.Done():
		return
	case <-t.stop:
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// Close stops the exporter: what is queued is exported within
// Config.FlushTimeout, what is left then is dropped and counted.
func (t *Tracer) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	close(t.stop)
	t.mu.Unlock()
	t.wg.Wait()
	return nil
}

// run is the exporter's goroutine.
func (t *Tracer) run() {
	tick := time.NewTicker(t.cfg.Interval)
	defer tick.Stop()
	defer t.cfg.Client.CloseIdleConnections()
	batch := make([]*Span, 0, t.cfg.BatchSize)
	var buf []byte
	failing := false
	send := func(ctx context.Context) {
		if len(batch) == 0 {
			return
		}
		buf = encodeRequest(buf[:0], t.cfg.Resource, batch)
		if err := t.export(ctx, buf); err != nil {
			t.droppedFailed.Add(uint64(len(batch)))
			if !failing {
				t.cfg.Log.Warn("exporting spans failed; dropped until the collector answers", "endpoint", t.cfg.Endpoint, "spans", len(batch), "err", err)
			}
			failing = true
		} else {
			t.exported.Add(uint64(len(batch)))
			if failing {
				t.cfg.Log.Info("exporting spans again", "endpoint", t.cfg.Endpoint)
			}
			failing = false
		}
		clear(batch)
		batch = batch[:0]
	}
	// drain exports what is queued now, a batch at a time.
	drain := func(ctx context.Context) {
		for n := len(t.queue); n > 0; n-- {
			batch = append(batch, <-t.queue)
			if len(batch) == cap(batch) {
				send(ctx)
			}
		}
		send(ctx)
	}
	for {
		select {
		case s := <-t.queue:
			batch = append(batch, s)
			if len(batch) == cap(batch) {
				send(context.Background())
			}
		case <-tick.C:
			drain(context.Background())
		case done := <-t.flush:
			drain(context.Background())
			close(done)
		case <-t.stop:
			ctx, cancel := context.WithTimeout(context.Background(), t.cfg.FlushTimeout)
			drain(ctx)
			cancel()
			return
		}
	}
}

// maxResponse bounds what is read of the collector's answer.
const maxResponse = 64 << 10

// export posts one encoded request; an answer other than 2xx fails it.
func (t *Tracer) export(ctx context.Context, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, t.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.cfg.Endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := t.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("collector answered %s", resp.Status)
	}
	return nil
}
