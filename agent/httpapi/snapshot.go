package httpapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/edgeplane/edgeplane/agent/api"
)

// MaxRestoreSize bounds a snapshot restored through the API.
const MaxRestoreSize int64 = 4 << 30

// RestoreResult is the answer to a restore.
type RestoreResult = api.RestoreResult

// handleSnapshots adds GET and PUT /v1/edgeplane/snapshot.
func (a *API) handleSnapshots(s Snapshots) {
	a.mux.HandleFunc("GET /v1/edgeplane/snapshot", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		if err := s.Save(w); err != nil {
			// Headers may be gone already; the stream's missing end frame
			// tells the reader it is incomplete.
			a.log.Error("snapshot save failed", "err", err)
		}
	})
	a.mux.HandleFunc("PUT /v1/edgeplane/snapshot", func(w http.ResponseWriter, r *http.Request) {
		res, err := s.Restore(http.MaxBytesReader(w, r.Body, MaxRestoreSize))
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			a.fail(w, r, http.StatusRequestEntityTooLarge, fmt.Errorf("snapshot over %d bytes", MaxRestoreSize))
		case diskFull(err):
			a.fail(w, r, http.StatusInsufficientStorage, fmt.Errorf("restore stopped after %d records changed: %w", res.Changed, err))
		case err != nil:
			a.fail(w, r, http.StatusBadRequest, fmt.Errorf("restore stopped after %d records changed: %w", res.Changed, err))
		default:
			writeJSON(w, res)
		}
	})
}

// handleCompact adds PUT /v1/edgeplane/store/compact, which needs agent
// write access (acl.go), like the other controls of the agent.
func (a *API) handleCompact(c Compactor) {
	a.mux.HandleFunc("PUT /v1/edgeplane/store/compact", func(w http.ResponseWriter, r *http.Request) {
		res, err := c.Compact(r.Context())
		switch {
		case diskFull(err):
			a.fail(w, r, http.StatusInsufficientStorage, fmt.Errorf("compaction failed, the store keeps its file: %w", err))
		case err != nil:
			a.fail(w, r, http.StatusInternalServerError, fmt.Errorf("compaction failed: %w", err))
		default:
			writeJSON(w, res)
		}
	})
}

// handleReplication adds GET /v1/edgeplane/replication.
func (a *API) handleReplication(r Replication) {
	a.mux.HandleFunc("GET /v1/edgeplane/replication", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, r.State())
	})
}
