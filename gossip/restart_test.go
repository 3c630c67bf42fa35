package gossip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// TestPeersFileWrittenAtFirstJoin: a node writes its peers file as soon
// as it has a peer, without waiting for PeersSaveInterval (a minute) or a
// shutdown, so that one killed within its first minute can rejoin without
// seeds. The joining side has it when Join returns; the side joined
// through soon after.
func TestPeersFileWrittenAtFirstJoin(t *testing.T) {
	dirs := map[string]string{"f0": t.TempDir(), "f1": t.TempDir()}
	file := func(name string) string { return filepath.Join(dirs[name], "peers.json") }
	cfg := func(c *Config) { c.PeersFile = file(c.NodeName) } // default interval: a minute
	seed := startNode(t, "f0", nil, cfg)
	joiner := startNode(t, "f1", nil, cfg)
	if _, err := joiner.Join([]string{seed.addr()}); err != nil {
		t.Fatal(err)
	}
	saved, err := LoadPeers(file("f1"))
	if err != nil || len(saved) != 1 || saved[0] != seed.addr() {
		t.Fatalf("joiner's peers file right after the join = %v, %v; want [%s]", saved, err, seed.addr())
	}
	Eventually(t, 10*time.Second, func() error {
		saved, err := LoadPeers(file("f0"))
		if err != nil || len(saved) != 1 || saved[0] != joiner.addr() {
			return fmt.Errorf("seed's peers file = %v, %v; want [%s]", saved, err, joiner.addr())
		}
		return nil
	})
}

// TestLeaveOfEarlierRunIgnored: a node leaves and starts again under the
// same name before its leave intent has died out. The intent, still
// passed around, names the earlier run and must not mark the new one
// leaving.
func TestLeaveOfEarlierRunIgnored(t *testing.T) {
	nodes := startMesh(t, "z", 3, nil, nil)
	allSee(t, 10*time.Second, nodes, names(nodes), StatusAlive)
	old := nodes[2]
	oldBoot := old.LocalMember().Tags[MetaBoot]
	if oldBoot == "" {
		t.Fatal("no boot nonce in the metadata")
	}
	if err := old.Leave(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	old.Shutdown()
	allSee(t, 10*time.Second, nodes[:2], []string{"z2"}, StatusLeft)

	again := startNode(t, "z2", nil, nil)
	if again.LocalMember().Tags[MetaBoot] == oldBoot {
		t.Fatal("a new run drew the boot nonce of the previous one")
	}
	if _, err := again.Join([]string{nodes[0].addr()}); err != nil {
		t.Fatal(err)
	}
	allSee(t, 10*time.Second, nodes[:2], []string{"z2"}, StatusAlive)

	// The earlier run's intent arrives again, as from a peer passing it on.
	// The new run may still be refuting the earlier run's death, which
	// memberlist keeps gossiping for a while, so it can be failed for a
	// moment; what the intent must not do is make it leaving or left.
	leavingOrLeft := func(s Status) bool { return s == StatusLeaving || s == StatusLeft }
	stale := encodeControl(msgLeave, leaveMsg{Node: "z2", Boot: oldBoot})
	nodes[0].handleMessage(stale)
	if got := statusOf(nodes[0], "z2"); leavingOrLeft(got) {
		t.Fatalf("after the earlier run's leave intent z2 is %s, want it not leaving", got)
	}
	// The current run's intent is applied.
	nodes[0].handleMessage(encodeControl(msgLeave, leaveMsg{Node: "z2", Boot: again.LocalMember().Tags[MetaBoot]}))
	if got := statusOf(nodes[0], "z2"); !leavingOrLeft(got) {
		t.Fatalf("after the current run's leave intent z2 is %s, want leaving", got)
	}
}

// TestLeaveWithNobodyStaying: the last two nodes of a mesh leave at once.
// Neither has anyone left to hear its leave; neither reports that as an
// error or logs it above debug.
func TestLeaveWithNobodyStaying(t *testing.T) {
	nodes := startMesh(t, "w", 2, nil, nil)
	allSee(t, 10*time.Second, nodes, names(nodes), StatusAlive)
	errs := make(chan error, 2)
	for _, n := range nodes {
		go func() { errs <- n.Leave(5 * time.Second) }()
	}
	for range nodes {
		if err := <-errs; err != nil {
			t.Errorf("leave: %v", err)
		}
	}
	for _, n := range nodes {
		for _, line := range strings.Split(n.logs.String(), "\n") {
			if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
				t.Errorf("%s logged: %s", n.cfg.NodeName, line)
			}
		}
	}
}

// TestMemberlistLogLevels: memberlist's lines keep their level, except
// warnings a healthy mesh produces in its ordinary life.
func TestMemberlistLogLevels(t *testing.T) {
	tests := []struct {
		line     string
		stopping bool
		want     slog.Level
	}{
		{"[WARN] memberlist: Refuting a dead message (from: b)", false, slog.LevelInfo},
		{"[WARN] memberlist: Refuting a suspect message (from: a)", false, slog.LevelWarn},
		{"[WARN] memberlist: Refuting an alive message for 'b' (127.0.0.1:7946) meta:([1] VS [1]), vsn:([1] VS [1])", false, slog.LevelInfo},
		{"[ERR] memberlist: Failed to send ping: write: connection refused", false, slog.LevelError},
		{"[DEBUG] memberlist: Stream connection from=127.0.0.1:1", false, slog.LevelDebug},
		{"[INFO] memberlist: Marking b as failed, suspect timeout reached", false, slog.LevelInfo},
		{"[ERR] memberlist: Failed to send gossip to 127.0.0.1:2: write udp 127.0.0.1:1->127.0.0.1:2: use of closed network connection", true, slog.LevelDebug},
		{"[ERR] memberlist: Failed to send gossip to 127.0.0.1:2: write udp 127.0.0.1:1->127.0.0.1:2: use of closed network connection", false, slog.LevelError},
		{"[ERR] memberlist: Failed to send gossip to 127.0.0.1:2: quicnet: transport shut down", true, slog.LevelDebug},
		{"[ERR] memberlist: Failed to send gossip to 127.0.0.1:2: quicnet: transport shut down", false, slog.LevelError},
	}
	for _, tt := range tests {
		h := &levelRecorder{}
		newMemberlistLogger(slog.New(h), func() bool { return tt.stopping }, nil, nil).Print(tt.line)
		if len(h.levels) != 1 || h.levels[0] != tt.want {
			t.Errorf("%q logged at %v, want %v", tt.line, h.levels, tt.want)
		}
	}
}

type levelRecorder struct{ levels []slog.Level }

func (h *levelRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *levelRecorder) Handle(_ context.Context, r slog.Record) error {
	h.levels = append(h.levels, r.Level)
	return nil
}
func (h *levelRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *levelRecorder) WithGroup(string) slog.Handler      { return h }

// TestLeaveSendsEndAtShutdown: the leave intent still being sent to a peer
// that does not answer when Leave stops waiting belongs to the mesh:
// Shutdown cancels the send and returns only once it has ended.
func TestLeaveSendsEndAtShutdown(t *testing.T) {
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	tr := &stallingTransport{NetTransport: nt}
	a := startNode(t, "a", nil, func(c *Config) { c.Transport = tr })
	b := startNode(t, "b", nil, nil)
	if _, err := b.Join([]string{a.addr()}); err != nil {
		t.Fatal(err)
	}
	allSee(t, 10*time.Second, []*testNode{a, b}, []string{"a", "b"}, StatusAlive)

	tr.stall.Store(true)
	if err := a.Leave(200 * time.Millisecond); err != nil {
		t.Logf("leave: %v", err) // not confirmed in time: not what is tested
	}
	Eventually(t, 10*time.Second, func() error {
		if tr.inFlight.Load() == 0 {
			return errors.New("no dial from a is hanging")
		}
		return nil
	})
	if err := a.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if n := tr.inFlight.Load(); n != 0 {
		t.Fatalf("%d dials still hanging after Shutdown returned", n)
	}
	if tr.cancelled.Load() == 0 {
		t.Fatal("Shutdown did not cancel the hanging dial")
	}
}

// stallingTransport is memberlist's transport whose stream dials, once
// stalled, hang as a dial to a peer that does not answer does: until their
// context ends or, without one, until their timeout.
type stallingTransport struct {
	*memberlist.NetTransport
	stall     atomic.Bool
	inFlight  atomic.Int32
	cancelled atomic.Int32
}

func (t *stallingTransport) DialAddressContext(ctx context.Context, a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if !t.stall.Load() {
		d := net.Dialer{Timeout: timeout}
		return d.DialContext(ctx, "tcp", a.Addr)
	}
	t.inFlight.Add(1)
	defer t.inFlight.Add(-1)
	<-ctx.Done()
	t.cancelled.Add(1)
	return nil, ctx.Err()
}

func (t *stallingTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if !t.stall.Load() {
		return t.NetTransport.DialAddressTimeout(a, timeout)
	}
	t.inFlight.Add(1)
	defer t.inFlight.Add(-1)
	<-time.After(timeout)
	return nil, errors.New("dial timed out")
}
