package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"time"

	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/transport/tlsmesh"
)

// A node learns of a new member, and of the certificate fingerprint it
// announces, by gossip: the node it joined through knows it at once, the
// others a moment later. A caller that has just joined (or restarted: the
// peers may still hold its earlier run's state for a moment) can reach a
// peer before that peer has heard of it. Rather than refuse such a caller,
// the RPC endpoint's authentication checks wait up to memberWait for
// membership news that makes them pass. They never pass without it: the
// wait only delays a refusal.
const (
	// memberWait covers gossip spreading a join across a site, and stays
	// well under the transport's 5s handshake and dial timeouts, since
	// certificate checks wait inside the handshake.
	memberWait = 3 * time.Second
	// maxMemberWaiters bounds the checks waiting at once; past it a check
	// fails at once, so callers that are not members cannot pile up
	// handshakes.
	maxMemberWaiters = 32
)

// memberWaiter runs authentication checks that may wait for membership
// news.
type memberWaiter struct {
	// subscribe returns a source of membership changes: next blocks until
	// one arrives or ctx ends (or the source is gone: then it errs).
	subscribe func() (next func(ctx context.Context) error, stop func(), ok bool)
	wait      time.Duration
	slots     chan struct{}
}

func newMemberWaiter(mesh *gossip.Mesh, wait time.Duration, max int) *memberWaiter {
	return &memberWaiter{
		subscribe: func() (func(context.Context) error, func(), bool) {
			sub := mesh.Subscribe(16)
			return func(ctx context.Context) error { _, _, err := sub.Next(ctx); return err }, sub.Close, true
		},
		wait:  wait,
		slots: make(chan struct{}, max),
	}
}

// await returns nil as soon as check does; otherwise it re-runs check at
// each membership change for up to w.wait, and returns check's last error.
func (w *memberWaiter) await(check func() error) error {
	err := check()
	if err == nil {
		return nil
	}
	select {
	case w.slots <- struct{}{}:
		defer func() { <-w.slots }()
	default:
		return err // too many waiting
	}
	next, stop, ok := w.subscribe()
	if !ok {
		return err
	}
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), w.wait)
	defer cancel()
	for {
		// Checked after subscribing too: news may have come in between.
		if err = check(); err == nil {
			return nil
		}
		if next(ctx) != nil {
			return err
		}
	}
}

// memberCheck answers the RPC endpoint's questions about the mesh: who is
// a current member, and which certificate fingerprint each announced.
// A check that fails waits for membership news (see memberWait).
type memberCheck struct {
	mesh *gossip.Mesh
	wait *memberWaiter
}

// live returns the member named node if it is alive, suspect or leaving.
func (c memberCheck) live(node string) (gossip.Member, bool) {
	for _, m := range c.mesh.Members() {
		if m.Name == node {
			switch m.Status {
			case gossip.StatusAlive, gossip.StatusSuspect, gossip.StatusLeaving:
				return m, true
			}
			return gossip.Member{}, false
		}
	}
	return gossip.Member{}, false
}

// isMember reports whether node is a current member: the RPC server's
// auth check.
func (c memberCheck) isMember(node string) bool {
	return c.wait.await(func() error {
		if _, ok := c.live(node); !ok {
			return errNotMember
		}
		return nil
	}) == nil
}

var errNotMember = errors.New("not a current member")

// announcedFingerprint returns the fingerprint a live member announced.
func (c memberCheck) announcedFingerprint(node string) ([]byte, bool) {
	mem, ok := c.live(node)
	if !ok {
		return nil, false
	}
	fp, err := tlsmesh.ParseFingerprint(mem.Tags[gossip.MetaFingerprint])
	return fp, err == nil
}

// awaitAnnounced makes a pinned verifier wait for gossip when the
// certificate's node has announced no fingerprint, or another one, yet:
// it may have just joined or restarted.
func (c memberCheck) awaitAnnounced(verify tlsmesh.VerifyFunc) tlsmesh.VerifyFunc {
	return func(cs tls.ConnectionState) (string, error) {
		node, err := verify(cs)
		if !errors.Is(err, tlsmesh.ErrNotAnnounced) && !errors.Is(err, tlsmesh.ErrFingerprintMismatch) {
			return node, err
		}
		err = c.wait.await(func() (err error) {
			node, err = verify(cs)
			return err
		})
		return node, err
	}
}
