package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/edgeplane/edgeplane/agent/api"
)

// MaxRestoreSize bounds a snapshot restored through the API.
const MaxRestoreSize int64 = 4 << 30

// Snapshots saves and restores the store through the API.
type Snapshots struct {
	// Save streams a snapshot of the whole store.
	Save func(w io.Writer) error
	// Restore merges a snapshot stream by last-writer-wins and spreads
	// what changed.
	Restore func(r io.Reader) (RestoreResult, error)
}

// RestoreResult is the answer to a restore.
type RestoreResult = api.RestoreResult

// HandleSnapshots adds GET and PUT /v1/edgeplane/snapshot.
func (a *API) HandleSnapshots(s Snapshots) {
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
			a.fail(w, http.StatusRequestEntityTooLarge, fmt.Errorf("snapshot over %d bytes", MaxRestoreSize))
		case diskFull(err):
			a.fail(w, http.StatusInsufficientStorage, fmt.Errorf("restore stopped after %d records changed: %w", res.Changed, err))
		case err != nil:
			a.fail(w, http.StatusBadRequest, fmt.Errorf("restore stopped after %d records changed: %w", res.Changed, err))
		default:
			writeJSON(w, res)
		}
	})
}

// HandleReplication adds GET /v1/edgeplane/replication, answered by state.
func (a *API) HandleReplication(state func() any) {
	a.mux.HandleFunc("GET /v1/edgeplane/replication", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, state())
	})
}
