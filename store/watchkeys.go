package store

import (
	"context"
	"strings"
)

// WatchKey names a key, or every key under it when Prefix is true: one
// part of what a watch of WatchKeys covers.
type WatchKey struct {
	Key    string
	Prefix bool
}

func (k WatchKey) covers(key string) bool {
	if k.Prefix {
		return strings.HasPrefix(key, k.Key)
	}
	return key == k.Key
}

func coversAny(keys []WatchKey, key string) bool {
	for _, k := range keys {
		if k.covers(key) {
			return true
		}
	}
	return false
}

// WatchKeys returns one watch on several keys and prefixes: it fires when
// any key one of them covers changes, or when the store closes. A watch on
// no keys fires only when the store closes.
func (s *Store) WatchKeys(keys []WatchKey) *Watch {
	c := make(chan struct{})
	ks := append(make([]WatchKey, 0, len(keys)), keys...)
	return s.register(&Watch{C: c, c: c, keys: ks, set: &s.watch})
}

// WaitKeys is WaitIndex for an answer that depends on several keys and
// prefixes, such as a key looked up in several places: it blocks until
// index, run in a read transaction, returns more than after, the store
// closes, or ctx ends, and returns the last index read. It runs index
// again only when a key that keys cover changes, so writes elsewhere do
// not wake it. index should floor what it computes with Tx.FloorIndex.
func (s *Store) WaitKeys(ctx context.Context, keys []WatchKey, after uint64, index func(tx *Tx) (uint64, error)) (uint64, error) {
	return s.waitPast(ctx, after, func() *Watch { return s.WatchKeys(keys) }, func() (uint64, error) {
		var idx uint64
		err := s.View(func(tx *Tx) error {
			var err error
			idx, err = index(tx)
			return err
		})
		return idx, err
	})
}

// FloorIndex raises an index computed over several keys as the store's
// own reads raise theirs: to the index of the last tombstone collection,
// and to 1. An index so floored never goes backwards when tombstones of
// the keys are collected, and is never 0, which Consul clients take for
// "no index".
func (tx *Tx) FloorIndex(idx uint64) uint64 { return tx.s.floorIndex(idx) }
