package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/edgeplane/edgeplane/transport"
)

// MethodMetrics answers with the serving node's metrics in the
// Prometheus text format, as a stream of chunks.
const MethodMetrics = "edgeplane.metrics"

// Defaults of Config.
const (
	// DefaultTimeout bounds one fetch, from the call to the last chunk.
	DefaultTimeout = 5 * time.Second
	// DefaultMaxBytes bounds one node's answer.
	DefaultMaxBytes = 16 << 20
	// DefaultMaxInFlight bounds the fetches running at once.
	DefaultMaxInFlight = 4
)

// ChunkSize is the most text one message of the answer carries; it stays
// well under the transport's message limit (4 MiB by default).
const ChunkSize = 256 << 10

// Errors of Fetch, for errors.Is.
var (
	// ErrUnknownNode: no live member has the name.
	ErrUnknownNode = errors.New("relay: unknown node")
	// ErrTooLarge: the node's answer passed MaxBytes and was cut off.
	ErrTooLarge = errors.New("relay: answer too large")
	// ErrBusy: MaxInFlight fetches were running already.
	ErrBusy = errors.New("relay: too many relayed scrapes at once")
)

// request is MethodMetrics' request: who asks, for the logs. It has
// nothing that could choose what is served.
type request struct {
	From string `cbor:"1,keyasint"`
}

// chunk is one message of MethodMetrics' answer.
type chunk struct {
	Text []byte `cbor:"1,keyasint"`
}

// MetricsWriter writes a node's metrics in the Prometheus text format;
// *telemetry.Metrics implements it.
type MetricsWriter interface {
	WritePrometheus(w io.Writer)
}

// Registrar registers a server-streaming method; *transport.Server
// implements it.
type Registrar interface {
	HandleStream(method string, h transport.StreamHandler)
}

// Serve registers MethodMetrics on s, answering with m's metrics.
func Serve(s Registrar, m MetricsWriter) {
	s.HandleStream(MethodMetrics, transport.ServerStreaming(func(ctx context.Context, _ *request, send func(*chunk) error) error {
		var b bytes.Buffer
		m.WritePrometheus(&b)
		text := b.Bytes()
		for len(text) > 0 {
			n := min(len(text), ChunkSize)
			if err := send(&chunk{Text: text[:n]}); err != nil {
				return err
			}
			text = text[n:]
		}
		return nil
	}))
}

// Streamer starts server-streaming calls; *transport.Client implements
// it.
type Streamer interface {
	Stream(ctx context.Context, to transport.Peer, method string, req any, opts ...transport.CallOption) (*transport.ClientStream, error)
}

// Config is what a Relay fetches with.
type Config struct {
	// Self is this node's name: a fetch of it reads Local.
	Self string
	// Local is this node's metrics.
	Local MetricsWriter
	// Client calls the other agents.
	Client Streamer
	// Lookup returns the RPC address of a live member, or false.
	Lookup func(node string) (addr string, ok bool)
	// Timeout bounds one fetch. Default DefaultTimeout.
	Timeout time.Duration
	// MaxBytes bounds one answer. Default DefaultMaxBytes.
	MaxBytes int
	// MaxInFlight bounds the fetches running at once. Default
	// DefaultMaxInFlight.
	MaxInFlight int
}

// Validate reports a configuration New refuses, naming the field.
func (c *Config) Validate() error {
	var errs []error
	if c.Self == "" {
		errs = append(errs, errors.New("relay: Config.Self is empty"))
	}
	if c.Local == nil || c.Client == nil || c.Lookup == nil {
		errs = append(errs, errors.New("relay: Config.Local, Client and Lookup are required"))
	}
	if c.Timeout < 0 || c.MaxBytes < 0 || c.MaxInFlight < 0 {
		errs = append(errs, fmt.Errorf("relay: Config.Timeout %v, MaxBytes %d, MaxInFlight %d: none may be negative", c.Timeout, c.MaxBytes, c.MaxInFlight))
	}
	return errors.Join(errs...)
}

// Stats counts fetches by result.
type Stats struct {
	OK          uint64 // answered
	UnknownNode uint64 // no live member of that name
	TooLarge    uint64 // the answer passed MaxBytes and was cut off
	Busy        uint64 // refused: MaxInFlight fetches were running
	Failed      uint64 // the call failed or timed out
}

// Relay fetches other members' metrics. It starts no goroutine; it is
// safe for concurrent use.
type Relay struct {
	cfg      Config
	inFlight atomic.Int64

	ok, unknown, tooLarge, busy, failed atomic.Uint64
}

// New returns a relay over cfg.
func New(cfg Config) (*Relay, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	return &Relay{cfg: cfg}, nil
}

// Stats returns the counts of fetches so far.
func (r *Relay) Stats() Stats {
	return Stats{OK: r.ok.Load(), UnknownNode: r.unknown.Load(), TooLarge: r.tooLarge.Load(),
		Busy: r.busy.Load(), Failed: r.failed.Load()}
}

// Fetch returns node's metrics in the Prometheus text format: this node's
// own when node is Self, else fetched over RPC within Timeout and
// MaxBytes. It fails with ErrUnknownNode, ErrBusy, ErrTooLarge or the
// call's error.
func (r *Relay) Fetch(ctx context.Context, node string) ([]byte, error) {
	if node == r.cfg.Self {
		var b bytes.Buffer
		r.cfg.Local.WritePrometheus(&b)
		r.ok.Add(1)
		return b.Bytes(), nil
	}
	addr, ok := r.cfg.Lookup(node)
	if !ok {
		r.unknown.Add(1)
		return nil, fmt.Errorf("%w: no live member named %q", ErrUnknownNode, node)
	}
	if r.inFlight.Add(1) > int64(r.cfg.MaxInFlight) {
		r.inFlight.Add(-1)
		r.busy.Add(1)
		return nil, fmt.Errorf("%w: %d running", ErrBusy, r.cfg.MaxInFlight)
	}
	defer r.inFlight.Add(-1)
	text, err := r.fetch(ctx, transport.Peer{Node: node, Addr: addr})
	switch {
	case err == nil:
		r.ok.Add(1)
	case errors.Is(err, ErrTooLarge):
		r.tooLarge.Add(1)
	default:
		r.failed.Add(1)
	}
	return text, err
}

// maxChunks bounds the messages of one answer, so that a peer cannot
// keep a fetch busy with empty ones.
func (r *Relay) maxChunks() int { return r.cfg.MaxBytes/ChunkSize + 64 }

func (r *Relay) fetch(ctx context.Context, to transport.Peer) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	st, err := r.cfg.Client.Stream(ctx, to, MethodMetrics, &request{From: r.cfg.Self})
	if err != nil {
		return nil, fmt.Errorf("relay: metrics of %s at %s: %w", to.Node, to.Addr, err)
	}
	defer st.Close()
	var b bytes.Buffer
	for n := 0; ; n++ {
		if n > r.maxChunks() {
			return nil, fmt.Errorf("%w: %s sent more than %d messages", ErrTooLarge, to.Node, r.maxChunks())
		}
		var c chunk
		err := st.Recv(&c)
		if err == io.EOF {
			return b.Bytes(), nil
		}
		if err != nil {
			return nil, fmt.Errorf("relay: metrics of %s at %s: %w", to.Node, to.Addr, err)
		}
		if b.Len()+len(c.Text) > r.cfg.MaxBytes {
			return nil, fmt.Errorf("%w: %s sent more than %d bytes", ErrTooLarge, to.Node, r.cfg.MaxBytes)
		}
		b.Write(c.Text)
	}
}
