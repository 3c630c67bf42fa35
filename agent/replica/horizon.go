package replica

import (
	"context"
	"errors"
	"time"

	"github.com/edgeplane/edgeplane/store"
)

// markPersistEvery is how far the sync mark may run ahead of its saved
// copy: complete syncs save it at most once every five minutes, the only
// disk write of an idle mesh. After a restart the saved mark is up to five
// minutes old, which, if the node was away past the horizon, keeps a
// little more of its own writes.
const markPersistEvery = 5 * time.Minute

var (
	errPeerClock = errors.New("the peer's tombstone horizon is ahead of this node's clock: its clock runs fast")
	errStale     = errors.New("this node was away longer than the peer's tombstone horizon")
	errRefused   = errors.New("the peer refused: one side was away past the other's horizon, or a clock runs fast")
	errDeferred  = errors.New("the peer is pulling a snapshot; syncing with it later")
)

// synced moves the sync mark to m: this node held everything a peer held
// as of m. It is saved, with the members' coverage, when save is set or
// it ran markPersistEvery ahead of the saved one.
func (r *Replica) synced(m store.Stamp, save bool) error {
	r.syncedOnce.Store(true)
	for cur := r.mark.Load(); uint64(m) > cur && !r.mark.CompareAndSwap(cur, uint64(m)); cur = r.mark.Load() {
	}
	saved := r.cfg.Store.SyncMark()
	if !save && m.Millis() < saved.Millis()+uint64(markPersistEvery.Milliseconds()) {
		return nil
	}
	if err := r.saveCoverage(); err != nil {
		return err
	}
	return r.cfg.Store.SetSyncMark(m)
}

// adoptHorizon raises this node's horizon to a peer's it syncs with: what
// it receives from that peer lacks the deletes the peer has forgotten, so
// its store may now lack them too.
func (r *Replica) adoptHorizon(h uint64) {
	if err := r.cfg.Store.RaiseHorizon(store.Stamp(h)); err != nil {
		r.cfg.Log.Error("saving the tombstone horizon", "err", err)
	}
}

func (r *Replica) noteSynced(m store.Stamp) {
	if err := r.synced(m, false); err != nil {
		r.cfg.Log.Error("saving the sync mark", "err", err)
	}
}

// becomeStale switches this node to pulling a snapshot at its next round:
// it may lack deletes a peer has collected (see behind), so it must not
// hand the peer records it has not seen since. It keeps its own writes
// stamped after reached, how far it held what the peer's members held.
func (r *Replica) becomeStale(peer string, horizon, reached uint64) {
	if r.stale.Swap(true) {
		return
	}
	r.keepOwn.Store(reached)
	r.cfg.Log.Warn("this node was away longer than the tombstone horizon; pulling a snapshot and keeping only its own writes since it was cut off",
		"peer", peer, "sync_mark", store.Stamp(r.mark.Load()).String(), "reached", store.Stamp(reached).String(),
		"peer_horizon", store.Stamp(horizon).String())
	r.SyncSoon()
}

// round is one turn of the run loop: a bootstrap when the store started
// empty or the node was away past the horizon, anti-entropy otherwise. A
// node that started empty and cannot bootstrap yet syncs meanwhile, and
// tries again at the next round; a stale node only retries.
func (r *Replica) round(ctx context.Context) {
	if r.stale.Load() || r.fresh.Load() {
		_, err := r.Bootstrap(ctx)
		if err == nil {
			return
		}
		r.cfg.Log.Warn("bootstrap failed; retrying at the next round", "err", err)
		if r.stale.Load() {
			return
		}
	}
	r.SyncRandom(ctx)
}

// SyncMark returns the stamp of this node's last complete sync (zero:
// never).
func (r *Replica) SyncMark() store.Stamp { return store.Stamp(r.mark.Load()) }

// CollectTombstones removes the tombstones stamped more than TombstoneTTL
// before this node's clock (a hybrid logical clock, not the wall) and
// before the coverage every remembered member last reported (see
// collectable), and raises the store's horizon, which peers compare with
// their marks and coverage.
func (r *Replica) CollectTombstones() (int, error) {
	now, span := r.cfg.Store.Clock().Now().Millis(), uint64(r.cfg.TombstoneTTL.Milliseconds())
	if now <= span {
		return 0, nil
	}
	bound, _ := r.collectable()
	h := min(store.MakeStamp(now-span, 0), store.Stamp(bound))
	n, err := r.cfg.Store.CollectTombstones(h)
	if n > 0 {
		r.noteCollected(uint64(h))
	}
	return n, err
}

// Holdback reports the remembered member that holds tombstone collection
// back (its last reported coverage is older than TombstoneTTL), and that
// coverage; ok is false when none does.
func (r *Replica) Holdback() (member string, covered store.Stamp, ok bool) {
	now, span := r.cfg.Store.Clock().Now().Millis(), uint64(r.cfg.TombstoneTTL.Milliseconds())
	bound, member := r.collectable()
	if now <= span || store.Stamp(bound) >= store.MakeStamp(now-span, 0) {
		return "", 0, false
	}
	return member, store.Stamp(bound), true
}

// plausibleHorizon reports whether a peer's horizon can come from a clock
// at most MaxClockDrift ahead of this node's. A later one comes from a
// clock that runs fast (a device that booted in the future): its horizon
// must not make sound nodes drop their data, so the peer is not synced
// with until its clock is right.
func (r *Replica) plausibleHorizon(h uint64) bool {
	limit := r.cfg.Store.Clock().Wall().Millis() + uint64(r.cfg.MaxClockDrift.Milliseconds())
	span := uint64(r.cfg.TombstoneTTL.Milliseconds())
	return h == 0 || (limit > span && store.Stamp(h).Millis() <= limit-span)
}
