package agent

import (
	"strconv"
	"strings"

	"github.com/edgeplane/edgeplane/agent/api"
)

// quarantine lists the records of the store's quarantine, keys escaped,
// as /v1/edgeplane/replication shows them.
func (a *Agent) quarantine() []api.QuarantinedRecord {
	q, err := a.store.Quarantined()
	if err != nil {
		a.log.Error("reading the quarantine", "err", err)
	}
	out := make([]api.QuarantinedRecord, len(q))
	for i, e := range q {
		out[i] = api.QuarantinedRecord{Key: strconv.Quote(e.Key), Value: e.Value, Flags: e.Flags,
			Deleted: e.Deleted, Version: e.Version.String(), Origin: e.Origin}
	}
	return out
}

// reportQuarantine warns, at start, of the records the store keeps in
// quarantine: it says so at every start until they are dealt with.
func (a *Agent) reportQuarantine() {
	q := a.quarantine()
	if len(q) == 0 {
		return
	}
	keys := make([]string, len(q))
	for i := range q {
		keys[i] = q[i].Key
	}
	a.log.Warn("the store holds records whose keys are not valid UTF-8: they are quarantined, kept in the data file but never served or replicated; see edgeplane info",
		"count", len(q), "moved_at_this_start", a.store.QuarantinedAtOpen(), "keys", quotedList(keys, maxLoggedKeys))
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
func (a *Agent) warnQuarantined(keys []string) {
	if len(keys) == 0 {
		return
	}
	quoted := make([]string, len(keys))
	for i := range keys {
		quoted[i] = strconv.Quote(keys[i])
	}
	a.log.Warn("snapshot records whose keys are not valid UTF-8 were quarantined, not restored; see edgeplane info",
		"count", len(keys), "keys", quotedList(quoted, maxLoggedKeys))
}
