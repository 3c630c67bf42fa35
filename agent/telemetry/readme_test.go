package telemetry

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the README's metrics catalogue from Catalogue")

const (
	readmeBegin = "<!-- BEGIN metrics catalogue: go test ./agent/telemetry -run TestREADME -update -->\n"
	readmeEnd   = "<!-- END metrics catalogue -->"
)

// TestREADME keeps the README's metrics catalogue, between readmeBegin and
// readmeEnd, equal to Markdown(); with -update it rewrites it. A README
// without the lines is skipped.
func TestREADME(t *testing.T) {
	const path = "../../README.md"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	before, rest, ok := strings.Cut(text, readmeBegin)
	table, after, ok2 := strings.Cut(rest, readmeEnd)
	if !ok || !ok2 {
		t.Skipf("README.md has no metrics catalogue between %q and %q", strings.TrimSpace(readmeBegin), readmeEnd)
	}
	want := Markdown()
	if table == want {
		return
	}
	if !*update {
		t.Fatalf("README.md's metrics catalogue differs from Catalogue: run go test ./agent/telemetry -run TestREADME -update\nwant:\n%s", want)
	}
	if err := os.WriteFile(path, []byte(before+readmeBegin+want+readmeEnd+after), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestMarkdown(t *testing.T) {
	md := Markdown()
	if n := strings.Count(md, "\n"); n != len(Catalogue)+2 {
		t.Errorf("%d lines for %d metrics", n, len(Catalogue))
	}
	for _, d := range Catalogue {
		if !strings.Contains(md, "| `"+d.Name+"` | "+string(d.Kind)+" |") {
			t.Errorf("%s missing", d.Name)
		}
	}
}
