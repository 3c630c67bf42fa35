package store

import (
	"bytes"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Page is one bounded read of a prefix: see ListPage and KeysPage.
type Page struct {
	// Entries are the live entries read, in key order (ListPage).
	Entries []Entry
	// Keys are the keys read, in key order, cut at the separator and
	// listed once within the page (KeysPage).
	Keys []string
	// Next is the key the following page starts at; "" when the prefix is
	// done.
	Next string
	// Need is set when the page is empty because its first entry alone is
	// over the byte budget: that entry's size. Call again with at least
	// Need to read it.
	Need int
	// Index is the prefix's index as List reports it, read in the same
	// transaction as the page. Set on the first page only (from == ""):
	// computing it costs a pass over the whole prefix.
	Index uint64
}

// EntrySize is what an entry counts against a page's byte budget: its key
// and value bytes.
func EntrySize(e *Entry) int { return len(e.Key) + len(e.Value) }

// ListPage reads the live entries under prefix from the key from on
// ("": the start of the prefix), in key order, in one short read
// transaction, until their sizes (EntrySize) would pass maxBytes. A page
// holds at least one entry unless that entry alone is over maxBytes; then
// it is empty with Need set.
//
// Reading a large prefix page by page, rather than through one
// transaction held for the whole answer, keeps read transactions short: a
// bbolt read transaction holds the lock that a writer growing the file
// must take, so a reader held open by a slow client could stall every
// write. The price: pages after the first show the prefix as it is when
// they are read, not as of the first page.
func (s *Store) ListPage(prefix, from string, maxBytes int) (Page, error) {
	var p Page
	err := s.page(prefix, from, &p, func(k []byte, meta *Entry, v []byte, used int) (int, bool) {
		size := len(k) + len(v)
		if used+size > maxBytes {
			if len(p.Entries) == 0 {
				p.Need = size
			}
			return 0, false
		}
		e := *meta
		if len(v) > 0 {
			e.Value = bytes.Clone(v)
		}
		p.Entries = append(p.Entries, e)
		return size, true
	})
	return p, err
}

// KeysPage is ListPage for Keys: it reads the live keys under prefix from
// the key from on, cut after separator as Keys does, until their lengths
// would pass maxBytes. A key cut at the separator may begin the next page
// again: callers that join pages drop a key equal to the last one they
// listed.
func (s *Store) KeysPage(prefix, separator, from string, maxBytes int) (Page, error) {
	var p Page
	err := s.page(prefix, from, &p, func(k []byte, _ *Entry, _ []byte, used int) (int, bool) {
		key := string(k)
		if separator != "" {
			if i := strings.Index(key[len(prefix):], separator); i >= 0 {
				key = key[:len(prefix)+i+len(separator)]
			}
		}
		if n := len(p.Keys); n > 0 && p.Keys[n-1] == key {
			return 0, true
		}
		if used+len(key) > maxBytes {
			if len(p.Keys) == 0 {
				p.Need = len(key)
			}
			return 0, false
		}
		p.Keys = append(p.Keys, key)
		return len(key), true
	})
	return p, err
}

// page runs one page read: it computes the prefix index on the first
// page, then calls take for each live entry from the key from on until
// take declines one, which becomes p.Next. take gets the entry without its
// value and the value uncopied; it returns the bytes it used.
//
// Large values' pages are dropped from the process's resident set as the
// read goes (dropMapped): the kernel maps the whole folio around each
// touch, even of a value's header, so a read of a large prefix would
// otherwise leave the prefix's whole size resident in the agent. A touch
// may map pages of values read just before, which dropRecent drops again,
// and the end of the transaction drops every value it touched.
func (s *Store) page(prefix, from string, p *Page, take func(k []byte, meta *Entry, v []byte, used int) (int, bool)) error {
	var idx uint64
	err := s.view(func(tx *bolt.Tx) error {
		var touched [][]byte
		// Last, once every read of the transaction has mapped what it maps.
		defer func() {
			for _, v := range touched {
				dropMapped(v)
			}
		}()
		c := records(tx.Bucket(bucketKV))
		pre := []byte(prefix)
		if from == "" {
			for k, v := c.Seek(pre); k != nil && bytes.HasPrefix(k, pre); k, v = c.Next() {
				e, val, err := s.orig.decodeMeta(string(k), v)
				if err != nil {
					return err
				}
				idx = max(idx, e.ModifyIndex)
				touched = dropRecent(append(touched, val))
			}
			if idx == 0 {
				idx = getUint(tx.Bucket(bucketMeta), metaIndex)
			}
		}
		start := pre
		if from != "" {
			start = []byte(from)
		}
		used := 0
		for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, pre); k, v = c.Next() {
			e, val, err := s.orig.decodeMeta(string(k), v)
			if err != nil {
				return err
			}
			if e.Deleted {
				continue
			}
			n, ok := take(k, &e, val, used)
			touched = dropRecent(append(touched, val))
			if !ok {
				p.Next = string(k)
				return nil
			}
			used += n
		}
		return nil
	})
	if from == "" && err == nil {
		p.Index = s.floorIndex(idx)
	}
	return err
}

// dropRecentValues is how many of the last values read dropRecent drops:
// enough to cover a large folio of values of the size worth dropping.
const dropRecentValues = 8

// dropRecent drops the pages of the last values in touched, the values a
// page read has read so far, and returns touched.
func dropRecent(touched [][]byte) [][]byte {
	for _, v := range touched[max(0, len(touched)-dropRecentValues):] {
		dropMapped(v)
	}
	return touched
}
