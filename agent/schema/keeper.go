package schema

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"strings"
	"sync"

	"github.com/edgeplane/edgeplane/store"
)

// feedSize is the Keeper's feed queue; past it, it rescans the store.
const feedSize = 4096

// Keeper keeps Bucket, the last good value of every key a schema
// governs, from the store's change feed, and the set of keys whose stored
// value breaks its schema. It writes only what changed: a value that
// passes and differs from the kept one, a key deleted or no longer
// governed.
type Keeper struct {
	st    *store.Store
	guard *Guard
	// report is told the keys whose stored value breaks its schema, with
	// the rule broken, at start and whenever that set changes.
	report func(bad map[string]string)
	log    *slog.Logger

	mu       sync.Mutex
	bad      map[string]string
	reported bool // bad was reported once

	work sync.Mutex // one apply or rescan at a time

	cancel context.CancelFunc
	done   chan struct{}
}

// NewKeeper returns a Keeper of st's last good values, checked by g;
// report, if not nil, is told the keys that break their schema.
func NewKeeper(st *store.Store, g *Guard, report func(bad map[string]string), log *slog.Logger) *Keeper {
	if log == nil {
		log = slog.Default()
	}
	return &Keeper{st: st, guard: g, report: report, log: log, bad: map[string]string{}}
}

// Bad returns the keys whose stored value breaks its schema, with the
// rule broken.
func (k *Keeper) Bad() map[string]string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return maps.Clone(k.bad)
}

// Start scans the store, reports, then follows the feed until Close.
func (k *Keeper) Start(context.Context) error {
	sub := k.st.Subscribe("lastgood", feedSize)
	if err := k.rescan(); err != nil {
		sub.Close()
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	k.cancel, k.done = cancel, make(chan struct{})
	go func() {
		defer close(k.done)
		defer sub.Close()
		for {
			changes, resync, err := sub.Next(ctx)
			if err != nil {
				return
			}
			k.work.Lock()
			err = k.apply(changes, resync)
			k.work.Unlock()
			if err != nil {
				k.log.Warn("keeping last good values", "err", err)
			}
		}
	}()
	return nil
}

// Rescan checks every key again: the agent calls it when a reload
// changed the layers, which change which schema governs a key.
func (k *Keeper) Rescan() error {
	k.work.Lock()
	defer k.work.Unlock()
	return k.rescan()
}

// Close stops following the feed and waits.
func (k *Keeper) Close() error {
	if k.cancel != nil {
		k.cancel()
		<-k.done
	}
	return nil
}

func (k *Keeper) apply(changes []store.Change, resync bool) error {
	var keys []string
	for _, c := range changes {
		if c.Table != store.TableKV {
			continue
		}
		if strings.HasPrefix(c.Key, Prefix) {
			resync = true
			break
		}
		keys = append(keys, c.Key)
	}
	if resync {
		return k.rescan()
	}
	if len(keys) == 0 {
		return nil
	}
	bad := k.Bad()
	// Most changes write nothing here (keys no schema governs, values
	// already kept): find out in a read transaction, so as not to queue
	// behind the store's writers for nothing.
	settleAll := func(tx *store.Tx, dry bool) (bool, error) {
		write := false
		for _, key := range keys {
			e, _, err := tx.Get(store.TableKV, key)
			if err != nil {
				return false, err
			}
			e.Key = key
			w, err := k.settle(tx, e, bad, dry)
			if err != nil {
				return false, err
			}
			write = write || w
		}
		return write, nil
	}
	err := k.readThenWrite(settleAll)
	k.publish(bad)
	return err
}

// readThenWrite runs fn dry in a read transaction, and again for real in
// a write transaction only when the dry run reports something to write.
func (k *Keeper) readThenWrite(fn func(tx *store.Tx, dry bool) (bool, error)) error {
	var write bool
	err := k.st.View(func(tx *store.Tx) error {
		var err error
		write, err = fn(tx, true)
		return err
	})
	if err != nil || !write {
		return err
	}
	return k.st.Update(func(tx *store.Tx) error {
		_, err := fn(tx, false)
		return err
	})
}

// rescan checks every key of the store against its schema, keeps the
// values that pass and reports those that do not. It reads first, and
// takes a write transaction only when something is to be written.
func (k *Keeper) rescan() error {
	var bad map[string]string
	rescan := func(tx *store.Tx, dry bool) (bool, error) {
		bad = map[string]string{}
		write := false
		// Kept values whose key is gone.
		var stale []string
		err := tx.Local(Bucket).Scan("", func(key string, _ []byte) error {
			e, found, err := tx.Get(store.TableKV, key)
			if err == nil && (!found || e.Deleted) {
				stale = append(stale, key)
			}
			return err
		})
		if err != nil {
			return false, err
		}
		for _, key := range stale {
			write = true
			if !dry {
				if err := tx.Local(Bucket).Delete(key); err != nil {
					return false, err
				}
			}
		}
		err = tx.Scan(store.TableKV, "", func(e *store.Entry) error {
			w, err := k.settle(tx, *e, bad, dry)
			write = write || w
			return err
		})
		return write, err
	}
	if err := k.readThenWrite(rescan); err != nil {
		return err
	}
	k.publish(bad)
	return nil
}

// settle brings key e.Key's kept value and badness up to date with e,
// its entry in the store (zero when absent), and reports whether that
// takes a write; dry only reports it.
func (k *Keeper) settle(tx *store.Tx, e store.Entry, bad map[string]string, dry bool) (bool, error) {
	l := tx.Local(Bucket)
	delete(bad, e.Key)
	s, err := k.governing(tx, e)
	if err != nil {
		return false, err
	}
	if s == nil {
		_, kept, err := l.Get(e.Key)
		if err != nil || !kept || dry {
			return kept, err
		}
		return true, l.Delete(e.Key)
	}
	if err := s.Validate(e.Key, e.Value); err != nil {
		bad[e.Key] = err.(*Violation).Rule
		return false, nil
	}
	v, err := json.Marshal(lastGood{Value: e.Value, Flags: e.Flags, CreateIndex: e.CreateIndex, ModifyIndex: e.ModifyIndex})
	if err != nil {
		return false, err
	}
	old, ok, err := l.Get(e.Key)
	switch {
	case err != nil:
		return false, err
	case ok && bytes.Equal(old, v):
		return false, nil
	case dry:
		return true, nil
	}
	return true, l.Put(e.Key, v)
}

// governing returns the schema of live entry e; nil for a deleted or
// absent one, a schema, or a key no schema governs.
func (k *Keeper) governing(tx *store.Tx, e store.Entry) (*Schema, error) {
	if e.ModifyIndex == 0 || e.Deleted || strings.HasPrefix(e.Key, Prefix) {
		return nil, nil
	}
	s, _, err := k.guard.In(tx, e.Key)
	return s, err
}

// publish puts bad in effect and reports it when it changed, or on the
// first report.
func (k *Keeper) publish(bad map[string]string) {
	k.mu.Lock()
	changed := !maps.Equal(k.bad, bad) || !k.reported
	k.bad, k.reported = bad, true
	k.mu.Unlock()
	if changed && k.report != nil {
		k.report(maps.Clone(bad))
	}
}
