package sdnotify

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestHealthProbe(t *testing.T) {
	var status atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/agent/self" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	addr := srv.Listener.Addr()
	errDisk := errors.New("disk gone")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	tests := []struct {
		name    string
		read    error
		status  int
		path    string
		wantErr string // "" passes
	}{
		{name: "healthy", status: http.StatusOK, path: "/v1/agent/self"},
		{name: "store fails", read: errDisk, status: http.StatusOK, path: "/v1/agent/self", wantErr: "store read: disk gone"},
		{name: "api fails", status: http.StatusInternalServerError, path: "/v1/agent/self", wantErr: "/v1/agent/self answered 500"},
		{name: "wrong path", status: http.StatusOK, path: "/v1/missing", wantErr: "answered 404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status.Store(int32(tt.status))
			p := HealthProbe{ReadStore: func() error { return tt.read }, API: addr, Path: tt.path}
			err := p.Check(ctx)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Check = %v, want %q", err, tt.wantErr)
			}
			if tt.read != nil && !errors.Is(err, tt.read) {
				t.Fatalf("Check = %v does not wrap the store's error", err)
			}
		})
	}
}

func TestProbeAddr(t *testing.T) {
	tests := map[string]string{
		"127.0.0.1:8500": "127.0.0.1:8500",
		"0.0.0.0:8500":   "127.0.0.1:8500",
		"[::]:8500":      "[::1]:8500",
		"[::1]:8500":     "[::1]:8500",
	}
	for in, want := range tests {
		addr, err := net.ResolveTCPAddr("tcp", in)
		if err != nil {
			t.Fatal(err)
		}
		if got := probeAddr(addr); got != want {
			t.Errorf("probeAddr(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestProbeConnectsFromItsOwnAddress: to a loopback API the probe
// connects from an address other than 127.0.0.1, whose connections a
// local process may have used up.
func TestProbeConnectsFromItsOwnAddress(t *testing.T) {
	remotes := make(chan string, 3)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		remotes <- host
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := HealthProbe{ReadStore: func() error { return nil }, API: srv.Listener.Addr(), Path: "/"}
	for range 3 {
		if err := p.Check(ctx); err != nil {
			t.Fatal(err)
		}
		ip := net.ParseIP(<-remotes)
		if !ip.IsLoopback() || ip.Equal(net.IPv4(127, 0, 0, 1)) {
			t.Errorf("probe connected from %s, want a loopback address other than 127.0.0.1", ip)
		}
	}
}

// onlyFrom is a listener that closes, as soon as it accepts them, the
// connections not from ip: an API whose connection caps refuse them.
type onlyFrom struct {
	net.Listener
	ip string
}

func (l onlyFrom) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if host, _, _ := net.SplitHostPort(c.RemoteAddr().String()); host == l.ip {
			return c, nil
		}
		c.Close()
	}
}

// TestProbeRetriesFromTheUsualAddress: when the API refuses the probe's
// own address, the probe tries once more from 127.0.0.1.
func TestProbeRetriesFromTheUsualAddress(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Listener = onlyFrom{Listener: srv.Listener, ip: "127.0.0.1"}
	srv.Start()
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := HealthProbe{ReadStore: func() error { return nil }, API: srv.Listener.Addr(), Path: "/"}
	if err := p.Check(ctx); err != nil {
		t.Fatalf("Check with the probe's own address refused: %v", err)
	}
}
