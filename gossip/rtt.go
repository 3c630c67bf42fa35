package gossip

import (
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// rttWeight is the weight of a new probe in a member's smoothed round
// trip time (an exponentially weighted moving average).
const rttWeight = 0.2

// rtts holds the smoothed round trip time of each member this node has
// probed: memberlist's PingDelegate reports every probe answered.
type rtts struct {
	mu sync.Mutex
	m  map[string]time.Duration
}

// observe folds one probe's round trip to node into its average.
func (r *rtts) observe(node string, rtt time.Duration) {
	if rtt < 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]time.Duration{}
	}
	old, ok := r.m[node]
	if !ok {
		r.m[node] = rtt
		return
	}
	r.m[node] = old + time.Duration(rttWeight*float64(rtt-old))
}

func (r *rtts) get(node string) (time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.m[node]
	return d, ok
}

// RTT returns the smoothed round trip time of gossip probes from this
// node to node, and false when no probe of it was answered yet. This node
// itself is 0.
func (m *Mesh) RTT(node string) (time.Duration, bool) {
	if node == m.cfg.NodeName {
		return 0, true
	}
	return m.rtt.get(node)
}

// pingDelegate feeds probe round trips to the mesh's averages. It sends
// no payload with pings.
type pingDelegate struct{ m *Mesh }

func (pingDelegate) AckPayload() []byte { return nil }

func (p pingDelegate) NotifyPingComplete(other *memberlist.Node, rtt time.Duration, _ []byte) {
	p.m.rtt.observe(other.Name, rtt)
	p.m.suspected.clear(other.Name) // it answered
}
