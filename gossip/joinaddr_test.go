package gossip

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
)

func TestJoinErrorsSayWhoseFault(t *testing.T) {
	// Names resolve through a fake: tests send nothing to name servers.
	lookupIPAddr = func(_ context.Context, host string) ([]net.IPAddr, error) {
		switch host {
		case "seed.example":
			return []net.IPAddr{{IP: net.IPv4(127, 0, 0, 1)}}, nil
		case "slow.example":
			return nil, &net.DNSError{Err: "i/o timeout", Name: host, IsTimeout: true}
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	t.Cleanup(func() { lookupIPAddr = net.DefaultResolver.LookupIPAddr })

	// A port where nothing listens.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()

	n := startNode(t, "joiner", nil, nil)
	tests := []struct {
		addrs []string
		want  error
	}{
		{[]string{"127.0.0.1:notaport"}, ErrBadAddress},
		{[]string{"127.0.0.1:70000"}, ErrBadAddress},
		{[]string{"127.0.0.1:0"}, ErrBadAddress},
		{[]string{"[::1"}, ErrBadAddress},
		{[]string{"/127.0.0.1:7946"}, ErrBadAddress},
		{[]string{":7946"}, ErrBadAddress},
		{[]string{"no-such-host.example"}, ErrBadAddress},
		{[]string{"no-such-host.example:7946", "127.0.0.1:x"}, ErrBadAddress},
		{[]string{"slow.example:7946"}, ErrNoAnswer},
		{[]string{"127.0.0.1:" + closed}, ErrNoAnswer},
		{[]string{"seed.example:" + closed}, ErrNoAnswer},
		{[]string{"node-b/127.0.0.1:" + closed}, ErrNoAnswer},
		{[]string{"no-such-host.example", "127.0.0.1:" + closed}, ErrNoAnswer},
	}
	for _, tt := range tests {
		_, err := n.Join(tt.addrs)
		if !errors.Is(err, tt.want) {
			t.Errorf("Join(%q) = %v, want %v", tt.addrs, err, tt.want)
		}
		if other := map[error]error{ErrBadAddress: ErrNoAnswer, ErrNoAnswer: ErrBadAddress}[tt.want]; errors.Is(err, other) {
			t.Errorf("Join(%q) = %v: also %v", tt.addrs, err, other)
		}
	}
	// A good address still joins.
	seed := startNode(t, "seed", nil, nil)
	if k, err := n.Join([]string{"127.0.0.1:x", seed.addr()}); err != nil || k != 1 {
		t.Fatalf("Join of a bad and a good address = %d, %v", k, err)
	}
}
