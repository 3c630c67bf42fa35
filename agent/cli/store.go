package cli

import (
	"fmt"
	"time"
)

// compactTimeout bounds a compaction: a large store takes a while to copy.
const compactTimeout = 10 * time.Minute

type storeCompactCmd struct{ noFlags }

func (*storeCompactCmd) spec() spec {
	return spec{agent: true, timeout: compactTimeout, help: `
Rewrites the local agent's data file without its free pages and with full
pages, while the agent runs: bbolt reuses the pages that overwrites,
deletes and collected tombstones free, but never gives them back, so the
file stays as large as the store ever was. Writes wait for the compaction
(about a second for 100,000 keys); reads go on. It needs the room of a
second copy of the store on the data directory's disk. A crash at any
point leaves the old file or the compacted one, both whole; the next start
removes an unfinished copy.`}
}

func (*storeCompactCmd) run(e *env) int {
	res, err := e.client.StoreCompact(e.ctx)
	if err != nil {
		return fail(e, "compaction failed: %v", err)
	}
	fmt.Fprintf(e.Stdout, "Compacted the store from %s to %s\n", mib(res.Before), mib(res.After))
	return 0
}

// mib formats a size in bytes in MiB.
func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
