package gossip

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/gossip/faultnet"
	"github.com/edgeplane/edgeplane/transport/resilience"
)

func TestJoinFailLeave(t *testing.T) {
	nodes := startMesh(t, "n", 5, nil, nil)
	all := names(nodes)
	allSee(t, 10*time.Second, nodes, all, StatusAlive)

	// Metadata travels.
	for _, m := range nodes[1].Members() {
		if m.Site != "site-"+m.Name || m.ID != "id-"+m.Name {
			t.Fatalf("member %+v lacks its site or id", m)
		}
	}

	sub := nodes[0].Subscribe(64)
	defer sub.Close()

	// A stopped node is seen failed by all others.
	nodes[4].Shutdown()
	allSee(t, 15*time.Second, nodes[:4], []string{"n4"}, StatusFailed)

	// A node that leaves is seen left.
	if err := nodes[3].Leave(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	nodes[3].Shutdown()
	allSee(t, 10*time.Second, nodes[:3], []string{"n3"}, StatusLeft)

	// The events arrived in order.
	var seen []string
	Eventually(t, 5*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		evs, _, _ := sub.Next(ctx)
		for _, e := range evs {
			seen = append(seen, e.Type.String()+":"+e.Member.Name)
		}
		if !slices.Contains(seen, "leave:n3") {
			return errors.New("no leave event yet")
		}
		return nil
	})
	if i, j := slices.Index(seen, "failed:n4"), slices.Index(seen, "leave:n3"); i < 0 || i > j {
		t.Fatalf("events %v", seen)
	}
}

func TestDuplicateNameRefused(t *testing.T) {
	nodes := startMesh(t, "d", 2, nil, nil)
	allSee(t, 10*time.Second, nodes, names(nodes), StatusAlive)
	dup := startNode(t, "d1", nil, func(c *Config) { c.NodeID = "another-id" })
	_, err := dup.Join([]string{nodes[0].addr()})
	if !errors.Is(err, ErrDuplicateNode) && (err == nil || !contains(err.Error(), "duplicate node identity")) {
		t.Fatalf("joining with a duplicate name: %v", err)
	}
	// The seed logged it too.
	Eventually(t, 5*time.Second, func() error {
		if !contains(nodes[0].logs.String(), "conflicting identity") {
			return errors.New("seed did not log the conflict")
		}
		return nil
	})
	// A duplicate id under another name is refused as well.
	dupID := startNode(t, "other", nil, func(c *Config) { c.NodeID = "id-d0" })
	if _, err := dupID.Join([]string{nodes[1].addr()}); err == nil {
		t.Fatal("joining with a duplicate id succeeded")
	}
	if got := statusOf(nodes[1], "other"); got == StatusAlive {
		t.Fatal("the node with a duplicate id became a member")
	}
}

func TestRestartOnNewPortIsAccepted(t *testing.T) {
	nodes := startMesh(t, "r", 3, nil, nil)
	allSee(t, 10*time.Second, nodes, names(nodes), StatusAlive)
	old := nodes[2].addr()
	nodes[2].Shutdown() // as kill -9: no leave
	allSee(t, 15*time.Second, nodes[:2], []string{"r2"}, StatusFailed)

	back := startNode(t, "r2", nil, nil) // same name and id, new port
	if back.addr() == old {
		t.Fatal("test needs a new port")
	}
	Eventually(t, 15*time.Second, func() error {
		_, err := back.Join([]string{nodes[0].addr()})
		return err
	})
	allSee(t, 15*time.Second, nodes[:2], []string{"r2"}, StatusAlive)
	for _, m := range nodes[0].Members() {
		if m.Name == "r2" && m.Address() != back.addr() {
			t.Fatalf("r2 at %s, want %s", m.Address(), back.addr())
		}
	}
}

func TestRejoinFromPeersFile(t *testing.T) {
	dir := t.TempDir()
	peers := filepath.Join(dir, "peers.json")
	nodes := startMesh(t, "p", 3, nil, func(c *Config) {
		if c.NodeName == "p2" {
			c.PeersFile = peers
			c.PeersSaveInterval = 100 * time.Millisecond
		}
	})
	allSee(t, 10*time.Second, nodes, names(nodes), StatusAlive)
	nodes[2].Shutdown() // writes the peers file
	saved, err := LoadPeers(peers)
	if err != nil || len(saved) != 2 {
		t.Fatalf("peers file = %v, %v", saved, err)
	}
	allSee(t, 15*time.Second, nodes[:2], []string{"p2"}, StatusFailed)

	again := startNode(t, "p2", nil, nil)
	if _, err := again.Join(saved); err != nil {
		t.Fatalf("rejoin through saved peers: %v", err)
	}
	allSee(t, 15*time.Second, append(nodes[:2:2], again), names(nodes), StatusAlive)
}

// TestLongPartitionHeals cuts a mesh in two past memberlist's memory of
// dead nodes, then heals the link: the reconnect loop's tries, paced by
// the age of the failures and not by ReconnectInterval (an hour here),
// bring the halves together.
func TestLongPartitionHeals(t *testing.T) {
	fnet := faultnet.New(1)
	nodes := startMesh(t, "h", 6, fnet, func(c *Config) { c.ReconnectInterval = time.Hour })
	all := names(nodes)
	allSee(t, 15*time.Second, nodes, all, StatusAlive)

	a, b := nodes[:3], nodes[3:]
	for _, n := range a {
		fnet.Partition("A", n.addr())
	}
	for _, n := range b {
		fnet.Partition("B", n.addr())
	}
	allSee(t, 20*time.Second, a, names(b), StatusFailed)
	allSee(t, 20*time.Second, b, names(a), StatusFailed)
	// Stay apart past memberlist's memory of dead nodes (GossipToTheDeadTime,
	// 2 s in the local profile): only the member table still knows them.
	cut := time.Now()
	Eventually(t, 30*time.Second, func() error {
		if time.Since(cut) < 3*time.Second {
			return errors.New("partition still young")
		}
		return nil
	})
	fnet.Heal()
	allSee(t, 20*time.Second, nodes, all, StatusAlive)
}

func TestWrongKeyCannotJoin(t *testing.T) {
	key, wrong := GenerateKey(), GenerateKey()
	seed := startNode(t, "k0", nil, func(c *Config) { c.Keyring = newKeyring(t, key) })
	intruder := startNode(t, "k1", nil, func(c *Config) { c.Keyring = newKeyring(t, wrong) })
	_, err := intruder.Join([]string{seed.addr()})
	if err == nil {
		t.Fatal("a node with the wrong key joined")
	}
	if !errors.Is(err, ErrWrongKey) || !contains(intruder.logs.String(), "key is probably wrong") {
		t.Fatalf("join error %v; log:\n%s", err, intruder.logs)
	}
	Eventually(t, 5*time.Second, func() error {
		if !contains(seed.logs.String(), "could not be decrypted") {
			return errors.New("seed did not log the decryption failure")
		}
		return nil
	})
	if statusOf(seed, "k1") == StatusAlive {
		t.Fatal("seed lists the intruder")
	}
}

func TestKeyRotation(t *testing.T) {
	dir := t.TempDir()
	oldKey, newKey := GenerateKey(), GenerateKey()
	nodes := startMesh(t, "kr", 4, nil, func(c *Config) {
		c.Keyring = newKeyring(t, oldKey)
		c.KeyringFile = filepath.Join(dir, c.NodeName+".keyring")
	})
	allSee(t, 10*time.Second, nodes, names(nodes), StatusAlive)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	op := func(op, key string) []KeyringReply {
		t.Helper()
		replies, err := nodes[1].KeyringOp(ctx, op, key)
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		if len(replies) != len(nodes) {
			t.Fatalf("%s: %d replies, want %d: %+v", op, len(replies), len(nodes), replies)
		}
		for _, r := range replies {
			if r.Error != "" {
				t.Fatalf("%s on %s: %s", op, r.Node, r.Error)
			}
		}
		return replies
	}
	op(KeyringInstall, newKey)
	op(KeyringUse, newKey)
	if _, err := nodes[0].KeyringOp(ctx, KeyringRemove, newKey); !errors.Is(err, ErrRemovePrimary) {
		t.Fatalf("removing the key in use: %v", err)
	}
	for _, r := range op(KeyringRemove, oldKey) {
		if r.Primary != newKey || !slices.Equal(r.Keys, []string{newKey}) {
			t.Fatalf("after rotation %s has %v (primary %s)", r.Node, r.Keys, r.Primary)
		}
	}
	// A node restarted after the rotation rejoins with the saved keyring.
	nodes[3].Shutdown()
	kr, err := LoadKeyring(filepath.Join(dir, "kr3.keyring"))
	if err != nil || kr == nil {
		t.Fatalf("LoadKeyring: %v", err)
	}
	allSee(t, 15*time.Second, nodes[:3], []string{"kr3"}, StatusFailed)
	back := startNode(t, "kr3", nil, func(c *Config) { c.Keyring = kr })
	Eventually(t, 10*time.Second, func() error {
		_, err := back.Join([]string{nodes[0].addr()})
		return err
	})
	allSee(t, 15*time.Second, nodes[:3], []string{"kr3"}, StatusAlive)
}

func TestForceLeave(t *testing.T) {
	nodes := startMesh(t, "f", 3, nil, nil)
	allSee(t, 10*time.Second, nodes, names(nodes), StatusAlive)
	if err := nodes[0].ForceLeave("f1"); err == nil {
		t.Fatal("force-leave of a live node succeeded")
	}
	nodes[2].Shutdown()
	allSee(t, 15*time.Second, nodes[:2], []string{"f2"}, StatusFailed)
	if err := nodes[0].ForceLeave("f2"); err != nil {
		t.Fatal(err)
	}
	allSee(t, 10*time.Second, nodes[:2], []string{"f2"}, StatusLeft)
}

func TestRetryJoinGivesUp(t *testing.T) {
	n := startNode(t, "lonely", nil, nil)
	done := make(chan error, 1)
	n.RetryJoin(context.Background(), []string{"127.0.0.1:1"}, 3, resilience.Retry{BackoffBase: time.Millisecond, BackoffCap: 5 * time.Millisecond},
		func(_ int, err error) { done <- err })
	if err := <-done; err == nil || !contains(err.Error(), "3 attempts failed") {
		t.Fatalf("RetryJoin = %v", err)
	}
	if !contains(n.logs.String(), "giving up joining") {
		t.Fatal("no log line about giving up")
	}
}

// Join retries pause on the mesh's clock, for the backoff's pauses.
func TestRetryJoinWaitsOnClock(t *testing.T) {
	clock := resilience.NewFakeClock(time.Unix(1e9, 0))
	n := startNode(t, "patient", nil, func(c *Config) { c.Clock = clock })
	done := make(chan error, 1)
	n.RetryJoin(context.Background(), []string{"127.0.0.1:1"}, 3, resilience.Retry{BackoffBase: time.Hour, BackoffCap: 10 * time.Hour},
		func(_ int, err error) { done <- err })
	if err := <-done; err == nil {
		t.Fatal("RetryJoin reported success")
	}
	sleeps := clock.Sleeps()
	if len(sleeps) != 2 {
		t.Fatalf("pauses = %v, want 2 (between 3 attempts)", sleeps)
	}
	for i, want := range []time.Duration{time.Hour, 2 * time.Hour} { // steps; equal jitter waits half to all of each
		if sleeps[i] < want/2 || sleeps[i] > want {
			t.Errorf("pause %d = %v, want within [%v, %v]", i+1, sleeps[i], want/2, want)
		}
	}
}

func TestRetryJoinStopsAtShutdown(t *testing.T) {
	n := startNode(t, "quitter", nil, nil)
	done := make(chan error, 1)
	n.RetryJoin(context.Background(), []string{"127.0.0.1:1"}, 0, resilience.Retry{BackoffBase: time.Hour, BackoffCap: time.Hour},
		func(_ int, err error) { done <- err })
	n.Shutdown() // waits for the retry goroutine
	if err := <-done; err == nil {
		t.Fatal("RetryJoin reported success")
	}
}

// TestSetTag: a changed tag reaches every peer; the reserved identity
// tags cannot be set, nor metadata past the size limit, and the tags in
// effect then stay.
func TestSetTag(t *testing.T) {
	nodes := startMesh(t, "t", 3, nil, nil)
	allSee(t, 10*time.Second, nodes, names(nodes), StatusAlive)
	if err := nodes[0].SetTag(MetaFingerprint, "new-fp"); err != nil {
		t.Fatal(err)
	}
	if got := nodes[0].LocalMember().Tags[MetaFingerprint]; got != "new-fp" {
		t.Fatalf("local tag = %q", got)
	}
	Eventually(t, 10*time.Second, func() error {
		for _, n := range nodes[1:] {
			if m, ok := n.Member("t0"); !ok || m.Tags[MetaFingerprint] != "new-fp" {
				return fmt.Errorf("%s sees t0 with tags %v", n.cfg.NodeName, m.Tags)
			}
		}
		return nil
	})
	for _, key := range []string{MetaID, MetaBoot} {
		if err := nodes[0].SetTag(key, "x"); !errors.Is(err, ErrConfig) {
			t.Errorf("SetTag(%s) = %v, want ErrConfig", key, err)
		}
	}
	if err := nodes[0].SetTag("big", strings.Repeat("x", 600)); !errors.Is(err, ErrMetaTooLarge) {
		t.Errorf("SetTag of 600 bytes = %v, want ErrMetaTooLarge", err)
	}
	if tags := nodes[0].LocalMember().Tags; tags["big"] != "" || tags[MetaFingerprint] != "new-fp" {
		t.Errorf("tags after refused SetTag = %v", tags)
	}
	nodes[2].Shutdown()
	if err := nodes[2].SetTag(MetaFingerprint, "late"); !errors.Is(err, ErrShutdown) {
		t.Errorf("SetTag after Shutdown = %v, want ErrShutdown", err)
	}
}

// TestMembersShowSuspect cuts one node off: the member that logs its
// suspicion of it (memberlist's "Suspect ... has failed") lists it as
// suspect, not alive, until the suspicion times out and it is failed.
func TestMembersShowSuspect(t *testing.T) {
	fnet := faultnet.New(1)
	// The local profile's suspicion lasts seconds, long enough to be seen.
	nodes := startMesh(t, "s", 4, fnet, nil)
	allSee(t, 15*time.Second, nodes, names(nodes), StatusAlive)
	cut := nodes[3]
	fnet.Partition("cut", cut.addr())
	logged := "Suspect " + cut.cfg.NodeName + " has failed"
	// memberlist logs the suspicion just before it records it: poll until
	// a member that logged it lists the node suspect, failing if one goes
	// straight to failed.
	Eventually(t, 20*time.Second, func() error {
		for _, o := range nodes[:3] {
			if !strings.Contains(o.logs.String(), logged) {
				continue
			}
			switch st := statusOf(o, cut.cfg.NodeName); st {
			case StatusSuspect:
				return nil
			case StatusFailed:
				t.Fatalf("%s logged %q and lists %s failed without having listed it suspect", o.cfg.NodeName, logged, cut.cfg.NodeName)
			}
		}
		return errors.New("no member that logged its suspicion lists it suspect yet")
	})
	allSee(t, 30*time.Second, nodes[:3], []string{cut.cfg.NodeName}, StatusFailed)
}
