package replica

import (
	"context"
	"fmt"

	"github.com/edgeplane/edgeplane/store"
)

// SyncResult describes one anti-entropy round.
type SyncResult struct {
	Equal             bool
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
	ctx, cancel := context.WithTimeout(ctx, 4*r.cfg.CallTimeout)
	defer cancel()
	st := r.cfg.Store
	var res SyncResult
	if r.stale.Load() { // its old records must reach no one
		return res, errStale
	}
	var dig DigestResponse
	res.BytesOut += 24
	start := st.Clock().Now()
	req := DigestRequest{Root: st.DigestRoot(), Horizon: uint64(st.Horizon()), Mark: r.mark.Load()}
	if err := r.cfg.Caller.Call(ctx, peer, MethodDigest, &req, &dig); err != nil {
		return res, fmt.Errorf("digest: %w", err)
	}
	r.syncs.Add(1)
	switch {
	case dig.Equal:
		res.Equal = true
		r.stale.Store(false) // an identical store holds nothing to resurrect
		r.fresh.Store(false) // nor needs a bootstrap
		r.noteSynced(start)
		return res, nil
	case r.awayPast(dig.Horizon):
		r.becomeStale(peer.Name, dig.Horizon)
		return res, errStale
	case dig.Refused || dig.Mark < req.Horizon:
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
	have, err := st.BucketKeys(differ)
	if err != nil {
		return res, err
	}
	kreq := KeysRequest{Buckets: differ, Have: make([]KeyHash, len(have))}
	for i, kh := range have {
		kreq.Have[i] = KeyHash{Key: kh.Key, Hash: kh.Hash}
		res.BytesOut += len(kh.Key) + 8
	}
	var keys KeysResponse
	if err := r.cfg.Caller.Call(ctx, peer, MethodKeys, &kreq, &keys); err != nil {
		return res, fmt.Errorf("keys: %w", err)
	}
	res.Received = len(keys.Records)
	res.BytesIn += recordBytes(keys.Records)
	r.merge(keys.Records)
	if len(keys.Want) > 0 {
		recs, err := st.Records(keys.Want)
		if err != nil {
			return res, err
		}
		d := Delta{Records: make([]Record, len(recs))}
		for i := range recs {
			d.Records[i] = toWire(&recs[i])
		}
		res.Sent = len(d.Records)
		res.BytesOut += recordBytes(d.Records)
		var pr PushResponse
		if err := r.cfg.Caller.Call(ctx, peer, MethodPush, &d, &pr); err != nil {
			return res, fmt.Errorf("push: %w", err)
		}
	}
	r.bytesSent.Add(uint64(res.BytesOut))
	r.bytesRecv.Add(uint64(res.BytesIn))
	r.noteSynced(start)
	return res, nil
}

func recordBytes(recs []Record) int {
	n := 0
	for i := range recs {
		n += len(recs[i].Key) + len(recs[i].Value) + len(recs[i].Origin) + 24
	}
	return n
}

// HandleDigest serves MethodDigest. It refuses to compare while this node
// pulls a snapshot, or when either side was away past the other's horizon
// (then the one that was away pulls a snapshot).
func (r *Replica) HandleDigest(ctx context.Context, req *DigestRequest) (*DigestResponse, error) {
	st := r.cfg.Store
	resp := &DigestResponse{Horizon: uint64(st.Horizon()), Mark: r.mark.Load()}
	switch {
	case r.pulling.Load():
		resp.Refused = true
	case req.Root == st.DigestRoot():
		resp.Equal = true
		r.stale.Store(false)
		r.fresh.Store(false)
		r.noteSynced(st.Clock().Now())
	case r.awayPast(req.Horizon):
		r.becomeStale("(caller)", req.Horizon)
		resp.Refused = true
	case r.stale.Load() || req.Mark < resp.Horizon:
		resp.Refused = true
	default:
		resp.Buckets = st.DigestBucketHashes()
	}
	return resp, nil
}

// HandleKeys serves MethodKeys: it returns this node's records that the
// caller lacks or holds in another version, and the keys it wants back.
func (r *Replica) HandleKeys(ctx context.Context, req *KeysRequest) (*KeysResponse, error) {
	for _, b := range req.Buckets {
		if b < 0 || b >= store.DigestBuckets {
			return nil, fmt.Errorf("bucket %d out of range", b)
		}
	}
	mine, err := r.cfg.Store.BucketKeys(req.Buckets)
	if err != nil {
		return nil, err
	}
	theirs := make(map[string]uint64, len(req.Have))
	for _, kh := range req.Have {
		theirs[kh.Key] = kh.Hash
	}
	var send []string
	resp := &KeysResponse{}
	for _, kh := range mine {
		h, ok := theirs[kh.Key]
		if !ok || h != kh.Hash {
			send = append(send, kh.Key)
		}
		if ok && h != kh.Hash {
			resp.Want = append(resp.Want, kh.Key) // both versions meet; LWW decides on each side
		}
		delete(theirs, kh.Key)
	}
	for k := range theirs { // keys only the caller holds
		resp.Want = append(resp.Want, k)
	}
	recs, err := r.cfg.Store.Records(send)
	if err != nil {
		return nil, err
	}
	resp.Records = make([]Record, len(recs))
	for i := range recs {
		resp.Records[i] = toWire(&recs[i])
	}
	return resp, nil
}
