package gossip

import (
	"context"
	"sync"
	"sync/atomic"
)

// Subscription is a bounded queue of membership events for one consumer.
// Publishing never blocks: when the queue is full, the queued events are
// dropped, the drop is counted, and the consumer's next Next reports
// resync, meaning "rebuild your view from Mesh.Members". A slow consumer
// therefore never holds up gossip and never acts on a partial history
// without knowing it.
type Subscription struct {
	size  int
	ready chan struct{} // holds a token while events or a resync wait

	mu      sync.Mutex
	queue   []Event
	resync  bool
	dropped atomic.Uint64
	closed  bool

	events *eventHub
}

// Next waits for events and returns them in order. resync is true when
// events were dropped since the previous call: the consumer must resync
// from the member list (the events returned are those after the drop). It
// returns ctx's error when ctx ends and ErrShutdown after Close.
func (s *Subscription) Next(ctx context.Context) (events []Event, resync bool, err error) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 || s.resync {
			events, resync = s.queue, s.resync
			s.queue, s.resync = nil, false
			s.mu.Unlock()
			return events, resync, nil
		}
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return nil, false, ErrShutdown
		}
		select {
		case <-s.ready:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}

// Dropped returns how many events this subscription has dropped.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close ends the subscription.
func (s *Subscription) Close() {
	s.events.remove(s)
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.wake()
}

func (s *Subscription) publish(e Event) {
	s.mu.Lock()
	if len(s.queue) >= s.size {
		s.dropped.Add(uint64(len(s.queue)) + 1)
		s.queue, s.resync = nil, true
	} else {
		s.queue = append(s.queue, e)
	}
	s.mu.Unlock()
	s.wake()
}

func (s *Subscription) wake() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

type eventHub struct {
	mu   sync.Mutex
	subs map[*Subscription]struct{}
}

func (h *eventHub) subscribe(size int) *Subscription {
	s := &Subscription{size: max(size, 1), ready: make(chan struct{}, 1), events: h}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs == nil {
		h.subs = map[*Subscription]struct{}{}
	}
	h.subs[s] = struct{}{}
	return s
}

func (h *eventHub) remove(s *Subscription) {
	h.mu.Lock()
	delete(h.subs, s)
	h.mu.Unlock()
}

func (h *eventHub) publish(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		s.publish(e)
	}
}

func (h *eventHub) closeAll() {
	h.mu.Lock()
	subs := h.subs
	h.subs = nil
	h.mu.Unlock()
	for s := range subs {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.wake()
	}
}
