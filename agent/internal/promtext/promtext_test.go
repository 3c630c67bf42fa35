package promtext

import (
	"strings"
	"testing"
)

const good = "# HELP a_total An a.\n# TYPE a_total counter\na_total{x=\"1\", y=\"q\\\"\\n\\\\\"} 3\na_total{x=\"2\"} 4\n" +
	"# HELP h A histogram.\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 2\nh_count 1\n"

func TestParse(t *testing.T) {
	fams, err := Parse(good)
	if err != nil {
		t.Fatal(err)
	}
	if Count(fams) != 5 {
		t.Errorf("Count = %d, want 5", Count(fams))
	}
	if v, ok := Value(fams, "a_total", "y", "q\"\n\\"); !ok || v != 3 {
		t.Errorf("escaped label value: %v, %v", v, ok)
	}
}

// TestParseRefuses: each breach of the format or the conventions fails.
func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct{ name, text string }{
		{"no help", "# TYPE a gauge\na 1\n"},
		{"no type", "# HELP a A.\na 1\n"},
		{"empty help", "# HELP a \n# TYPE a gauge\na 1\n"},
		{"counter without _total", "# HELP a A.\n# TYPE a counter\na 1\n"},
		{"gauge with _total", "# HELP a_total A.\n# TYPE a_total gauge\na_total 1\n"},
		{"repeated series", "# HELP a A.\n# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n"},
		{"foreign sample", "# HELP a A.\n# TYPE a gauge\nb 1\n"},
		{"gauge _count", "# HELP a A.\n# TYPE a gauge\na_count 1\n"},
		{"bad value", "# HELP a A.\n# TYPE a gauge\na one\n"},
		{"timestamp", "# HELP a A.\n# TYPE a gauge\na 1 1700000000\n"},
		{"bad escape", "# HELP a A.\n# TYPE a gauge\na{x=\"\\t\"} 1\n"},
		{"unterminated", "# HELP a A.\n# TYPE a gauge\na{x=\"1} 1\n"},
		{"bad label name", "# HELP a A.\n# TYPE a gauge\na{0x=\"1\"} 1\n"},
		{"second help", "# HELP a A.\n# TYPE a gauge\na 1\n# HELP a A.\n# TYPE a gauge\n"},
		{"unknown type", "# HELP a A.\n# TYPE a thing\na 1\n"},
		{"blank line", "# HELP a A.\n\n# TYPE a gauge\na 1\n"},
	} {
		if _, err := Parse(tc.text); err == nil {
			t.Errorf("%s: parsed %q", tc.name, tc.text)
		}
	}
	if _, err := Parse(strings.Replace(good, "a_total{x=\"2\"} 4\n", "", 1)); err != nil {
		t.Errorf("good text refused: %v", err)
	}
}
