package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// MethodBootstrap streams the whole store, in chunks, to a new node.
const MethodBootstrap = "replica.bootstrap"

// bootstrapChunk is how many records one message of the stream carries;
// each chunk is read in a short read transaction of its own.
const bootstrapChunk = 1000

// BootstrapRequest asks for the records after a key ("" from the start),
// so that a cut stream resumes where it stopped, from any peer.
type BootstrapRequest struct {
	After string `cbor:"1,keyasint"`
}

// BootstrapChunk is one message of the stream.
type BootstrapChunk struct {
	Records []Record `cbor:"1,keyasint"`
}

// Receiver yields the messages of a server-streaming call.
type Receiver interface {
	Recv(v any) error // io.EOF at the end of a complete stream
	Close() error
}

// Streamer opens a server-streaming call; a Caller that also implements it
// lets the replica bootstrap.
type Streamer interface {
	Stream(ctx context.Context, peer Peer, method string, req any) (Receiver, error)
}

// HandleBootstrap serves MethodBootstrap: the store in key order from
// req.After, tombstones included.
func (r *Replica) HandleBootstrap(ctx context.Context, req *BootstrapRequest, send func(*BootstrapChunk) error) error {
	after := req.After
	for {
		recs, err := r.cfg.Store.ScanAfter(after, bootstrapChunk)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			return nil
		}
		c := BootstrapChunk{Records: make([]Record, len(recs))}
		for i := range recs {
			c.Records[i] = toWire(&recs[i])
		}
		if err := send(&c); err != nil {
			return err
		}
		if len(recs) < bootstrapChunk {
			return nil
		}
		after = recs[len(recs)-1].Key
	}
}

// BootstrapResult describes a completed bootstrap.
type BootstrapResult struct {
	Records int      // received
	Applied int      // changed the store
	Peers   []string // streamed from, in order (more than one after a cut)
	Took    time.Duration
}

// Bootstrap pulls the whole store from a peer, merging it by last-writer-
// wins chunk by chunk; deltas that arrive meanwhile are applied as usual.
// If the stream is cut (the peer dies), it resumes after the last key
// received, from another peer. It fails only when no peer can finish.
func (r *Replica) Bootstrap(ctx context.Context) (BootstrapResult, error) {
	st, ok := r.cfg.Caller.(Streamer)
	if !ok {
		return BootstrapResult{}, errors.New("replica: the caller cannot stream")
	}
	start := time.Now()
	var res BootstrapResult
	after := ""
	var lastErr error
	for _, p := range r.pick(len(r.cfg.Peers())) {
		res.Peers = append(res.Peers, p.Name)
		err := r.bootstrapFrom(ctx, st, p, &after, &res)
		if err == nil {
			res.Took = time.Since(start)
			r.lastBootstrap.Store(&res)
			r.cfg.Log.Info("bootstrap complete", "records", res.Records, "applied", res.Applied,
				"peers", res.Peers, "took", res.Took.Round(time.Millisecond))
			return res, nil
		}
		lastErr = err
		r.cfg.Log.Warn("bootstrap stream cut; resuming from another peer", "peer", p.Name, "after", after, "err", err)
		if ctx.Err() != nil {
			break
		}
	}
	if lastErr == nil {
		lastErr = errors.New("no live peer")
	}
	return res, fmt.Errorf("replica: bootstrap: %w", lastErr)
}

func (r *Replica) bootstrapFrom(ctx context.Context, st Streamer, p Peer, after *string, res *BootstrapResult) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rcv, err := st.Stream(ctx, p, MethodBootstrap, &BootstrapRequest{After: *after})
	if err != nil {
		return err
	}
	defer rcv.Close()
	for {
		var c BootstrapChunk
		err := rcv.Recv(&c)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if len(c.Records) == 0 {
			continue
		}
		res.Records += len(c.Records)
		res.Applied += len(r.merge(c.Records))
		*after = c.Records[len(c.Records)-1].Key
	}
}

// LastBootstrap returns the last completed bootstrap, if any.
func (r *Replica) LastBootstrap() (BootstrapResult, bool) {
	if b := r.lastBootstrap.Load(); b != nil {
		return *b, true
	}
	return BootstrapResult{}, false
}
