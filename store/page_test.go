package store

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// readPages joins the pages of prefix read with budget maxBytes, as the
// HTTP API does, growing the budget to Need when a page comes back empty.
func readPages(t *testing.T, s *Store, prefix, sep string, keys bool, maxBytes int) ([]Entry, []string, uint64, int) {
	t.Helper()
	var (
		entries []Entry
		out     []string
		index   uint64
		pages   int
		from    string
	)
	for budget := maxBytes; pages < 1000; pages++ {
		var (
			p   Page
			err error
		)
		if keys {
			p, err = s.KeysPage(prefix, sep, from, budget)
		} else {
			p, err = s.ListPage(prefix, from, budget)
		}
		if err != nil {
			t.Fatal(err)
		}
		if from == "" {
			index = p.Index
		} else if p.Index != 0 {
			t.Fatalf("page from %q has Index %d: only the first page carries it", from, p.Index)
		}
		for _, e := range p.Entries {
			if size := EntrySize(&e); size > budget {
				t.Fatalf("page with budget %d holds %q of %d bytes", budget, e.Key, size)
			}
		}
		entries = append(entries, p.Entries...)
		for _, k := range p.Keys {
			if n := len(out); n == 0 || out[n-1] != k {
				out = append(out, k)
			}
		}
		budget = max(maxBytes, p.Need)
		if p.Next == "" {
			return entries, out, index, pages + 1
		}
		from = p.Next
	}
	t.Fatalf("prefix %q not done after %d pages", prefix, pages)
	return nil, nil, 0, 0
}

func TestPagesJoinToList(t *testing.T) {
	s := openStore(t, "", Options{})
	for i := range 40 {
		mustPut(t, s, fmt.Sprintf("a/%02d/x", i), strings.Repeat("v", i*10))
		mustPut(t, s, fmt.Sprintf("a/%02d/y", i), "")
	}
	mustPut(t, s, "a/big", strings.Repeat("b", 5000))
	mustPut(t, s, "b/other", "o")
	if _, err := s.Delete("a/05/x", nil); err != nil {
		t.Fatal(err)
	}
	wantList, wantIdx, err := s.List("a/")
	if err != nil {
		t.Fatal(err)
	}
	for _, budget := range []int{1, 100, 1000, 1 << 20} {
		got, _, idx, pages := readPages(t, s, "a/", "", false, budget)
		if idx != wantIdx {
			t.Errorf("budget %d: index %d, List's %d", budget, idx, wantIdx)
		}
		if !slices.EqualFunc(got, wantList, func(a, b Entry) bool {
			return a.Key == b.Key && string(a.Value) == string(b.Value) && a.ModifyIndex == b.ModifyIndex && a.CreateIndex == b.CreateIndex
		}) {
			t.Errorf("budget %d: pages give %d entries, List %d", budget, len(got), len(wantList))
		}
		if budget == 1<<20 && pages != 1 {
			t.Errorf("a prefix under the budget took %d pages", pages)
		}
		if budget == 100 && pages < 10 {
			t.Errorf("budget 100 read %d bytes in %d pages", 20000, pages)
		}
	}
	for _, sep := range []string{"", "/"} {
		wantKeys, wantIdx, err := s.Keys("a/", sep)
		if err != nil {
			t.Fatal(err)
		}
		for _, budget := range []int{1, 7, 64, 1 << 20} {
			_, got, idx, _ := readPages(t, s, "a/", sep, true, budget)
			if idx != wantIdx || !slices.Equal(got, wantKeys) {
				t.Errorf("sep %q budget %d: keys %q index %d, Keys %q %d", sep, budget, got, idx, wantKeys, wantIdx)
			}
		}
	}
}

func TestPageNeedsRoomForALargeEntry(t *testing.T) {
	s := openStore(t, "", Options{})
	mustPut(t, s, "p/1", "small")
	mustPut(t, s, "p/2", strings.Repeat("x", 1000))
	p, err := s.ListPage("p/", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Entries) != 1 || p.Next != "p/2" || p.Need != 0 {
		t.Fatalf("first page: %d entries, next %q, need %d", len(p.Entries), p.Next, p.Need)
	}
	p, err = s.ListPage("p/", p.Next, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Entries) != 0 || p.Next != "p/2" || p.Need != 1003 {
		t.Fatalf("page of an entry over the budget: %d entries, next %q, need %d; want 0, p/2, 1003", len(p.Entries), p.Next, p.Need)
	}
	p, err = s.ListPage("p/", p.Next, p.Need)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Entries) != 1 || p.Next != "" {
		t.Fatalf("page with room: %d entries, next %q", len(p.Entries), p.Next)
	}
}

func TestFirstPageOfEmptyPrefixHasStoreIndex(t *testing.T) {
	s := openStore(t, "", Options{})
	mustPut(t, s, "k", "v")
	p, err := s.ListPage("none/", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Entries) != 0 || p.Next != "" || p.Index != s.Index() {
		t.Fatalf("empty prefix: %d entries, next %q, index %d (store %d)", len(p.Entries), p.Next, p.Index, s.Index())
	}
}
