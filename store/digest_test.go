package store

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// recomputed builds the bucket hashes from the records alone.
func recomputed(t *testing.T, s *Store) []uint64 {
	t.Helper()
	out := make([]uint64, DigestBuckets)
	all, err := s.BucketKeys(allBuckets())
	if err != nil {
		t.Fatal(err)
	}
	for _, kh := range all {
		recs, err := s.Records(kh.Table, []string{kh.Key})
		if err != nil {
			t.Fatal(err)
		}
		for i := range recs {
			out[BucketOf(recs[i].Key)] ^= RecordHash(&recs[i])
		}
	}
	return out
}

func allBuckets() []int {
	all := make([]int, DigestBuckets)
	for i := range all {
		all[i] = i
	}
	return all
}

// allKeys returns the kv keys in the digest.
func allKeys(t *testing.T, s *Store) []string {
	t.Helper()
	var keys []string
	for b := range DigestBuckets {
		kh, err := s.BucketKeys([]int{b})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range kh {
			if e.Table == TableKV {
				keys = append(keys, e.Key)
			}
		}
	}
	return keys
}

func TestDigestFollowsEveryWrite(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	for i := range 500 {
		key := fmt.Sprintf("k%d", r.IntN(100))
		switch r.IntN(4) {
		case 0:
			mustPut(t, s, key, fmt.Sprint(i))
		case 1:
			if _, err := s.Delete(key, nil); err != nil {
				t.Fatal(err)
			}
		case 2:
			rec := Record{Key: key, Value: []byte("remote"), Version: s.Clock().Now() + Stamp(r.IntN(1000)) - 500, Origin: "peer"}
			if _, err := s.Apply([]Record{rec}); err != nil {
				t.Fatal(err)
			}
		case 3:
			if _, err := s.CollectTombstones(s.Clock().Now()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got, want := s.DigestBucketHashes(), recomputed(t, s); !slices.Equal(got, want) {
		t.Fatal("digest differs from the one recomputed from the records")
	}
	root := s.DigestRoot()
	s.Close()
	s2 := openStore(t, dir, Options{})
	if s2.DigestRoot() != root {
		t.Fatal("digest root changed across a restart")
	}
}

func TestEqualStoresHaveEqualRoots(t *testing.T) {
	recs := make([]Record, 300)
	for i := range recs {
		recs[i] = Record{Key: fmt.Sprintf("k%03d", i), Value: []byte{byte(i)}, Version: Stamp(i + 1), Origin: "n"}
	}
	a, b := openStore(t, "", Options{}), openStore(t, "", Options{})
	if _, err := a.Apply(recs); err != nil {
		t.Fatal(err)
	}
	shuffled := slices.Clone(recs)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for _, r := range shuffled { // one at a time, in another order
		if _, err := b.Apply([]Record{r}); err != nil {
			t.Fatal(err)
		}
	}
	if a.DigestRoot() != b.DigestRoot() {
		t.Fatal("equal stores have different roots")
	}
	if _, err := b.Apply([]Record{{Key: "k007", Value: []byte("newer"), Version: 10_000, Origin: "n"}}); err != nil {
		t.Fatal(err)
	}
	if a.DigestRoot() == b.DigestRoot() {
		t.Fatal("different stores have equal roots")
	}
	ha, hb := a.DigestBucketHashes(), b.DigestBucketHashes()
	var differ []int
	for i := range ha {
		if ha[i] != hb[i] {
			differ = append(differ, i)
		}
	}
	if len(differ) != 1 || differ[0] != BucketOf("k007") {
		t.Fatalf("differing buckets %v, want [%d]", differ, BucketOf("k007"))
	}
}
