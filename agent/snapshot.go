package agent

import (
	"io"
	"log/slog"

	"github.com/edgeplane/edgeplane/agent/httpapi"
	"github.com/edgeplane/edgeplane/agent/replica"
	"github.com/edgeplane/edgeplane/store"
)

// snapshots saves and restores the store for the HTTP API.
type snapshots struct {
	store   *store.Store
	replica *replica.Service
	log     *slog.Logger
}

func (s snapshots) Save(w io.Writer) error {
	_, err := s.store.Snapshot(w)
	return err
}

// Restore merges a snapshot stream into the store in chunks, by
// last-writer-wins, spreading what changed like any write. Records whose
// keys are not valid UTF-8 go to the store's quarantine instead.
func (s snapshots) Restore(r io.Reader) (httpapi.RestoreResult, error) {
	const chunk = 1024
	sr := store.NewSnapshotReader(r)
	batch := make([]store.Record, 0, chunk)
	var res httpapi.RestoreResult
	flush := func() error {
		valid, invalid := store.SplitInvalidUTF8(batch)
		res.Changed += s.replica.ApplyAndSpread(valid)
		batch = batch[:0]
		if err := quarantineRestored(s.store, s.log, invalid); err != nil {
			return err
		}
		res.Quarantined += len(invalid)
		return nil
	}
	for {
		rec, err := sr.Next()
		if err != nil && err != io.EOF {
			if ferr := flush(); ferr != nil {
				return res, ferr
			}
			return res, err
		}
		if err == nil {
			batch = append(batch, rec)
		}
		if len(batch) == chunk || (err == io.EOF && len(batch) > 0) {
			if ferr := flush(); ferr != nil {
				return res, ferr
			}
		}
		if err == io.EOF {
			s.log.Info("snapshot restored", "changed", res.Changed, "quarantined", res.Quarantined)
			return res, nil
		}
	}
}
