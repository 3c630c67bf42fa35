package replica

import (
	"cmp"
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
//  2. receive the peer's group hashes (2 KB) and find the groups that
//     differ, then their bucket hashes (MethodBuckets);
//  3. for the buckets that differ, receive the short hashes of the peer's
//     entries (MethodEntries) and compare them with this node's; send the
//     entries the peer lacks with their versions, and the short hashes of
//     the peer's entries this node lacks (MethodResolve); receive the
//     peer's records that are newer or missing here, and the keys it
//     wants;
//  4. push those records.
//
// A peer that predates group hashes answers step 2 with its bucket hashes
// (32 KB), and the round goes on as such a peer expects (see syncKeys):
// both versions of each differing key cross.
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
	req := DigestRequest{Root: st.DigestRoot(), Horizon: uint64(st.Horizon()), Mark: r.mark.Load(), Progress: r.report(start), Groups: true}
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
	var err error
	if len(dig.Buckets) > 0 { // a peer that predates group hashes
		err = r.syncKeys(ctx, peer, dig.Buckets, &res)
	} else {
		err = r.syncTree(ctx, peer, dig.Groups, &res)
	}
	r.bytesSent.Add(uint64(res.BytesOut))
	r.bytesRecv.Add(uint64(res.BytesIn))
	if err != nil {
		return res, err
	}
	r.adoptHorizon(dig.Horizon)
	r.learn(peer.Name, dig.Progress, true, start)
	r.noteSynced(start)
	return res, nil
}

// syncKeys is the exchange of peers that predate group hashes, from their
// bucket hashes: send this node's (key, hash) entries of the buckets that
// differ; receive the peer's records that differ or are missing here, and
// the keys it wants.
func (r *Replica) syncKeys(ctx context.Context, peer Peer, buckets []uint64, res *SyncResult) error {
	res.BytesIn += 8 * len(buckets)
	mine := r.cfg.Store.DigestBucketHashes()
	if len(buckets) != len(mine) {
		return fmt.Errorf("peer sent %d bucket hashes, want %d", len(buckets), len(mine))
	}
	var differ []int
	for i := range mine {
		if mine[i] != buckets[i] {
			differ = append(differ, i)
		}
	}
	res.BucketsDiffering = len(differ)
	// The differing buckets go in batches that keep every message under
	// the sync limits, whatever the difference: a fresh replica against a
	// full one is a large anti-entropy round, not a failed one.
	for calls := 0; len(differ) > 0; calls++ {
		if calls == maxKeysCalls {
			return fmt.Errorf("keys: no end after %d calls", calls)
		}
		kreq, err := r.keysRequest(differ)
		if err != nil {
			return err
		}
		for _, kh := range kreq.Have {
			res.BytesOut += len(kh.Key) + 8
		}
		var keys KeysResponse
		if err := r.call(ctx, peer, MethodKeys, &kreq, &keys); err != nil {
			return fmt.Errorf("keys: %w", err)
		}
		if err := r.takeKeys(ctx, peer, len(kreq.Buckets), &keys, res); err != nil {
			return err
		}
		differ = differ[keys.Done:]
	}
	return nil
}

// takeKeys merges the records of a keys response answering n buckets and
// pushes the records it wants.
func (r *Replica) takeKeys(ctx context.Context, peer Peer, n int, keys *KeysResponse, res *SyncResult) error {
	if keys.Done < 0 || keys.Done > n || (keys.Done == 0 && len(keys.Records) == 0) {
		return fmt.Errorf("keys: peer answered %d of %d buckets and sent nothing", keys.Done, n)
	}
	res.Received += len(keys.Records)
	res.BytesIn += recordBytes(keys.Records)
	for _, k := range keys.Want {
		res.BytesIn += len(k) + 1
	}
	r.merge(ctx, keys.Records)
	if err := r.pushKeys(ctx, peer, store.TableKV, keys.Want, res); err != nil {
		return err
	}
	for _, tk := range keys.WantIn {
		table, err := store.CheckTable(tk.Table)
		if err != nil || table == store.TableKV {
			continue // a table this node does not hold
		}
		if err := r.pushKeys(ctx, peer, table, tk.Keys, res); err != nil {
			return err
		}
	}
	return nil
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
	err := r.eachBucket(differ, func(b int, have []store.KeyHash) bool {
		n := 0
		for _, kh := range have {
			n += len(kh.Key) + 8
		}
		if len(req.Buckets) > 0 && (size+n > maxSyncBytes || len(req.Have)+len(have) > maxSyncEntries) {
			return false
		}
		req.Buckets = append(req.Buckets, b)
		for _, kh := range have {
			req.Have = append(req.Have, KeyHash{Table: kh.Table, Key: kh.Key, Hash: kh.Hash})
		}
		size += n
		return true
	})
	return req, err
}

// readBuckets is how many buckets' entries eachBucket reads at once.
const readBuckets = 64

// eachBucket calls fn with this node's entries of each of buckets in
// turn, until fn returns false. It reads the entries readBuckets buckets
// at a time, in one read transaction that ends before fn runs.
func (r *Replica) eachBucket(buckets []int, fn func(b int, mine []store.KeyHash) bool) error {
	for len(buckets) > 0 {
		n := min(len(buckets), readBuckets)
		each, err := r.cfg.Store.BucketEntries(buckets[:n])
		if err != nil {
			return err
		}
		for i, mine := range each {
			if !fn(buckets[i], mine) {
				return nil
			}
		}
		buckets = buckets[n:]
	}
	return nil
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
		if req.Groups {
			resp.Groups = groupHashes(st.DigestBucketHashes())
		} else {
			resp.Buckets = st.DigestBucketHashes()
		}
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
	if err := checkBuckets(req.Buckets); err != nil {
		return nil, err
	}
	theirs := r.byBucket(req.Have, func(kh *KeyHash) uint64 { return kh.Hash })
	return r.answer(req.Buckets, func(b int, mine []store.KeyHash) ([]store.KeyHash, []tableKey) {
		return sortEntries(mine, theirs[b], func(kh store.KeyHash, h uint64, named bool) (bool, bool) {
			// Where both hold the key in other versions, both cross: LWW
			// decides on each side.
			return !named || h != kh.Hash, named && h != kh.Hash
		})
	})
}

// sortEntries walks this node's entries of a bucket against the values
// (hashes or versions) a caller sent for its keys of the bucket, and
// returns the entries whose records to send and the keys to want from the
// caller. decide says it for each entry, from the caller's value (named:
// the caller sent one); the keys only the caller holds are wanted.
func sortEntries(mine []store.KeyHash, theirs map[tableKey]uint64, decide func(kh store.KeyHash, v uint64, named bool) (send, want bool)) (send []store.KeyHash, wants []tableKey) {
	seen := 0
	for _, kh := range mine {
		tk := tableKey{kh.Table, kh.Key}
		v, named := theirs[tk]
		if named {
			seen++
		}
		s, w := decide(kh, v, named)
		if s {
			send = append(send, kh)
		}
		if w {
			wants = append(wants, tk)
		}
	}
	if seen < len(theirs) {
		held := make(map[tableKey]bool, len(mine))
		for _, kh := range mine {
			held[tableKey{kh.Table, kh.Key}] = true
		}
		for tk := range theirs {
			if !held[tk] {
				wants = append(wants, tk)
			}
		}
	}
	return send, wants
}

// checkBuckets refuses a request naming a bucket out of range, or more
// buckets than there are.
func checkBuckets(buckets []int) error {
	if len(buckets) > store.DigestBuckets {
		return fmt.Errorf("%d buckets requested", len(buckets))
	}
	for _, b := range buckets {
		if b < 0 || b >= store.DigestBuckets {
			return fmt.Errorf("bucket %d out of range", b)
		}
	}
	return nil
}

// byBucket sorts a caller's entries by bucket, each with the value it
// compares (its hash or its version); malformed ones are counted and
// skipped.
func (r *Replica) byBucket(have []KeyHash, value func(*KeyHash) uint64) map[int]map[tableKey]uint64 {
	theirs := map[int]map[tableKey]uint64{}
	for i := range have {
		kh := &have[i]
		if kh.invalid {
			r.malformed.Add(1)
			continue
		}
		b := store.BucketOf(kh.Key)
		if theirs[b] == nil {
			theirs[b] = map[tableKey]uint64{}
		}
		theirs[b][tableKey{kh.Table, kh.Key}] = value(kh)
	}
	return theirs
}

// answer builds a keys response for buckets, bucket by bucket until the
// sync limits: decide returns, from this node's entries of a bucket, the
// entries whose records it sends and the keys it wants from the caller.
func (r *Replica) answer(buckets []int, decide func(b int, mine []store.KeyHash) (send []store.KeyHash, wants []tableKey)) (*KeysResponse, error) {
	resp := &KeysResponse{}
	wantIn := map[string][]string{}
	size, wanted := 0, 0
	defer func() {
		for _, table := range slices.SortedFunc(maps.Keys(wantIn), store.CompareTables) {
			resp.WantIn = append(resp.WantIn, TableKeys{Table: table, Keys: wantIn[table]})
		}
	}()
	var failed error
	err := r.eachBucket(buckets, func(b int, mine []store.KeyHash) bool {
		send, wants := decide(b, mine)
		for len(send) > 0 { // table by table, in the order of mine
			n := 1
			for n < len(send) && send[n].Table == send[0].Table {
				n++
			}
			keys := make([]string, n)
			for i := range keys {
				keys[i] = send[i].Key
			}
			recs, err := r.cfg.Store.Records(send[0].Table, keys)
			if err != nil {
				failed = err
				return false
			}
			send = send[n:]
			for i := range recs {
				if size >= maxSyncBytes || len(resp.Records) >= maxSyncEntries {
					return false // bucket b is answered in part
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
		return size < maxSyncBytes && len(resp.Records) < maxSyncEntries && wanted < maxSyncEntries
	})
	if err = cmp.Or(err, failed); err != nil {
		return nil, err
	}
	return resp, nil
}

// tableKey names a record of any table.
type tableKey struct{ table, key string }
