package agent

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/httpapi"
	"github.com/edgeplane/edgeplane/store"
)

// snapshots saves and restores the store for the HTTP API.
type snapshots struct {
	store    *store.Store
	maxAhead time.Duration // max_clock_drift: restored stamps further ahead are refused
	log      *slog.Logger
}

// compactor compacts the store for PUT /v1/edgeplane/store/compact.
type compactor struct {
	store *store.Store
	log   *slog.Logger
}

func (c compactor) Compact(ctx context.Context) (api.CompactResult, error) {
	start := time.Now()
	res, err := c.store.Compact(ctx)
	if err != nil {
		c.log.Error("store compaction failed", "err", err)
		return api.CompactResult{}, err
	}
	c.log.Info("store compacted", "bytes_before", res.Before, "bytes_after", res.After, "took", time.Since(start).Round(time.Millisecond))
	return api.CompactResult{Before: res.Before, After: res.After}, nil
}

func (s snapshots) Save(w io.Writer) error {
	_, err := s.store.Snapshot(w)
	return err
}

// Restore merges a snapshot stream into the store by last-writer-wins,
// checking its records as records from a peer; the replica spreads what
// changed, from the store's feed, like any write. Records whose keys are
// not valid UTF-8 go to the store's quarantine instead.
func (s snapshots) Restore(r io.Reader) (httpapi.RestoreResult, error) {
	res, err := s.store.RestoreWith(r, store.RestoreOptions{MaxAhead: s.maxAhead})
	warnQuarantined(s.log, res.Quarantined)
	out := httpapi.RestoreResult{Changed: res.Changed, Quarantined: len(res.Quarantined)}
	if err != nil {
		return out, err
	}
	s.log.Info("snapshot restored", "changed", res.Changed, "quarantined", len(res.Quarantined),
		"malformed", res.Malformed, "rejected_clock_ahead", res.Rejected)
	return out, nil
}
