package agent

import (
	"log/slog"
	"strconv"
	"strings"

	"github.com/edgeplane/edgeplane/agent/replica"
	"github.com/edgeplane/edgeplane/store"
)

// reportQuarantine warns, at start, of the records the store keeps in
// quarantine: it says so at every start until they are dealt with.
func reportQuarantine(st *store.Store, log *slog.Logger) {
	q := replica.Quarantine(st, log)
	if len(q) == 0 {
		return
	}
	keys := make([]string, len(q))
	for i := range q {
		keys[i] = q[i].Key
	}
	log.Warn("the store holds records whose keys are not valid UTF-8: they are quarantined, kept in the data file but never served or replicated; see edgeplane info",
		"count", len(q), "moved_at_this_start", st.QuarantinedAtOpen(), "keys", quotedList(keys, maxLoggedKeys))
}

// maxLoggedKeys bounds the keys one log line lists.
const maxLoggedKeys = 32

// quotedList joins already quoted keys with spaces, at most limit of them.
func quotedList(keys []string, limit int) string {
	if len(keys) <= limit {
		return strings.Join(keys, " ")
	}
	return strings.Join(keys[:limit], " ") + " and " + strconv.Itoa(len(keys)-limit) + " more"
}

// warnQuarantined warns of the keys of a restored snapshot that went to
// the store's quarantine because they are not valid UTF-8.
func warnQuarantined(log *slog.Logger, keys []string) {
	if len(keys) == 0 {
		return
	}
	quoted := make([]string, len(keys))
	for i := range keys {
		quoted[i] = strconv.Quote(keys[i])
	}
	log.Warn("snapshot records whose keys are not valid UTF-8 were quarantined, not restored; see edgeplane info",
		"count", len(keys), "keys", quotedList(quoted, maxLoggedKeys))
}
