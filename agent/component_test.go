package agent

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/store"
)

// recorder is a component that records its calls in a shared log.
type recorder struct {
	name     string
	log      *[]string
	startErr error
}

func (r *recorder) Start(context.Context) error {
	*r.log = append(*r.log, "start "+r.name)
	return r.startErr
}

func (r *recorder) Close() error {
	*r.log = append(*r.log, "close "+r.name)
	return nil
}

func TestComponentsStartInOrderAndCloseInReverse(t *testing.T) {
	errBroken := errors.New("broken")
	tests := []struct {
		name    string
		failing string // the component whose Start fails
		want    []string
	}{
		{name: "all start", want: []string{"start a", "start b", "start c", "close c", "close b", "close a"}},
		// Every component is closed, started or not: Close releases what
		// the constructor acquired.
		{name: "one fails", failing: "b", want: []string{"start a", "start b", "close c", "close b", "close a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls []string
			a := &Agent{log: discardLog()}
			_, a.stop = context.WithCancelCause(context.Background())
			for _, name := range []string{"a", "b", "c"} {
				c := &recorder{name: name, log: &calls}
				if name == tt.failing {
					c.startErr = errBroken
				}
				a.add(c)
			}
			err := a.start(context.Background())
			if (tt.failing != "") != errors.Is(err, errBroken) {
				t.Fatalf("start = %v", err)
			}
			a.close()
			if !slices.Equal(calls, tt.want) {
				t.Fatalf("calls %q, want %q", calls, tt.want)
			}
		})
	}
}

// TestNewReleasesWhatItBuiltWhenItFails: when the last port New binds is
// taken, New fails and closes what it built before: the store's lock is
// released and the RPC and gossip ports are free again.
func TestNewReleasesWhatItBuiltWhenItFails(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	gossipPort, rpcPort := freeUDPPort(t), freeUDPPort(t)
	cfg := config.DevDefault()
	cfg.NodeName, cfg.DataDir, cfg.HTTPAddr = "n", t.TempDir(), taken.Addr().String()
	cfg.GossipPort, cfg.RPCPort = gossipPort, rpcPort
	if _, err := New(cfg, discardLog()); err == nil || !strings.Contains(err.Error(), "http api") {
		t.Fatalf("New with the HTTP port taken = %v", err)
	}
	st, err := store.Open(cfg.DataDir, store.Options{})
	if err != nil {
		t.Fatalf("the store is still held: %v", err)
	}
	st.Close()
	cfg.HTTPAddr = "127.0.0.1:0"
	a, err := New(cfg, discardLog())
	if err != nil {
		t.Fatalf("New on the same ports after a failed New: %v", err)
	}
	a.close()
}

// TestNewFailsWhenTheGossipPortIsTaken: gossip binds its UDP port in New,
// so a port in use fails New, naming gossip and the address, and New releases
// what it built before: the store and the RPC port.
func TestNewFailsWhenTheGossipPortIsTaken(t *testing.T) {
	taken, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := config.DevDefault()
	cfg.NodeName, cfg.DataDir, cfg.HTTPAddr = "n", t.TempDir(), "127.0.0.1:0"
	cfg.GossipPort, cfg.RPCPort = taken.LocalAddr().(*net.UDPAddr).Port, freeUDPPort(t)
	_, err = New(cfg, discardLog())
	if err == nil || !strings.Contains(err.Error(), "gossip") || !strings.Contains(err.Error(), taken.LocalAddr().String()) {
		t.Fatalf("New with the gossip port taken = %v", err)
	}
	cfg.GossipPort = 0
	a, err := New(cfg, discardLog())
	if err != nil {
		t.Fatalf("New on the same data dir and RPC port after a failed New: %v", err)
	}
	a.close()
}

// freeUDPPort returns a UDP port on 127.0.0.1 that was free a moment ago.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}
