package gossip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

func TestMetaRoundTrip(t *testing.T) {
	for _, m := range []map[string]string{
		{}, {MetaID: "x"}, {MetaID: "id", MetaSite: "shop", "rack": "", "k": strings.Repeat("v", 200)},
	} {
		b, err := encodeMeta(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeMeta(b)
		if err != nil || !maps.Equal(got, m) {
			t.Fatalf("round trip of %v = %v, %v", m, got, err)
		}
	}
}

func TestConfigRejectsOversizedTags(t *testing.T) {
	cfg := testConfig("big")
	cfg.Tags = map[string]string{"blob": strings.Repeat("x", 600)}
	if err := cfg.Validate(); !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("Validate = %v, want ErrMetaTooLarge", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"ok", func(*Config) {}, ""},
		{"no name", func(c *Config) { c.NodeName = "" }, "NodeName"},
		{"no id", func(c *Config) { c.NodeID = "" }, "NodeID"},
		{"bad bind", func(c *Config) { c.BindAddr = "nowhere" }, "BindAddr"},
		{"bad port", func(c *Config) { c.BindPort = 70000 }, "BindPort"},
		{"bad advertise", func(c *Config) { c.AdvertiseAddr = "x" }, "AdvertiseAddr"},
		{"bad profile", func(c *Config) { c.Profile = "fast" }, "Profile"},
		{"negative interval", func(c *Config) { c.ReconnectInterval = -1 }, "ReconnectInterval"},
	}
	for _, tt := range tests {
		cfg := testConfig("n")
		tt.mod(&cfg)
		err := cfg.Validate()
		if (tt.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Validate = %v, want mention of %q", tt.name, err, tt.want)
		}
	}
}

func TestSubscriptionOverflowAsksForResync(t *testing.T) {
	var hub eventHub
	sub := hub.subscribe(2)
	for i := range 5 {
		hub.publish(Event{Type: EventJoin, Member: Member{Name: string(rune('a' + i))}})
	}
	evs, resync, err := sub.Next(context.Background())
	if err != nil || !resync || sub.Dropped() == 0 {
		t.Fatalf("after overflow: %d events, resync %v, dropped %d, %v", len(evs), resync, sub.Dropped(), err)
	}
	hub.publish(Event{Type: EventFailed, Member: Member{Name: "z"}})
	evs, resync, _ = sub.Next(context.Background())
	if resync || len(evs) != 1 || evs[0].Member.Name != "z" {
		t.Fatalf("after resync: %v, resync %v", evs, resync)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, _, err := sub.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next on an empty queue = %v", err)
	}
	hub.closeAll()
	if _, _, err := sub.Next(context.Background()); !errors.Is(err, ErrShutdown) {
		t.Fatalf("Next after close = %v", err)
	}
}

func TestPickAdvertiseAddr(t *testing.T) {
	ipnet := func(s string) net.Addr {
		ip, n, _ := net.ParseCIDR(s)
		n.IP = ip
		return n
	}
	tests := []struct {
		name  string
		addrs []net.Addr
		want  string
		err   string
	}{
		{"one private", []net.Addr{ipnet("127.0.0.1/8"), ipnet("10.1.2.3/24"), ipnet("fe80::1/64")}, "10.1.2.3", ""},
		{"public ignored", []net.Addr{ipnet("203.0.113.5/24"), ipnet("192.168.1.9/24")}, "192.168.1.9", ""},
		{"none", []net.Addr{ipnet("127.0.0.1/8"), ipnet("203.0.113.5/24")}, "", "no private IPv4"},
		{"several", []net.Addr{ipnet("10.0.0.1/8"), ipnet("172.16.0.1/12")}, "", "multiple private IPv4"},
	}
	for _, tt := range tests {
		got, err := PickAdvertiseAddr(tt.addrs)
		if got != tt.want || (tt.err != "") != (err != nil) || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: = %q, %v", tt.name, got, err)
		}
	}
}

func TestStatusNames(t *testing.T) {
	for st := StatusAlive; st <= StatusSuspect; st++ {
		if got, ok := ParseStatus(st.String()); !ok || got != st {
			t.Errorf("ParseStatus(%q) = %v, %v", st.String(), got, ok)
		}
	}
}

func FuzzDecodeMeta(f *testing.F) {
	b, _ := encodeMeta(map[string]string{MetaID: "id", MetaSite: "s"})
	f.Add(b)
	f.Add([]byte{1, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMeta(b)
		if err != nil {
			return
		}
		again, err := encodeMeta(m)
		if err != nil {
			t.Fatalf("decoded metadata does not re-encode: %v", err)
		}
		if m2, err := decodeMeta(again); err != nil || !maps.Equal(m, m2) {
			t.Fatalf("round trip changed %v to %v", m, m2)
		}
	})
}

// FuzzHandleMessage feeds arbitrary gossip user messages to a live node:
// whatever arrives, the node must not crash.
func FuzzHandleMessage(f *testing.F) {
	f.Add([]byte(`l{"Node":"x"}`))
	f.Add([]byte(`l{"Node":"x","Boot":"AAAAAAAA"}`))
	f.Add([]byte(`k{"ID":1,"From":"x","Op":"list"}`))
	f.Add([]byte(`r{"ID":1,"Node":"x"}`))
	f.Add([]byte("a payload"))
	f.Add([]byte{})
	cfg := testConfig("fuzz")
	cfg.Logger = slog.New(slog.DiscardHandler)
	m, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { m.Shutdown() })
	if err := m.Start(); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m.handleMessage(b)
	})
}

func TestTableReap(t *testing.T) {
	now := time.Now()
	var tb table
	tb.set(Member{Name: "old-failed", Status: StatusFailed, Since: now.Add(-73 * time.Hour)})
	tb.set(Member{Name: "new-failed", Status: StatusFailed, Since: now.Add(-time.Hour)})
	tb.set(Member{Name: "old-left", Status: StatusLeft, Since: now.Add(-25 * time.Hour)})
	tb.set(Member{Name: "new-left", Status: StatusLeft, Since: now.Add(-23 * time.Hour)})
	tb.set(Member{Name: "alive", Status: StatusAlive, Since: now.Add(-1000 * time.Hour)})
	reaped := tb.reap(now, 72*time.Hour, 24*time.Hour)
	var got []string
	for _, m := range reaped {
		got = append(got, m.Name)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"old-failed", "old-left"}) {
		t.Fatalf("reaped %v", got)
	}
	if left := len(tb.list()); left != 3 {
		t.Fatalf("%d members left in the table, want 3", left)
	}
}

func TestBroadcastQueueIsCapped(t *testing.T) {
	cfg := testConfig("capped")
	cfg.MaxBroadcastQueue = 10
	cfg.Logger = slog.New(slog.DiscardHandler)
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown()
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	for i := range 25 {
		m.Broadcast(fmt.Sprint("key", i), []byte("v"))
	}
	m.Broadcast("key24", []byte("newer")) // replaces the queued one for key24
	if queued, pruned := m.BroadcastQueue(); queued != 10 || pruned != 15 {
		t.Fatalf("queued %d, pruned %d; want 10 and 15", queued, pruned)
	}
}

func TestReconnectDelay(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	failedAgo := func(ages ...time.Duration) []Member {
		var out []Member
		for i, a := range ages {
			out = append(out, Member{Name: fmt.Sprint("n", i), Status: StatusFailed, Since: now.Add(-a)})
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		failed  []Member
		longest time.Duration
		want    time.Duration
	}{
		{"none failed", nil, 30 * time.Second, time.Second},
		{"fresh cut", failedAgo(45 * time.Second), 30 * time.Second, time.Second},
		{"ten-minute cut", failedAgo(10 * time.Minute), 30 * time.Second, 10 * time.Minute / 90},
		{"youngest failure counts", failedAgo(72*time.Hour, 3*time.Minute), 30 * time.Second, 2 * time.Second},
		{"gone for good", failedAgo(5 * time.Hour), 30 * time.Second, 30 * time.Second},
		{"longest below the floor", failedAgo(time.Hour), 200 * time.Millisecond, 200 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := reconnectDelay(tc.failed, now, tc.longest, 0); got != tc.want {
				t.Fatalf("delay %v, want %v", got, tc.want)
			}
			// Jitter only shortens the pause, by at most a quarter.
			if got := reconnectDelay(tc.failed, now, tc.longest, 0.999); got > tc.want || got < tc.want*3/4 {
				t.Fatalf("jittered delay %v outside [%v, %v]", got, tc.want*3/4, tc.want)
			}
		})
	}
}

func TestReconnectTargetFavoursTheFreshCut(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	failed := []Member{
		{Name: "gone", Status: StatusFailed, Since: now.Add(-48 * time.Hour)},
		{Name: "b1", Status: StatusFailed, Since: now.Add(-40 * time.Second)},
		{Name: "b2", Status: StatusFailed, Since: now.Add(-35 * time.Second)},
	}
	r := rand.New(rand.NewPCG(1, 2))
	counts := map[string]int{}
	for range 3000 {
		counts[reconnectTarget(failed, r.IntN).Name]++
	}
	// Half the tries go to the recent cohort, half to any of the three:
	// the member gone for days gets about a sixth.
	if counts["gone"] < 300 || counts["gone"] > 700 || counts["b1"] < 1000 || counts["b2"] < 1000 {
		t.Fatalf("tries per member %v: want about 500 for gone, 1250 for b1 and b2", counts)
	}
}

func TestSuspicions(t *testing.T) {
	if name, ok := suspectLine("Suspect n-2 has failed, no acks received"); !ok || name != "n-2" {
		t.Fatalf("suspectLine = %q, %v", name, ok)
	}
	for _, line := range []string{"Suspect n-2", "Marking n-2 as failed, suspect timeout reached (0 peer confirmations)", "Refuting a suspect message (from: n-1)"} {
		if name, ok := suspectLine(line); ok {
			t.Fatalf("suspectLine(%q) = %q", line, name)
		}
	}
	now := time.Unix(1_800_000_000, 0)
	s := suspicions{longest: func() time.Duration { return 10 * time.Second }}
	s.suspect("a", now)
	s.suspect("b", now)
	if got := s.active(now.Add(time.Second)); !got["a"] || !got["b"] || len(got) != 2 {
		t.Fatalf("active after 1 s: %v", got)
	}
	s.clear("a") // a probe of a was answered
	if got := s.active(now.Add(time.Second)); got["a"] || !got["b"] {
		t.Fatalf("active after a answered: %v", got)
	}
	if got := s.active(now.Add(11 * time.Second)); len(got) != 0 {
		t.Fatalf("active past the longest suspicion: %v", got)
	}
	lan := memberlist.DefaultLANConfig()
	lan.SuspicionMult = 3
	if got := longestSuspicion(lan, 100); got != 6*3*2*time.Second {
		t.Fatalf("longest suspicion at N=100: %v", got)
	}
}
