package store

import (
	"context"
	"strings"
	"sync"
)

// Watch fires once, by closing C, when a key it covers changes, or when the
// store closes. Stop releases it. Register the watch before reading the
// index it is meant to wait past, so no change falls between the two.
type Watch struct {
	C <-chan struct{}

	c      chan struct{}
	key    string
	prefix bool
	keys   []WatchKey // set by WatchKeys: the watch covers these instead
	set    *watchSet
}

// Stop unregisters the watch. It is safe to call more than once.
func (w *Watch) Stop() { w.set.remove(w) }

func (w *Watch) covers(key string) bool {
	if w.keys != nil {
		return coversAny(w.keys, key)
	}
	if w.prefix {
		return strings.HasPrefix(key, w.key)
	}
	return key == w.key
}

type watchSet struct {
	mu sync.Mutex
	ws map[*Watch]struct{}
}

// Watch returns a watch on key, or on every key under it when prefix is
// true.
func (s *Store) Watch(key string, prefix bool) *Watch {
	c := make(chan struct{})
	return s.register(&Watch{C: c, c: c, key: key, prefix: prefix, set: &s.watch})
}

// register adds w to the store's watches, or fires it at once when the
// store is closed.
func (s *Store) register(w *Watch) *Watch {
	c := w.c
	s.watch.mu.Lock()
	defer s.watch.mu.Unlock()
	if s.closed.Load() {
		close(c)
		return w
	}
	if s.watch.ws == nil {
		s.watch.ws = make(map[*Watch]struct{})
	}
	s.watch.ws[w] = struct{}{}
	return w
}

func (ws *watchSet) remove(w *Watch) {
	ws.mu.Lock()
	delete(ws.ws, w)
	ws.mu.Unlock()
}

// notify fires and removes every watch covering one of keys.
func (ws *watchSet) notify(keys []string) {
	if len(keys) == 0 {
		return
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for w := range ws.ws {
		for _, k := range keys {
			if w.covers(k) {
				close(w.c)
				delete(ws.ws, w)
				break
			}
		}
	}
}

func (ws *watchSet) closeAll() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for w := range ws.ws {
		close(w.c)
	}
	ws.ws = nil
}

// WaitIndex blocks until the index of key (of the prefix, when prefix is
// true) passes after, the store closes, or ctx ends, and returns the index
// then. It is the core of a blocking query.
func (s *Store) WaitIndex(ctx context.Context, key string, prefix bool, after uint64) (uint64, error) {
	return s.waitPast(ctx, after, func() *Watch { return s.Watch(key, prefix) },
		func() (uint64, error) { return s.indexOf(key, prefix) })
}

// waitPast registers a watch, reads an index, and while the index is not
// past after waits for the watch to fire and starts again; it returns the
// last index read when it passes, the store closes or ctx ends.
func (s *Store) waitPast(ctx context.Context, after uint64, watch func() *Watch, read func() (uint64, error)) (uint64, error) {
	for {
		w := watch()
		idx, err := read()
		if err != nil || idx > after || s.closed.Load() {
			w.Stop()
			return idx, err
		}
		select {
		case <-w.C:
		case <-ctx.Done():
			w.Stop()
			return idx, nil
		}
	}
}

func (s *Store) indexOf(key string, prefix bool) (uint64, error) {
	if prefix {
		return s.scan(key, func(*Entry) {})
	}
	_, _, idx, err := s.Get(key)
	return idx, err
}
