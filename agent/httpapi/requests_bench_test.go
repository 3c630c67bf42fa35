package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/edgeplane/edgeplane/store"
)

// BenchmarkServeRequest serves GET /v1/status/leader in process, a
// request whose handler does little: what counting it by route costs
// shows.
func BenchmarkServeRequest(b *testing.B) {
	st, err := store.Open(b.TempDir(), store.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	api := New(Config{Store: st, Self: func() Self { return Self{NodeName: "n", Datacenter: "dc1"} },
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer api.Close()
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8500/v1/status/leader", nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}
