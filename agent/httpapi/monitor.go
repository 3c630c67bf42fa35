package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// MaxMonitors bounds the log streams served at once; more are answered
// 429. Each holds a queue of logstream.DefaultQueue lines.
const MaxMonitors = 8

// monitorLevels are the levels ?loglevel= takes, Consul's names first.
var monitorLevels = map[string]slog.Level{
	"trace": slog.LevelDebug, "debug": slog.LevelDebug, "info": slog.LevelInfo,
	"warn": slog.LevelWarn, "warning": slog.LevelWarn, "err": slog.LevelError, "error": slog.LevelError,
}

// handleMonitor adds GET /v1/agent/monitor: the agent's log lines as they
// are written, at the level asked (default info) whatever the agent's own
// level, as text or, with logjson, JSON, one line each, until the client
// goes or the API closes.
func (a *API) handleMonitor(m Monitor) {
	a.mux.HandleFunc("GET /v1/agent/monitor", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		name := strings.ToLower(q.Get("loglevel"))
		if name == "" {
			name = "info"
		}
		level, ok := monitorLevels[name]
		if !ok {
			a.fail(w, r, http.StatusBadRequest, fmt.Errorf("unknown log level %q: want trace, debug, info, warn or err", name))
			return
		}
		if !a.monitors.tryAcquire() {
			w.Header().Set("Retry-After", "5")
			a.fail(w, r, http.StatusTooManyRequests, errors.New("too many log streams open on this agent"))
			return
		}
		defer a.monitors.release()
		_, json := q["logjson"]
		st := m.Subscribe(level, json, 0)
		defer st.Close()

		rc := http.NewResponseController(w)
		_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's write timeout
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_ = rc.Flush()
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		stop := context.AfterFunc(a.closed, cancel)
		defer stop()
		for {
			line, err := st.Next(ctx)
			if err != nil {
				return
			}
			if _, err := w.Write(line); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	})
}

// handleLogLevel adds PUT /v1/edgeplane/log-level?level=NAME, which sets
// the agent's own log level until a restart or a reload. It needs agent
// write permission.
func (a *API) handleLogLevel(l LogLeveler) {
	a.mux.HandleFunc("PUT /v1/edgeplane/log-level", func(w http.ResponseWriter, r *http.Request) {
		level := r.URL.Query().Get("level")
		if level == "" {
			a.fail(w, r, http.StatusBadRequest, errors.New("missing ?level=debug|info|warn|error"))
			return
		}
		if err := l.SetLogLevel(level); err != nil {
			a.fail(w, r, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, map[string]string{"Level": strings.ToLower(level)})
	})
}
