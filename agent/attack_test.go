package agent

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"

	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/agent/relay"
	"github.com/edgeplane/edgeplane/agent/replica"
	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/transport"
	"github.com/edgeplane/edgeplane/transport/tlsmesh"
)

// The attack suite: what an outsider, a revoked node or a name squatter
// sends a mesh is refused and counted on every node, and nothing of it is
// readable anywhere. It runs against each trust mode a production node
// can run in: the fleet CA, and pinned certificates with a gossip key.

// trustMode makes the configurations of a mesh in one trust mode, and of
// the outsiders that try to get into it.
type trustMode struct {
	name      string
	member    func(t *testing.T, node string) func(*config.Config)
	outsiders map[string]func(t *testing.T, node string) func(*config.Config)
}

func trustModes(t *testing.T) []trustMode {
	key := gossip.GenerateKey()
	withKey := func(k string) func(*testing.T, string) func(*config.Config) {
		return func(*testing.T, string) func(*config.Config) {
			return func(c *config.Config) { c.Encrypt = k }
		}
	}
	noAuth := func(*testing.T, string) func(*config.Config) { return func(*config.Config) {} }
	return []trustMode{
		{
			name:   "fleet-ca",
			member: fleetCA(t),
			outsiders: map[string]func(*testing.T, string) func(*config.Config){
				"another-ca":     fleetCA(t),
				"no-certificate": noAuth,
				// The fleet's gossip key alone does not open a fleet-CA mesh.
				"gossip-key": withKey(key),
			},
		},
		{
			name:   "pinned",
			member: withKey(key),
			outsiders: map[string]func(*testing.T, string) func(*config.Config){
				"no-key":    noAuth,
				"wrong-key": withKey(gossip.GenerateKey()),
			},
		},
	}
}

// fleetCA makes a CA and returns a configuration that gives a node a
// certificate of it.
func fleetCA(t *testing.T) func(*testing.T, string) func(*config.Config) {
	dir := t.TempDir()
	ca, err := tlsmesh.CreateCA(dir, tlsmesh.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return func(t *testing.T, node string) func(*config.Config) {
		certFile, keyFile, err := ca.WriteNodeCert(t.TempDir(), node, tlsmesh.CertOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return func(c *config.Config) {
			c.TLS = config.TLSConfig{CAFile: filepath.Join(dir, "ca.pem"), CertFile: certFile, KeyFile: keyFile}
		}
	}
}

// meshStat reads one of the counters of /v1/agent/self's mesh section.
func meshStat(a *Agent, name string) uint64 {
	v, _ := strconv.ParseUint(a.mesh.stats()[name], 10, 64)
	return v
}

// refusals is everything a node counts as refused gossip.
func refusals(a *Agent) uint64 {
	return meshStat(a, "refused_handshakes") + meshStat(a, "failed_handshakes") + meshStat(a, "undecryptable") +
		meshStat(a, "dropped_packets") + meshStat(a, "refused_names")
}

func readable(a *Agent, key string) bool {
	e, found, _, err := a.store.Get(key)
	return err == nil && found && !e.Deleted
}

// settle writes a marker on from and waits until every agent holds it:
// whatever was sent before has been dealt with by then.
func settle(t *testing.T, from *Agent, all []*Agent, marker string) {
	t.Helper()
	if _, err := from.store.Put(marker, []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		for _, a := range all {
			if !readable(a, marker) {
				return fmt.Errorf("%s does not hold %s yet", a.cfg.NodeName, marker)
			}
		}
		return nil
	})
}

// nowhere fails the test if any of agents holds key.
func nowhere(t *testing.T, agents []*Agent, key string) {
	t.Helper()
	for _, a := range agents {
		if readable(a, key) {
			t.Errorf("%s holds %s", a.cfg.NodeName, key)
		}
	}
}

// seesAlive reports whether a lists node as alive.
func seesAlive(a *Agent, node string) bool {
	m, ok := a.mesh.Member(node)
	return ok && m.Status == gossip.StatusAlive
}

func TestAttacks(t *testing.T) {
	for _, mode := range trustModes(t) {
		t.Run(mode.name, func(t *testing.T) {
			members := startMeshOfAgents(t, 3, func(i int, c *config.Config) {
				c.NodeName = fmt.Sprintf("m%d", i)
				mode.member(t, c.NodeName)(c)
			})
			if _, err := members[0].store.Put("real/key", []byte("v"), 0); err != nil {
				t.Fatal(err)
			}
			settle(t, members[0], members, "marker/start")

			t.Run("raw-packets", func(t *testing.T) { rawPacketAttack(t, members) })
			for name, outsider := range mode.outsiders {
				t.Run("outsider-"+name, func(t *testing.T) { outsiderAttack(t, members, name, outsider) })
			}
			t.Run("revoked", func(t *testing.T) { revokedAttack(t, members, mode) })
			if mode.name == "pinned" {
				t.Run("name-squatter", func(t *testing.T) { squatterAttack(t, members, mode) })
			}
			for _, a := range members {
				if !readable(a, "real/key") {
					t.Errorf("%s lost real/key", a.cfg.NodeName)
				}
			}
		})
	}
}

// memberlist's message types and a user message's first byte (gossip's
// application payload), as a forger writes them.
const (
	mlAlive   = 4
	mlUser    = 8
	gossipApp = 'a'
	gossipBye = 'l'
)

// forgedPackets are packets in memberlist's clear wire format that would
// write a key, delete one, mark m1 leaving, and move m1's name to the
// forger's address: what one UDP packet did before gossip was
// authenticated.
func forgedPackets(t *testing.T, members []*Agent) [][]byte {
	stamp := uint64(members[0].store.Clock().Now()) + 1<<20
	delta := func(r replica.Record) []byte {
		b, err := replica.EncodeDelta([]replica.Record{r})
		if err != nil {
			t.Fatal(err)
		}
		return append([]byte{mlUser, gossipApp}, b...)
	}
	var alive bytes.Buffer
	alive.WriteByte(mlAlive)
	err := codec.NewEncoder(&alive, &codec.MsgpackHandle{}).Encode(map[string]any{
		"Incarnation": 1 << 20, "Node": "m1", "Addr": net.IPv4(127, 0, 0, 1).To4(), "Port": 1,
		"Meta": []byte{}, "Vsn": []uint8{1, 5, 5, 0, 0, 0},
	})
	if err != nil {
		t.Fatal(err)
	}
	return [][]byte{
		delta(replica.Record{Key: "forged/write", Value: []byte("evil"), Version: stamp, Origin: members[1].store.NodeID()}),
		delta(replica.Record{Key: "real/key", Version: stamp, Origin: members[1].store.NodeID(), Deleted: true}),
		append([]byte{mlUser, gossipBye}, `{"Node":"m1"}`...),
		alive.Bytes(),
	}
}

// listensTCP reports whether this process has a TCP socket listening on
// addr's port, from /proc/net/tcp{,6} and the process's descriptors.
func listensTCP(t *testing.T, addr string) bool {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	listening := map[string]bool{} // socket inodes
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(table)
		if err != nil {
			continue // no IPv6
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" { // 0A: LISTEN
				continue
			}
			if i := strings.LastIndexByte(f[1], ':'); i >= 0 && f[1][i+1:] == fmt.Sprintf("%04X", p) {
				listening[f[9]] = true
			}
		}
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		link, err := os.Readlink("/proc/self/fd/" + fd.Name())
		if err == nil && strings.HasPrefix(link, "socket:[") && listening[strings.Trim(link[len("socket:"):], "[]")] {
			return true
		}
	}
	return false
}

// TestListensTCP: the probe sees a listener of this process, and none
// once it is closed.
func TestListensTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if !listensTCP(t, addr) {
		t.Errorf("the listener on %s is not seen", addr)
	}
	l.Close()
	if listensTCP(t, addr) {
		t.Errorf("a closed listener on %s is seen", addr)
	}
}

// rawPacketAttack sends forged packets to every member's gossip port over
// UDP, and tries TCP, where memberlist used to listen.
func rawPacketAttack(t *testing.T, members []*Agent) {
	packets := forgedPackets(t, members)
	before := make([]uint64, len(members))
	for i, a := range members {
		before[i] = meshStat(a, "dropped_packets")
		addr := a.mesh.LocalMember().Address()
		udp, err := net.Dial("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range packets {
			if _, err := udp.Write(p); err != nil {
				t.Fatal(err)
			}
		}
		udp.Close()
		// Whether this process listens there, not whether anything does:
		// another process on the machine may hold that TCP port.
		if listensTCP(t, addr) {
			t.Errorf("%s listens for TCP on its gossip port %s", a.cfg.NodeName, addr)
		}
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		for i, a := range members {
			if got := meshStat(a, "dropped_packets") - before[i]; got < uint64(len(packets)) {
				return fmt.Errorf("%s counted %d of the %d forged packets", a.cfg.NodeName, got, len(packets))
			}
		}
		return nil
	})
	settle(t, members[0], members, "marker/raw")
	nowhere(t, members, "forged/write")
	for _, a := range members {
		if !readable(a, "real/key") {
			t.Errorf("%s: the forged tombstone deleted real/key", a.cfg.NodeName)
		}
		for _, b := range members {
			if a != b && !seesAlive(a, b.cfg.NodeName) {
				t.Errorf("%s sees %s as not alive after the forged leave and alive", a.cfg.NodeName, b.cfg.NodeName)
			}
		}
	}
}

// outsiderAttack runs an agent that is not of the fleet and tries to join
// through every member. It writes a key; nobody may hold it, and it may
// read nothing of the mesh.
func outsiderAttack(t *testing.T, members []*Agent, name string, outsider func(*testing.T, string) func(*config.Config)) {
	before := make([]uint64, len(members))
	var seeds []string
	for i, a := range members {
		before[i] = refusals(a)
		seeds = append(seeds, a.mesh.LocalMember().Address())
	}
	node := "outsider-" + name
	out := startInProcess(t, node, "", func(c *config.Config) {
		outsider(t, node)(c)
		c.RetryJoin = seeds
		c.RetryInterval = config.Duration{Duration: 100 * time.Millisecond}
	})
	key := "outsider/" + name
	if _, err := out.store.Put(key, []byte("evil"), 0); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		for i, a := range members {
			if refusals(a) == before[i] {
				return fmt.Errorf("%s has counted no refusal of %s", a.cfg.NodeName, node)
			}
		}
		return nil
	})
	settle(t, members[0], members, "marker/"+node)
	nowhere(t, members, key)
	for _, a := range members {
		if seesAlive(a, node) {
			t.Errorf("%s lists %s alive", a.cfg.NodeName, node)
		}
	}
	if readable(out, "real/key") {
		t.Errorf("%s read the mesh's real/key", node)
	}
	// Nor the members' metrics, asked over RPC directly.
	for _, a := range members {
		if err := fetchMetricsAs(t, out, a); err == nil {
			t.Errorf("%s read %s's metrics over RPC", node, a.cfg.NodeName)
		}
	}
}

// fetchMetricsAs calls to's metrics method from from's RPC client, as
// from's identity, and returns nil if a chunk of metrics came back. A
// call that hangs (a handshake waiting for a certificate no one
// announces) fails at its deadline: a refusal as well.
func fetchMetricsAs(t *testing.T, from, to *Agent) error {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	peer := transport.Peer{Node: to.cfg.NodeName, Addr: to.mesh.LocalMember().Tags[gossip.MetaRPC]}
	st, err := from.rpc.client.Stream(ctx, peer, relay.MethodMetrics, struct{}{})
	if err != nil {
		return err
	}
	defer st.Close()
	var c wireChunk
	return st.Recv(&c)
}

// revokedAttack revokes a member's certificate: every node refuses it
// from then on, and what it writes afterwards reaches nobody.
func revokedAttack(t *testing.T, members []*Agent, mode trustMode) {
	join := members[0].mesh.LocalMember().Address()
	lost := startInProcess(t, "lost", join, mode.member(t, "lost"))
	if _, err := lost.store.Put("lost/before", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	// Written as lost joined, it may reach the others by anti-entropy
	// rather than by a push: wait for it.
	settle(t, lost, members, "marker/lost-joined")
	testutil.Eventually(t, 30*time.Second, func() error {
		for _, a := range members {
			if !readable(a, "lost/before") {
				return fmt.Errorf("the member's write before its revocation has not reached %s", a.cfg.NodeName)
			}
		}
		return nil
	})
	before := make([]uint64, len(members))
	for i, a := range members {
		before[i] = meshStat(a, "refused_handshakes")
	}
	rv, err := members[0].revoked.Revoke("lost")
	if err != nil {
		t.Fatal(err)
	}
	if rv.Node != "lost" || rv.Fingerprint != lost.mesh.LocalMember().Tags[gossip.MetaFingerprint] {
		t.Fatalf("revoked %+v, not lost's certificate", rv)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		for i, a := range members {
			if seesAlive(a, "lost") {
				return fmt.Errorf("%s still sees lost alive", a.cfg.NodeName)
			}
			if meshStat(a, "refused_handshakes") == before[i] {
				return fmt.Errorf("%s has refused no handshake of lost", a.cfg.NodeName)
			}
		}
		return nil
	})
	if _, err := lost.store.Put("lost/after", []byte("evil"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := lost.store.Delete("real/key", nil); err != nil {
		t.Fatal(err)
	}
	settle(t, members[1], members, "marker/lost-revoked")
	nowhere(t, members, "lost/after")
	if readable(lost, "marker/lost-revoked") {
		t.Error("the revoked node still receives the mesh's writes")
	}
}

// squatterAttack: a node with a fresh certificate takes the name of a
// member that died. It is refused the name on every node until an
// operator prunes it.
func squatterAttack(t *testing.T, members []*Agent, mode trustMode) {
	join := members[0].mesh.LocalMember().Address()
	dead, stop := startStoppable(t, "gw", join, mode.member(t, "gw"))
	settle(t, dead, members, "marker/gw-joined")
	stop()
	testutil.Eventually(t, 30*time.Second, func() error {
		for _, a := range members {
			if m, ok := a.mesh.Member("gw"); ok && m.Status != gossip.StatusFailed && m.Status != gossip.StatusLeft {
				return fmt.Errorf("%s sees gw %s", a.cfg.NodeName, m.Status)
			}
		}
		return nil
	})
	before := make([]uint64, len(members))
	var seeds []string
	for i, a := range members {
		before[i] = meshStat(a, "refused_names")
		seeds = append(seeds, a.mesh.LocalMember().Address())
	}
	squatter := startInProcess(t, "gw", "", func(c *config.Config) {
		mode.member(t, "gw")(c) // the fleet's key, a new certificate
		c.RetryJoin = seeds
		c.RetryInterval = config.Duration{Duration: 100 * time.Millisecond}
	})
	if _, err := squatter.store.Put("squat/key", []byte("evil"), 0); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		for i, a := range members {
			if meshStat(a, "refused_names") == before[i] {
				return fmt.Errorf("%s has not refused the squatter its name", a.cfg.NodeName)
			}
		}
		return nil
	})
	settle(t, members[0], members, "marker/squat")
	nowhere(t, members, "squat/key")
	for _, a := range members {
		if seesAlive(a, "gw") {
			t.Errorf("%s sees the squatter as gw, alive", a.cfg.NodeName)
		}
	}

	// The operator frees the name: the new device is admitted, once the
	// prune has reached the node it joins through.
	if err := (meshAPI{m: members[0].mesh, names: members[0].names}).ForceLeave("gw", true); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 60*time.Second, func() error {
		if _, err := squatter.mesh.Join(seeds[:1]); err != nil {
			return err
		}
		for _, a := range members {
			if !readable(a, "squat/key") {
				return fmt.Errorf("%s does not hold the pruned name's write yet", a.cfg.NodeName)
			}
		}
		return nil
	})
}
