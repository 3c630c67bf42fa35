package transport

import (
	"context"
	"time"
)

// MethodPing answers with the name of the node that serves it. Every
// agent serves it (ServePing), so that an operator can check that one node
// reaches another over RPC, through the same trust and policy as every
// internal call.
const MethodPing = "edgeplane.ping"

type pingRequest struct {
	From string `cbor:"1,keyasint"`
}

type pingResponse struct {
	Node string `cbor:"1,keyasint"`
}

// ServePing registers MethodPing on s, answering as node. Whoever the
// server's interceptors admit may call it; it reads nothing and changes
// nothing.
func ServePing(s *Server, node string) {
	s.Handle(MethodPing, Unary(func(context.Context, *pingRequest) (*pingResponse, error) {
		return &pingResponse{Node: node}, nil
	}))
}

// Ping calls the ping method of to under t's policy (timeout, retries,
// breaker), as from, and returns the time the call took, retries
// included. The call is idempotent.
func (t *Target) Ping(ctx context.Context, to Peer, from string) (time.Duration, error) {
	var resp pingResponse
	start := time.Now()
	err := t.Invoke(ctx, []Peer{to}, MethodPing, &pingRequest{From: from}, &resp, Idempotent())
	return time.Since(start), err
}
