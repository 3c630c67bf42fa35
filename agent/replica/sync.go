package replica

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/edgeplane/edgeplane/store"
)

// SyncResult describes one anti-entropy round.
type SyncResult struct {
	Equal             bool
	PeerRoot          uint64 // the peer's digest root
	BucketsDiffering  int
	Received, Sent    int // records
	BytesOut, BytesIn int // approximate payload bytes
}

// SyncWith compares this replica with peer and exchanges what differs:
//
//  1. send the digest root; an equal root ends the round (a few bytes);
//  2. receive the peer's bucket hashes (32 KB) and find the buckets that
//     differ;
//  3. send this node's (key, hash) entries of those buckets; receive the
//     peer's records that differ or are missing here, and the keys it
//     wants;
//  4. push those records.
//
// Both sides merge by last-writer-wins, so the round is safe to repeat,
// to interrupt, and to run from both ends at once.
func (r *Replica) SyncWith(ctx context.Context, peer Peer) (res SyncResult, err error) {
	defer func() { r.notePeer(peer, res, err) }()
	return r.syncWith(ctx, peer)
}

func (r *Replica) syncWith(ctx context.Context, peer Peer) (SyncResult, error) {
	st := r.cfg.Store
	var res SyncResult
	if r.stale.Load() { // its old records must reach no one
		return res, errStale
	}
	var dig DigestResponse
	res.BytesOut += 24
	start := st.Clock().Now()
	req := DigestRequest{Root: st.DigestRoot(), Horizon: uint64(st.Horizon()), Mark: r.mark.Load(), Progress: r.report(start)}
	if err := r.call(ctx, peer, MethodDigest, &req, &dig); err != nil {
		return res, fmt.Errorf("digest: %w", err)
	}
	r.syncs.Add(1)
	res.PeerRoot = dig.Root
	behindPeer, peerBehind, reached := r.meetsBehind(true, req.Progress, dig.Progress, req.Mark, dig.Mark, dig.Horizon)
	switch {
	case dig.Equal:
		res.Equal = true
		r.stale.Store(false) // an identical store holds nothing to resurrect
		r.fresh.Store(false) // nor needs a bootstrap
		r.adoptHorizon(dig.Horizon)
		r.learn(peer.Name, dig.Progress, true, start)
		r.noteSynced(start)
		return res, nil
	case !r.plausibleHorizon(dig.Horizon):
		return res, errPeerClock
	case behindPeer:
		r.becomeStale(peer.Name, dig.Horizon, reached)
		return res, errStale
	case dig.Refused && dig.Pulling:
		return res, errDeferred
	case dig.Refused || peerBehind:
		return res, errRefused
	}
	res.BytesIn += 8 * len(dig.Buckets)
	mine := st.DigestBucketHashes()
	if len(dig.Buckets) != len(mine) {
		return res, fmt.Errorf("peer sent %d bucket hashes, want %d", len(dig.Buckets), len(mine))
	}
	var differ []int
	for i := range mine {
		if mine[i] != dig.Buckets[i] {
			differ = append(differ, i)
		}
	}
	res.BucketsDiffering = len(differ)
	// The differing buckets go in batches that keep every message under
	// the sync limits, whatever the difference: a fresh replica against a
	// full one is a large anti-entropy round, not a failed one.
	for calls := 0; len(differ) > 0; calls++ {
		if calls == maxKeysCalls {
			return res, fmt.Errorf("keys: no end after %d calls", calls)
		}
		kreq, err := r.keysRequest(differ)
		if err != nil {
			return res, err
		}
		for _, kh := range kreq.Have {
			res.BytesOut += len(kh.Key) + 8
		}
		var keys KeysResponse
		if err := r.call(ctx, peer, MethodKeys, &kreq, &keys); err != nil {
			return res, fmt.Errorf("keys: %w", err)
		}
		if keys.Done > len(kreq.Buckets) || (keys.Done == 0 && len(keys.Records) == 0) {
			return res, fmt.Errorf("keys: peer answered %d of %d buckets and sent nothing", keys.Done, len(kreq.Buckets))
		}
		differ = differ[keys.Done:]
		res.Received += len(keys.Records)
		res.BytesIn += recordBytes(keys.Records)
		r.merge(ctx, keys.Records)
		if err := r.pushKeys(ctx, peer, store.TableKV, keys.Want, &res); err != nil {
			return res, err
		}
		for _, tk := range keys.WantIn {
			table, err := store.CheckTable(tk.Table)
			if err != nil || table == store.TableKV {
				continue // a table this node does not hold
			}
			if err := r.pushKeys(ctx, peer, table, tk.Keys, &res); err != nil {
				return res, err
			}
		}
	}
	r.bytesSent.Add(uint64(res.BytesOut))
	r.bytesRecv.Add(uint64(res.BytesIn))
	r.adoptHorizon(dig.Horizon)
	r.learn(peer.Name, dig.Progress, true, start)
	r.noteSynced(start)
	return res, nil
}

// Limits of one anti-entropy message: records and (key, hash) entries are
// batched under them, well inside the transport's message limits.
const (
	maxSyncBytes   = 1 << 20
	maxSyncEntries = 16 << 10
	maxKeysCalls   = 4 * store.DigestBuckets // every call answers a bucket or sends a record
)

// keysRequest takes the leading differing buckets whose entries fit the
// sync limits (at least one bucket).
func (r *Replica) keysRequest(differ []int) (KeysRequest, error) {
	var req KeysRequest
	size := 0
	for _, b := range differ {
		have, err := r.cfg.Store.BucketKeys([]int{b})
		if err != nil {
			return req, err
		}
		n := 0
		for _, kh := range have {
			n += len(kh.Key) + 8
		}
		if len(req.Buckets) > 0 && (size+n > maxSyncBytes || len(req.Have)+len(have) > maxSyncEntries) {
			break
		}
		req.Buckets = append(req.Buckets, b)
		for _, kh := range have {
			req.Have = append(req.Have, KeyHash{Table: kh.Table, Key: kh.Key, Hash: kh.Hash})
		}
		size += n
	}
	return req, nil
}

// pushKeys sends the records of keys of table to peer, in batches under
// the sync limits.
func (r *Replica) pushKeys(ctx context.Context, peer Peer, table string, keys []string, res *SyncResult) error {
	for len(keys) > 0 {
		n := min(len(keys), maxSyncEntries)
		recs, err := r.cfg.Store.Records(table, keys[:n])
		if err != nil {
			return err
		}
		keys = keys[n:]
		d := Delta{}
		size := 0
		for i := range recs {
			w := toWire(&recs[i])
			d.Records = append(d.Records, w)
			size += recordSize(&w)
			if size >= maxSyncBytes || i == len(recs)-1 {
				res.Sent += len(d.Records)
				res.BytesOut += size
				var pr PushResponse
				if err := r.call(ctx, peer, MethodPush, &d, &pr); err != nil {
					return fmt.Errorf("push: %w", err)
				}
				d.Records, size = d.Records[:0], 0
			}
		}
	}
	return nil
}

// call makes one RPC bounded by CallTimeout.
func (r *Replica) call(ctx context.Context, peer Peer, method string, req, resp any) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
	defer cancel()
	return r.cfg.Caller.Call(ctx, peer, method, req, resp)
}

func recordBytes(recs []Record) int {
	n := 0
	for i := range recs {
		n += recordSize(&recs[i])
	}
	return n
}

// recordSize is about a record's encoded size.
func recordSize(r *Record) int { return len(r.Table) + len(r.Key) + len(r.Value) + len(r.Origin) + 34 }

// HandleDigest serves MethodDigest. It refuses to compare while this node
// pulls a snapshot, or when either side was away past the other's horizon
// (then the one that was away pulls a snapshot).
func (r *Replica) HandleDigest(ctx context.Context, req *DigestRequest) (*DigestResponse, error) {
	st := r.cfg.Store
	now := st.Clock().Now()
	resp := &DigestResponse{Root: st.DigestRoot(), Horizon: uint64(st.Horizon()), Mark: r.mark.Load(), Progress: r.report(now)}
	behindCaller, callerBehind, reached := r.meetsBehind(false, resp.Progress, req.Progress, resp.Mark, req.Mark, req.Horizon)
	switch {
	case r.pulling.Load():
		resp.Refused, resp.Pulling = true, true
	case req.Root == resp.Root:
		resp.Equal = true
		r.stale.Store(false)
		r.fresh.Store(false)
		r.adoptHorizon(req.Horizon)
		r.learn("", req.Progress, true, now)
		r.noteSynced(now)
	case !r.plausibleHorizon(req.Horizon):
		resp.Refused = true
	case behindCaller:
		r.becomeStale("(caller)", req.Horizon, reached)
		resp.Refused = true
	case r.stale.Load() || callerBehind:
		resp.Refused = true
	default:
		resp.Buckets = st.DigestBucketHashes()
		r.adoptHorizon(req.Horizon)
		r.learn("", req.Progress, false, 0)
	}
	return resp, nil
}

// HandleKeys serves MethodKeys: it returns this node's records that the
// caller lacks or holds in another version, and the keys it wants back,
// bucket by bucket until the sync limits; Done says how many of the
// requested buckets it answered completely (it may send part of the next
// one: the caller asks again with its updated entries).
func (r *Replica) HandleKeys(ctx context.Context, req *KeysRequest) (*KeysResponse, error) {
	for _, b := range req.Buckets {
		if b < 0 || b >= store.DigestBuckets {
			return nil, fmt.Errorf("bucket %d out of range", b)
		}
	}
	theirs := make(map[int]map[tableKey]uint64, len(req.Buckets))
	for _, kh := range req.Have {
		if kh.invalid {
			r.malformed.Add(1)
			continue
		}
		b := store.BucketOf(kh.Key)
		if theirs[b] == nil {
			theirs[b] = map[tableKey]uint64{}
		}
		theirs[b][tableKey{kh.Table, kh.Key}] = kh.Hash
	}
	resp := &KeysResponse{}
	wantIn := map[string][]string{}
	size, wanted := 0, 0
	defer func() {
		for _, table := range slices.SortedFunc(maps.Keys(wantIn), store.CompareTables) {
			resp.WantIn = append(resp.WantIn, TableKeys{Table: table, Keys: wantIn[table]})
		}
	}()
	for _, b := range req.Buckets {
		mine, err := r.cfg.Store.BucketKeys([]int{b})
		if err != nil {
			return nil, err
		}
		want := theirs[b]
		send := map[string][]string{} // by table
		var tables []string           // of send, in order
		var wants []tableKey
		for _, kh := range mine {
			tk := tableKey{kh.Table, kh.Key}
			h, ok := want[tk]
			if !ok || h != kh.Hash {
				if send[kh.Table] == nil {
					tables = append(tables, kh.Table)
				}
				send[kh.Table] = append(send[kh.Table], kh.Key)
			}
			if ok && h != kh.Hash {
				wants = append(wants, tk) // both versions meet; LWW decides on each side
			}
			delete(want, tk)
		}
		for tk := range want { // keys only the caller holds
			wants = append(wants, tk)
		}
		for _, table := range tables {
			recs, err := r.cfg.Store.Records(table, send[table])
			if err != nil {
				return nil, err
			}
			for i := range recs {
				if size >= maxSyncBytes || len(resp.Records) >= maxSyncEntries {
					return resp, nil // bucket b is answered in part
				}
				w := toWire(&recs[i])
				resp.Records = append(resp.Records, w)
				size += recordSize(&w)
			}
		}
		for _, tk := range wants {
			if tk.table == store.TableKV {
				resp.Want = append(resp.Want, tk.key)
			} else {
				wantIn[tk.table] = append(wantIn[tk.table], tk.key)
			}
		}
		wanted += len(wants)
		resp.Done++
		if size >= maxSyncBytes || len(resp.Records) >= maxSyncEntries || wanted >= maxSyncEntries {
			break
		}
	}
	return resp, nil
}

// tableKey names a record of any table.
type tableKey struct{ table, key string }
