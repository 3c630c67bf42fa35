package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/version"
	"github.com/edgeplane/edgeplane/store"
)

// dataDir is the agent's data directory and the store in it: the first
// component built and the last closed.
type dataDir struct {
	dir   string
	temp  bool // dev mode: dir is removed on Close
	store *store.Store
}

// openDataDir opens the store in the configured data dir, or in a new
// temporary one in dev mode, and warns of the records it keeps in
// quarantine.
func openDataDir(cfg config.Config, log *slog.Logger) (*dataDir, error) {
	d := &dataDir{dir: cfg.DataDir}
	if d.dir == "" {
		if !cfg.Dev {
			return nil, errors.New("agent: data_dir is required outside dev mode")
		}
		var err error
		if d.dir, err = makeDevDir(log); err != nil {
			return nil, fmt.Errorf("agent: dev data dir: %w", err)
		}
		d.temp = true
	}
	st, err := store.Open(d.dir, store.Options{ClockFloor: version.Floor(),
		HistoryVersions: cfg.HistoryVersions, HistoryMaxBytes: cfg.HistoryMaxBytesValue()})
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("agent: %w", err)
	}
	d.store = st
	reportQuarantine(st, log)
	return d, nil
}

// Start does nothing: the store serves from the moment it is open.
func (d *dataDir) Start(context.Context) error { return nil }

// Close closes the store, and removes a dev mode data dir.
func (d *dataDir) Close() error {
	var err error
	if d.store != nil {
		if err = d.store.Close(); err != nil {
			err = fmt.Errorf("closing store: %w", err)
		}
	}
	if d.temp {
		os.RemoveAll(d.dir)
	}
	return err
}
