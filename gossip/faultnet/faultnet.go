// Package faultnet injects network faults under memberlist, so that whole
// meshes run inside one test process with drops, delays and partitions.
//
// A Network holds the fault rules. Wrap gives each node a transport that
// applies them to everything the node sends: a packet to a node in another
// partition group, or one picked by the drop rate, is silently lost; a
// stream to such a node fails to dial. Because every node's outbound
// traffic is filtered, a partition cuts both directions. Heal removes the
// partition. Every random choice comes from one seeded source, so a
// failing run can be replayed.
package faultnet

import (
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// ErrPartitioned is returned when dialling across a partition.
var ErrPartitioned = errors.New("faultnet: destination is partitioned away")

// Network holds the fault rules shared by the transports it wraps.
type Network struct {
	mu      sync.Mutex
	rng     *rand.Rand
	group   map[string]string // node address -> partition group ("" = none)
	drop    float64           // probability of dropping a packet
	delay   time.Duration     // added to every packet
	jitter  time.Duration     // up to this much more, at random
	dropped int
}

// New returns a network with no faults, whose random choices use seed.
func New(seed uint64) *Network {
	return &Network{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), group: map[string]string{}}
}

// Wrap returns t with the network's faults applied to what it sends.
func (n *Network) Wrap(t memberlist.NodeAwareTransport) memberlist.NodeAwareTransport {
	return &transport{NodeAwareTransport: t, net: n}
}

// Partition puts each listed address (host:port) in the named group.
// Nodes in different groups cannot reach each other; nodes in no group
// reach everyone.
func (n *Network) Partition(group string, addrs ...string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, a := range addrs {
		n.group[a] = group
	}
}

// Heal removes every partition.
func (n *Network) Heal() {
	n.mu.Lock()
	n.group = map[string]string{}
	n.mu.Unlock()
}

// SetDrop sets the probability, in [0, 1], that a packet is lost.
func (n *Network) SetDrop(p float64) {
	n.mu.Lock()
	n.drop = p
	n.mu.Unlock()
}

// SetDelay delays every packet by d.
func (n *Network) SetDelay(d time.Duration) {
	n.mu.Lock()
	n.delay = d
	n.mu.Unlock()
}

// SetJitter delays every packet by a further random duration in [0, j),
// so that packets overtake each other.
func (n *Network) SetJitter(j time.Duration) {
	n.mu.Lock()
	n.jitter = j
	n.mu.Unlock()
}

// Dropped returns how many packets the network has lost on purpose.
func (n *Network) Dropped() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.dropped
}

func (n *Network) cut(from, to string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.group[from] != n.group[to]
}

// packetFate decides what happens to one packet.
func (n *Network) packetFate(from, to string) (drop bool, delay time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.group[from] != n.group[to] || (n.drop > 0 && n.rng.Float64() < n.drop) {
		n.dropped++
		return true, 0
	}
	if n.jitter > 0 {
		return false, n.delay + time.Duration(n.rng.Int64N(int64(n.jitter)))
	}
	return false, n.delay
}

type transport struct {
	memberlist.NodeAwareTransport
	net  *Network
	self string // advertised host:port, learned from FinalAdvertiseAddr
	mu   sync.Mutex
}

func (t *transport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	addr, p, err := t.NodeAwareTransport.FinalAdvertiseAddr(ip, port)
	if err == nil {
		t.mu.Lock()
		t.self = net.JoinHostPort(addr.String(), strconv.Itoa(p))
		t.mu.Unlock()
	}
	return addr, p, err
}

func (t *transport) from() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.self
}

func (t *transport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

func (t *transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	drop, delay := t.net.packetFate(t.from(), a.Addr)
	if drop {
		return time.Now(), nil
	}
	if delay > 0 {
		msg := append([]byte(nil), b...)
		time.AfterFunc(delay, func() { t.NodeAwareTransport.WriteToAddress(msg, a) })
		return time.Now(), nil
	}
	return t.NodeAwareTransport.WriteToAddress(b, a)
}

func (t *transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

func (t *transport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if t.net.cut(t.from(), a.Addr) {
		return nil, ErrPartitioned
	}
	return t.NodeAwareTransport.DialAddressTimeout(a, timeout)
}

// NewTransport returns memberlist's UDP+TCP transport on addr with a free
// port, wrapped with the network's faults, and the port it bound. The
// TCP and UDP sockets must get the same port, which another process may
// take in between: that is tried again, up to ten times.
func (n *Network) NewTransport(addr string) (memberlist.NodeAwareTransport, int, error) {
	var err error
	for range 10 {
		var nt *memberlist.NetTransport
		nt, err = memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{addr}, BindPort: 0})
		if err == nil {
			return n.Wrap(nt), nt.GetAutoBindPort(), nil
		}
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return nil, 0, err
}
