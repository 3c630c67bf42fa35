package relay

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/transport"
)

type text string

func (s text) WritePrometheus(w io.Writer) { io.WriteString(w, string(s)) }

// noClient fails every call: tests of what needs no peer.
type noClient struct{ calls *int }

func (c noClient) Stream(context.Context, transport.Peer, string, any, ...transport.CallOption) (*transport.ClientStream, error) {
	*c.calls++
	return nil, &transport.Error{Code: transport.Unavailable, Message: "no peer here"}
}

func newTestRelay(t *testing.T, calls *int, members map[string]string) *Relay {
	t.Helper()
	r, err := New(Config{Self: "gw", Local: text("# gw\n"), Client: noClient{calls},
		Lookup: func(node string) (string, bool) { a, ok := members[node]; return a, ok }})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestDefaults: the limits the agent's relay runs with.
func TestDefaults(t *testing.T) {
	r := newTestRelay(t, new(int), nil)
	if r.cfg.Timeout != 5*time.Second || r.cfg.MaxBytes != 16<<20 || r.cfg.MaxInFlight != 4 {
		t.Errorf("defaults: timeout %v, max bytes %d, in flight %d", r.cfg.Timeout, r.cfg.MaxBytes, r.cfg.MaxInFlight)
	}
	if ChunkSize >= transport.DefaultMaxMessageSize/2 {
		t.Errorf("ChunkSize %d is too close to the transport's message limit %d", ChunkSize, transport.DefaultMaxMessageSize)
	}
}

func TestValidate(t *testing.T) {
	ok := Config{Self: "gw", Local: text(""), Client: noClient{new(int)}, Lookup: func(string) (string, bool) { return "", false }}
	for name, c := range map[string]func(c *Config){
		"no self":          func(c *Config) { c.Self = "" },
		"no local":         func(c *Config) { c.Local = nil },
		"no client":        func(c *Config) { c.Client = nil },
		"no lookup":        func(c *Config) { c.Lookup = nil },
		"negative timeout": func(c *Config) { c.Timeout = -1 },
		"negative bytes":   func(c *Config) { c.MaxBytes = -1 },
		"negative flight":  func(c *Config) { c.MaxInFlight = -1 },
	} {
		cfg := ok
		c(&cfg)
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "Config.") {
			t.Errorf("%s: %v, want an error naming the field", name, err)
		}
	}
	if _, err := New(ok); err != nil {
		t.Error(err)
	}
}

// TestFetchWithoutPeers: the node itself is read locally, an unknown
// node fails at once without a call, an unreachable one with the call's
// error; each is counted.
func TestFetchWithoutPeers(t *testing.T) {
	calls := 0
	r := newTestRelay(t, &calls, map[string]string{"down": "127.0.0.1:1"})
	if b, err := r.Fetch(t.Context(), "gw"); err != nil || string(b) != "# gw\n" {
		t.Errorf("self: %q, %v", b, err)
	}
	if _, err := r.Fetch(t.Context(), "nowhere"); !errors.Is(err, ErrUnknownNode) || !strings.Contains(err.Error(), `"nowhere"`) {
		t.Errorf("unknown: %v", err)
	}
	if _, err := r.Fetch(t.Context(), "down"); err == nil || errors.Is(err, ErrUnknownNode) || !errors.Is(err, transport.Unavailable) {
		t.Errorf("down: %v", err)
	}
	if calls != 1 {
		t.Errorf("%d calls, want 1 (to down only)", calls)
	}
	if s := r.Stats(); s != (Stats{OK: 1, UnknownNode: 1, Failed: 1}) {
		t.Errorf("stats %+v", s)
	}
}
