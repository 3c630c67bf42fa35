package transport

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/quic-go/quic-go"
)

// serveConn binds the connection to the node its certificate names, then
// hands it to its first worker.
func (s *Server) serveConn(conn *quic.Conn) {
	defer s.wg.Done()
	node, err := s.cfg.TLS.VerifyPeer(conn.ConnectionState().TLS)
	if err != nil {
		conn.CloseWithError(codeUnauthenticated, "certificate refused")
		s.untrack(conn)
		return
	}
	cs := &connState{
		s:     s,
		conn:  conn,
		peer:  Peer{Node: node, Addr: conn.RemoteAddr().String()},
		lead:  make(chan struct{}, 1),
		ended: make(chan struct{}),
	}
	cs.lead <- struct{}{}
	s.wg.Go(cs.work)
}

func (s *Server) untrack(conn *quic.Conn) {
	s.mu.Lock()
	delete(s.conns, conn)
	s.mu.Unlock()
}

// maxIdleWorkers bounds the workers a connection keeps waiting for calls.
const maxIdleWorkers = 16

// connState is one connection's serving state.
//
// Its streams are served by workers in a leader/follower scheme: the
// worker holding the lead token accepts the next stream, passes the token
// to an idle worker (starting one if none is idle) and serves the stream
// itself. So the goroutine woken by a new stream is the one that runs the
// call, and workers are reused: a call pays for neither a hand-off between
// goroutines nor a fresh goroutine's stack growth. Workers end with the
// connection: idle ones at once, busy ones when their call returns. The
// server counts them, so Close and Shutdown wait for them.
type connState struct {
	s     *Server
	conn  *quic.Conn
	peer  Peer
	lead  chan struct{} // holds the token while no worker leads
	idle  atomic.Int32  // workers waiting for the token
	ended chan struct{} // closed once the connection accepts no more streams
	once  sync.Once

	mu   sync.Mutex
	done []*quic.Stream // served, credit not yet returned
}

func (cs *connState) work() {
	s := cs.s
	for {
		cs.idle.Add(1)
		select {
		case <-cs.lead:
			cs.idle.Add(-1)
		case <-cs.ended:
			cs.idle.Add(-1)
			return
		}
		st, err := cs.conn.AcceptStream(context.Background())
		if err != nil {
			cs.once.Do(func() {
				close(cs.ended)
				s.untrack(cs.conn)
			})
			return
		}
		s.inflight.Add(1)
		if cs.idle.Load() == 0 {
			s.wg.Go(cs.work) // counted while this worker is, so never after Wait
		}
		cs.lead <- struct{}{}
		s.serveStream(cs, st)
		if cs.idle.Load() >= maxIdleWorkers {
			return
		}
	}
}

// creditBatch is how many served streams a connection collects before
// handing their credit back to the client at once. Each credit returned
// costs a MAX_STREAMS frame; returned one by one, each goes out in a packet
// of its own right after the client acknowledges a reply, and provokes an
// acknowledgement in turn. Batched, a call costs one packet each way. Up
// to creditBatch-1 credits may be held back, so a client can count on
// MaxConcurrentStreams-creditBatch+1 calls in flight at least.
const creditBatch = 32

// finished records that st is served and returns the credit of a batch.
func (cs *connState) finished(st *quic.Stream) {
	cs.mu.Lock()
	if cs.done == nil {
		cs.done = make([]*quic.Stream, 0, creditBatch)
	}
	cs.done = append(cs.done, st)
	if len(cs.done) < creditBatch {
		cs.mu.Unlock()
		return
	}
	batch := cs.done
	cs.done = nil
	cs.mu.Unlock()
	for _, st := range batch {
		st.ReleaseStreamCredit()
	}
}
