package agent

import (
	"context"
	"sync"

	"github.com/edgeplane/edgeplane/agent/httpapi"
	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/store"
)

// memberEventQueue is the size of the feed's subscription to membership
// events; past it the feed bumps every member.
const memberEventQueue = 64

// memberIndexFeed numbers membership changes for the HTTP API's
// discovery reads: at each membership event it bumps the node's index in
// the API's MemberIndex, past the store's index, which wakes the blocking
// reads whose answers hold that node. The indexes are this agent's own
// and are not replicated.
type memberIndexFeed struct {
	index *httpapi.MemberIndex
	mesh  *gossip.Mesh
	store *store.Store

	sub    *gossip.Subscription
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newMemberIndexFeed(mesh *gossip.Mesh, st *store.Store) *memberIndexFeed {
	return &memberIndexFeed{index: httpapi.NewMemberIndex(), mesh: mesh, store: st}
}

// Start subscribes to membership events, numbers every member once, and
// follows the events until Close.
func (f *memberIndexFeed) Start(context.Context) error {
	f.sub = f.mesh.Subscribe(memberEventQueue)
	f.bumpAll()
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	f.wg.Go(func() {
		for {
			events, resync, err := f.sub.Next(ctx)
			if err != nil {
				return // Close, or the mesh shut down
			}
			if resync {
				f.bumpAll()
			}
			if len(events) == 0 {
				continue
			}
			nodes := make([]string, len(events))
			for i, e := range events {
				nodes[i] = e.Member.Name
			}
			f.index.Bump(f.store.Index(), nodes...)
		}
	})
	return nil
}

func (f *memberIndexFeed) bumpAll() {
	members := f.mesh.Members()
	nodes := make([]string, len(members))
	for i, m := range members {
		nodes[i] = m.Name
	}
	f.index.Bump(f.store.Index(), nodes...)
}

// Close stops following the events.
func (f *memberIndexFeed) Close() error {
	if f.cancel != nil {
		f.cancel()
		f.sub.Close()
		f.wg.Wait()
	}
	return nil
}
