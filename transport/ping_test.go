package transport

import (
	"errors"
	"testing"
	"time"
)

func TestPing(t *testing.T) {
	srv := startServer(t, ServerConfig{})
	ServePing(srv.Server, "server")
	tgt, err := newClient(t, ClientConfig{}).Target("agents", Policy{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxTimeout(t, 10*time.Second)
	if rtt, err := tgt.Ping(ctx, srv.peer("server"), "client"); err != nil || rtt <= 0 {
		t.Fatalf("Ping = %v, %v", rtt, err)
	}
	// The client refuses a server whose certificate names another node.
	if _, err := tgt.Ping(ctx, srv.peer("elsewhere"), "client"); !errors.Is(err, ErrPeerMismatch) {
		t.Fatalf("Ping of the wrong node = %v, want ErrPeerMismatch", err)
	}
}
