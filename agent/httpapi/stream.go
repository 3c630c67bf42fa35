package httpapi

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/edgeplane/edgeplane/store"
)

// Bounds on what prefix reads (?recurse, ?keys) hold in memory.
const (
	// readPageBytes is the key and value bytes one page of a prefix read
	// holds: the answer is read from the store and written out a page at
	// a time, so a read holds one page however large its answer.
	readPageBytes = 1 << 20
	// readBudgetBytes bounds the pages all prefix reads hold at once;
	// readers past it wait their turn. An entry larger than a page is read
	// as a page of its own, and one larger than the budget takes it all.
	readBudgetBytes = 16 << 20
	// streamBufferBytes is the buffer between the JSON encoder and the
	// connection.
	streamBufferBytes = 32 << 10
	// maxPageRetries bounds the re-reads of a page whose first entry keeps
	// outgrowing the room made for it.
	maxPageRetries = 8
)

// pager reads a prefix page by page, holding each page's bytes in the
// API's read budget while the page is in memory.
type pager struct {
	budget *byteBudget
	ctx    context.Context
	read   func(from string, maxBytes int) (store.Page, error)

	from    string
	started bool
	done    bool
	held    int64
	index   uint64 // the prefix's index, from the first page
}

// next releases the previous page and returns the next one that holds
// something, or an empty page when the prefix is done.
func (p *pager) next() (store.Page, error) {
	p.release()
	if p.done {
		return store.Page{}, nil
	}
	want := readPageBytes
	for range maxPageRetries {
		held, err := p.budget.acquire(p.ctx, int64(want))
		if err != nil {
			return store.Page{}, err
		}
		p.held = held
		pg, err := p.read(p.from, want)
		if err != nil {
			p.release()
			return store.Page{}, err
		}
		if !p.started {
			p.started, p.index = true, pg.Index
		}
		p.from = pg.Next
		if pg.Need > 0 {
			// The next entry alone is over the page: make room and read it.
			p.release()
			want = pg.Need
			continue
		}
		p.done = pg.Next == ""
		return pg, nil
	}
	p.release()
	return store.Page{}, fmt.Errorf("reading %q: an entry kept growing past the room made for it %d times", p.from, maxPageRetries)
}

func (p *pager) release() {
	p.budget.release(p.held)
	p.held = 0
}

// kvGetPrefix answers ?recurse and ?keys, streaming the JSON array page by
// page: the status and X-Consul-Index come from the first page, read in
// one transaction with the prefix's index; later pages show the prefix as
// it is when each is read. A write that lands during the answer has an
// index past X-Consul-Index, so a blocking query on that index returns at
// once and the client reads again.
func (a *API) kvGetPrefix(w http.ResponseWriter, ctx context.Context, req kvRequest) {
	read, filter := a.prefixReader(ctx, req)
	p := &pager{budget: a.readBudget, ctx: ctx, read: read}
	defer p.release()
	pg, err := p.next()
	for err == nil && len(pg.Entries) == 0 && len(pg.Keys) == 0 && !p.done {
		pg, err = p.next() // every key of the page was filtered out
	}
	if err != nil {
		status := http.StatusInternalServerError
		if ctx.Err() != nil {
			status = http.StatusServiceUnavailable // the client is gone; nobody reads this
		}
		a.fail(w, nil, status, err)
		return
	}
	setReadMeta(w, p.index)
	filter.report(w, p.done)
	if len(pg.Entries) == 0 && len(pg.Keys) == 0 {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if req.method == http.MethodHead {
		return
	}
	bw := bufio.NewWriterSize(w, streamBufferBytes)
	bw.WriteByte('[')
	var (
		n    int
		last string // the last key listed: a key cut at the separator may start the next page again
	)
	for {
		for i := range pg.Entries {
			if n > 0 {
				bw.WriteByte(',')
			}
			writePair(bw, &pg.Entries[i])
			n++
		}
		for _, k := range pg.Keys {
			if n > 0 && k == last {
				continue
			}
			if n > 0 {
				bw.WriteByte(',')
			}
			writeString(bw, k)
			last = k
			n++
		}
		if p.done {
			break
		}
		if err := bw.Flush(); err != nil {
			return // the client went away
		}
		if pg, err = p.next(); err != nil {
			if ctx.Err() == nil {
				a.log.Error("http api prefix read failed mid-answer", "prefix", req.key, "err", err)
			}
			// The status is sent: cut the response short, so the client
			// sees a broken answer rather than a shorter list.
			p.release()
			panic(http.ErrAbortHandler)
		}
	}
	bw.WriteByte(']')
	bw.Flush()
}

// writePairs writes entries as a JSON array of Consul KVPairs.
func writePairs(w http.ResponseWriter, entries ...store.Entry) {
	w.Header().Set("Content-Type", "application/json")
	bw := bufio.NewWriterSize(w, streamBufferBytes)
	bw.WriteByte('[')
	for i := range entries {
		if i > 0 {
			bw.WriteByte(',')
		}
		writePair(bw, &entries[i])
	}
	bw.WriteByte(']')
	bw.Flush()
}

// writePair writes e as Consul's KVPair, byte for byte as encoding/json
// marshals api.KVPair, with the value base64-encoded straight into w rather
// than into a copy of it.
func writePair(w *bufio.Writer, e *store.Entry) {
	w.WriteString(`{"LockIndex":0,"Key":`)
	writeString(w, e.Key)
	w.WriteString(`,"Flags":`)
	w.WriteString(strconv.FormatUint(e.Flags, 10))
	w.WriteString(`,"Value":`)
	if e.Value == nil {
		w.WriteString("null")
	} else {
		w.WriteByte('"')
		enc := base64.NewEncoder(base64.StdEncoding, w)
		enc.Write(e.Value)
		enc.Close()
		w.WriteByte('"')
	}
	w.WriteString(`,"CreateIndex":`)
	w.WriteString(strconv.FormatUint(e.CreateIndex, 10))
	w.WriteString(`,"ModifyIndex":`)
	w.WriteString(strconv.FormatUint(e.ModifyIndex, 10))
	w.WriteByte('}')
}

// writeString writes s as encoding/json does (HTML-safe escapes, invalid
// UTF-8 replaced).
func writeString(w *bufio.Writer, s string) {
	b, err := json.Marshal(s)
	if err != nil {
		panic(errors.New("httpapi: a string did not marshal")) // json.Marshal of a string cannot fail
	}
	w.Write(b)
}
