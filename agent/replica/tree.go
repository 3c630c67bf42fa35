package replica

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/edgeplane/edgeplane/store"
)

// The exchange between nodes that keep each key's version in the digest
// index (store.KeyHash.Version) descends the digest as a tree and sends
// each differing key's record from the newer side only:
//
//   - the digest's store.DigestBuckets bucket hashes fall in DigestGroups
//     groups of consecutive buckets, each hashed as the XOR of its
//     buckets'; a digest answer carries the group hashes (2 KB), and the
//     caller asks for the bucket hashes of the groups that differ
//     (MethodBuckets, 128 bytes a group), not for all 4,096 (32 KB);
//   - for each differing bucket the responder sends a 4-byte short hash
//     of each entry's record hash (MethodEntries), where the earlier
//     exchange sent each key and its 8-byte hash: the caller finds its
//     entries the responder does not hold and the responder's entries it
//     does not hold, and sends the first as keys with their versions and
//     the second as short hashes (MethodResolve);
//   - the responder compares versions from its index: it sends its record
//     where it is newer or the caller lacks the key, and wants the
//     caller's where the caller is newer or it lacks the key. Only when
//     both hold one version (the same stamp, a different record) do both
//     cross, and last-writer-wins decides on each side.
//
// A short hash is 32 bits of a mix of the record hash and a salt the
// caller draws for each round. Two different records of a bucket may
// share one in a round (about one chance in 2^32 per pair); the
// difference is then missed in that round, which leaves the bucket
// hashes unequal, and the next round, under another salt, finds it.

// DigestGroups is how many groups of buckets a digest answer carries.
const DigestGroups = 256

// groupSize is the number of buckets of a group.
const groupSize = store.DigestBuckets / DigestGroups

// maxLack bounds the short hashes of a ResolveRequest: as many as the
// transport lets a message's array hold entries. A caller sends those of
// one entries answer, at most maxSyncEntries and one bucket.
const maxLack = 1 << 16

// groupHashes returns the group hashes of a digest's bucket hashes,
// 8 bytes each, big-endian.
func groupHashes(buckets []uint64) []byte {
	out := make([]byte, 0, 8*DigestGroups)
	for g := range DigestGroups {
		var x uint64
		for _, h := range buckets[g*groupSize : (g+1)*groupSize] {
			x ^= h
		}
		out = binary.BigEndian.AppendUint64(out, x)
	}
	return out
}

// shortHash is the 4-byte hash of a record hash under a round's salt: the
// upper half of the splitmix64 finaliser of their XOR, which spreads any
// change of its input over every bit.
func shortHash(h, salt uint64) uint32 {
	x := h ^ salt
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return uint32(x >> 32)
}

// shortHashes returns the short hashes of a packed list, or an error when
// its length is not a multiple of 4.
func shortHashes(p []byte) (map[uint32]bool, error) {
	if len(p)%4 != 0 {
		return nil, fmt.Errorf("%d bytes of short hashes", len(p))
	}
	out := make(map[uint32]bool, len(p)/4)
	for i := 0; i < len(p); i += 4 {
		out[binary.BigEndian.Uint32(p[i:])] = true
	}
	return out, nil
}

// compareEntries compares this node's entries of a bucket with the short
// hashes of the peer's, and appends to have this node's entries the peer
// does not hold (with their versions), and to lack the short hashes of the
// peer's entries this node does not hold.
func compareEntries(mine []store.KeyHash, theirs []byte, salt uint64, have []KeyHash, lack []byte) ([]KeyHash, []byte, error) {
	peer, err := shortHashes(theirs)
	if err != nil {
		return have, lack, err
	}
	own := make(map[uint32]bool, len(mine))
	for _, kh := range mine {
		sh := shortHash(kh.Hash, salt)
		own[sh] = true
		if !peer[sh] {
			have = append(have, KeyHash{Table: kh.Table, Key: kh.Key, Version: uint64(kh.Version)})
		}
	}
	for i := 0; i < len(theirs); i += 4 {
		if sh := binary.BigEndian.Uint32(theirs[i:]); !own[sh] {
			lack = binary.BigEndian.AppendUint32(lack, sh)
			own[sh] = true // once
		}
	}
	return have, lack, nil
}

// syncTree is the exchange from the peer's group hashes (see above).
func (r *Replica) syncTree(ctx context.Context, peer Peer, groups []byte, res *SyncResult) error {
	res.BytesIn += len(groups)
	if len(groups) != 8*DigestGroups {
		return fmt.Errorf("peer sent %d bytes of group hashes, want %d", len(groups), 8*DigestGroups)
	}
	mine := r.cfg.Store.DigestBucketHashes()
	ours := groupHashes(mine)
	var breq BucketsRequest
	for g := range DigestGroups {
		if binary.BigEndian.Uint64(ours[8*g:]) != binary.BigEndian.Uint64(groups[8*g:]) {
			breq.Groups = append(breq.Groups, g)
		}
	}
	if len(breq.Groups) == 0 {
		return nil // the roots differed by writes since the peer answered
	}
	res.BytesOut += 2 * len(breq.Groups)
	var buckets BucketsResponse
	if err := r.call(ctx, peer, MethodBuckets, &breq, &buckets); err != nil {
		return fmt.Errorf("buckets: %w", err)
	}
	res.BytesIn += len(buckets.Hashes)
	if len(buckets.Hashes) != 8*groupSize*len(breq.Groups) {
		return fmt.Errorf("peer sent %d bytes of bucket hashes for %d groups", len(buckets.Hashes), len(breq.Groups))
	}
	var differ []int
	for i, g := range breq.Groups {
		for j := range groupSize {
			if b := g*groupSize + j; mine[b] != binary.BigEndian.Uint64(buckets.Hashes[8*(i*groupSize+j):]) {
				differ = append(differ, b)
			}
		}
	}
	res.BucketsDiffering = len(differ)
	salt := r.salt()
	for calls := 0; len(differ) > 0; calls++ {
		if calls == maxKeysCalls {
			return fmt.Errorf("entries: no end after %d calls", calls)
		}
		batch, own, err := r.entriesBatch(differ)
		if err != nil {
			return err
		}
		res.BytesOut += 3*len(batch) + 8
		var entries EntriesResponse
		if err := r.call(ctx, peer, MethodEntries, &EntriesRequest{Buckets: batch, Salt: salt}, &entries); err != nil {
			return fmt.Errorf("entries: %w", err)
		}
		if len(entries.Hashes) == 0 || len(entries.Hashes) > len(batch) {
			return fmt.Errorf("entries: peer answered %d of %d buckets", len(entries.Hashes), len(batch))
		}
		done := batch[:len(entries.Hashes)]
		rreq := ResolveRequest{Buckets: done, Salt: salt}
		for i, theirs := range entries.Hashes {
			res.BytesIn += len(theirs)
			if rreq.Have, rreq.Lack, err = compareEntries(own[i], theirs, salt, rreq.Have, rreq.Lack); err != nil {
				return fmt.Errorf("entries: %w", err)
			}
		}
		if len(rreq.Have) == 0 && len(rreq.Lack) == 0 {
			differ = differ[len(done):] // short hashes hid the difference: the next round, under another salt
			continue
		}
		res.BytesOut += 3*len(done) + len(rreq.Lack)
		for _, kh := range rreq.Have {
			res.BytesOut += len(kh.Key) + 12
		}
		var keys KeysResponse
		if err := r.call(ctx, peer, MethodResolve, &rreq, &keys); err != nil {
			return fmt.Errorf("resolve: %w", err)
		}
		if err := r.takeKeys(ctx, peer, len(done), &keys, res); err != nil {
			return err
		}
		differ = differ[keys.Done:]
	}
	return nil
}

// entriesBatch takes the leading differing buckets whose entries fit the
// sync limits (at least one bucket), with this node's entries of each.
func (r *Replica) entriesBatch(differ []int) ([]int, [][]store.KeyHash, error) {
	var batch []int
	var own [][]store.KeyHash
	n := 0
	err := r.eachBucket(differ, func(b int, have []store.KeyHash) bool {
		if len(batch) > 0 && n+len(have) > maxSyncEntries {
			return false
		}
		batch, own = append(batch, b), append(own, have)
		n += len(have)
		return true
	})
	return batch, own, err
}

// salt draws the salt of a round's short hashes.
func (r *Replica) salt() uint64 {
	r.randMu.Lock()
	defer r.randMu.Unlock()
	return r.cfg.Rand.Uint64()
}

// HandleBuckets serves MethodBuckets: the bucket hashes of the requested
// groups.
func (r *Replica) HandleBuckets(ctx context.Context, req *BucketsRequest) (*BucketsResponse, error) {
	if len(req.Groups) > DigestGroups {
		return nil, fmt.Errorf("%d groups requested", len(req.Groups))
	}
	all := r.cfg.Store.DigestBucketHashes()
	resp := &BucketsResponse{Hashes: make([]byte, 0, 8*groupSize*len(req.Groups))}
	for _, g := range req.Groups {
		if g < 0 || g >= DigestGroups {
			return nil, fmt.Errorf("group %d out of range", g)
		}
		for _, h := range all[g*groupSize : (g+1)*groupSize] {
			resp.Hashes = binary.BigEndian.AppendUint64(resp.Hashes, h)
		}
	}
	return resp, nil
}

// HandleEntries serves MethodEntries: the short hashes of the entries of
// the leading requested buckets, as many buckets as fit the sync limits
// (at least one).
func (r *Replica) HandleEntries(ctx context.Context, req *EntriesRequest) (*EntriesResponse, error) {
	if err := checkBuckets(req.Buckets); err != nil {
		return nil, err
	}
	resp := &EntriesResponse{}
	n := 0
	err := r.eachBucket(req.Buckets, func(b int, mine []store.KeyHash) bool {
		if len(resp.Hashes) > 0 && n+len(mine) > maxSyncEntries {
			return false
		}
		p := make([]byte, 0, 4*len(mine))
		for _, kh := range mine {
			p = binary.BigEndian.AppendUint32(p, shortHash(kh.Hash, req.Salt))
		}
		resp.Hashes = append(resp.Hashes, p)
		n += len(mine)
		return true
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// HandleResolve serves MethodResolve: for the requested buckets, this
// node's records that are newer than the caller's entries (by the versions
// of its index: no record is read to compare) or whose short hashes the
// caller lacks, and the keys it wants: those the caller holds newer, or
// that this node lacks. Where both hold one version in two records, both
// cross. It answers like HandleKeys, with Done.
func (r *Replica) HandleResolve(ctx context.Context, req *ResolveRequest) (*KeysResponse, error) {
	if err := checkBuckets(req.Buckets); err != nil {
		return nil, err
	}
	if len(req.Lack) > 4*maxLack {
		return nil, fmt.Errorf("%d short hashes lacked", len(req.Lack)/4)
	}
	lack, err := shortHashes(req.Lack)
	if err != nil {
		return nil, err
	}
	theirs := r.byBucket(req.Have, func(kh *KeyHash) uint64 { return kh.Version })
	return r.answer(req.Buckets, func(b int, mine []store.KeyHash) ([]store.KeyHash, []tableKey) {
		return sortEntries(mine, theirs[b], func(kh store.KeyHash, v uint64, named bool) (bool, bool) {
			return newerSide(uint64(kh.Version), v, named, lack[shortHash(kh.Hash, req.Salt)])
		})
	})
}

// newerSide decides, for an entry of a differing bucket whose version is
// mine, whether to send its record and whether to want the caller's:
// named, the caller holds the key in another record, of version theirs;
// not named, lacks says whether the caller lacks this record (or holds
// it). The newer side's record crosses; where both hold one version in
// two records, or a version is unknown (0), both cross, and
// last-writer-wins decides on each side.
func newerSide(mine, theirs uint64, named, lacks bool) (send, want bool) {
	switch {
	case !named:
		return lacks, false
	case mine > theirs && theirs != 0:
		return true, false
	case mine < theirs && mine != 0:
		return false, true
	default:
		return true, true
	}
}
