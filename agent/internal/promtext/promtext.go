// Package promtext parses the Prometheus text exposition format, version
// 0.0.4, strictly, for tests: the binary never imports it.
package promtext

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Family is one metric family of an exposition.
type Family struct {
	Help, Kind string
	Series     []Series
}

// Series is one sample of a family.
type Series struct {
	Name   string // the sample's name: the family's, or with _bucket, _sum, _count
	Labels map[string]string
	Value  float64
}

var (
	// MetricName matches a valid metric name.
	MetricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// Parse parses the Prometheus text format, version 0.0.4, more
// strictly than Prometheus does: every family has one HELP line with text
// and one TYPE line before its first sample, its samples are contiguous,
// no series appears twice, counters end in _total and no other type does,
// and only histograms and summaries have _bucket, _sum or _count samples.
func Parse(text string) (map[string]*Family, error) {
	fams := map[string]*Family{}
	var cur *Family
	curName := ""
	seen := map[string]bool{}
	for n, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		fail := func(format string, args ...any) error {
			return fmt.Errorf("line %d %q: %s", n+1, line, fmt.Sprintf(format, args...))
		}
		if line == "" {
			return nil, fail("empty line")
		}
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, help, _ := strings.Cut(rest, " ")
			if !MetricName.MatchString(name) || help == "" {
				return nil, fail("a HELP line needs a name and text")
			}
			if fams[name] != nil {
				return nil, fail("second HELP of %s", name)
			}
			cur, curName = &Family{Help: help}, name
			fams[name] = cur
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, kind, _ := strings.Cut(rest, " ")
			if name != curName || cur.Kind != "" || len(cur.Series) > 0 {
				return nil, fail("TYPE of %s not right after its HELP", name)
			}
			switch kind {
			case "counter", "gauge", "histogram", "summary", "untyped":
			default:
				return nil, fail("unknown type %q", kind)
			}
			if (kind == "counter") != strings.HasSuffix(name, "_total") {
				return nil, fail("a counter's name, and only a counter's, ends in _total")
			}
			cur.Kind = kind
			continue
		}
		if strings.HasPrefix(line, "#") {
			return nil, fail("a comment")
		}
		s, err := parseSample(line)
		if err != nil {
			return nil, fail("%v", err)
		}
		if cur == nil || cur.Kind == "" {
			return nil, fail("a sample before its family's HELP and TYPE")
		}
		suffix, ok := strings.CutPrefix(s.Name, curName)
		if !ok {
			return nil, fail("a sample of %s among those of %s", s.Name, curName)
		}
		switch {
		case suffix == "":
		case (suffix == "_sum" || suffix == "_count") && (cur.Kind == "histogram" || cur.Kind == "summary"),
			suffix == "_bucket" && cur.Kind == "histogram":
		default:
			return nil, fail("a sample of %s among those of %s", s.Name, curName)
		}
		key := s.Name + fmt.Sprint(s.Labels)
		if seen[key] {
			return nil, fail("series repeated")
		}
		seen[key] = true
		cur.Series = append(cur.Series, s)
	}
	return fams, nil
}

// parseSample parses `name{label="value",...} value`.
func parseSample(line string) (Series, error) {
	s := Series{Labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return s, fmt.Errorf("no value")
	}
	s.Name, line = line[:i], line[i:]
	if !MetricName.MatchString(s.Name) {
		return s, fmt.Errorf("bad metric name %q", s.Name)
	}
	if line[0] == '{' {
		line = line[1:]
		for {
			line = strings.TrimLeft(line, " ")
			if strings.HasPrefix(line, "}") {
				line = line[1:]
				break
			}
			name, rest, ok := strings.Cut(line, `="`)
			if !ok || !labelName.MatchString(name) {
				return s, fmt.Errorf("bad label at %q", line)
			}
			var value strings.Builder
			j := 0
			for ; j < len(rest) && rest[j] != '"'; j++ {
				if rest[j] != '\\' {
					value.WriteByte(rest[j])
					continue
				}
				if j++; j == len(rest) {
					return s, fmt.Errorf("unterminated escape")
				}
				switch rest[j] {
				case '\\', '"':
					value.WriteByte(rest[j])
				case 'n':
					value.WriteByte('\n')
				default:
					return s, fmt.Errorf("bad escape \\%c", rest[j])
				}
			}
			if j == len(rest) {
				return s, fmt.Errorf("unterminated label value")
			}
			if _, dup := s.Labels[name]; dup {
				return s, fmt.Errorf("label %s twice", name)
			}
			s.Labels[name] = value.String()
			line = strings.TrimPrefix(rest[j+1:], ",")
		}
	}
	v, ok := strings.CutPrefix(line, " ")
	if !ok || strings.Contains(v, " ") {
		return s, fmt.Errorf("want one space and a value (no timestamp), have %q", line)
	}
	var err error
	if s.Value, err = strconv.ParseFloat(v, 64); err != nil {
		return s, fmt.Errorf("bad value: %w", err)
	}
	return s, nil
}

// Count returns the number of samples in fams.
func Count(fams map[string]*Family) int {
	n := 0
	for _, f := range fams {
		n += len(f.Series)
	}
	return n
}

// Value returns the value of the first sample of fams' family name whose
// labels include labels (name, value pairs), and whether there is one.
func Value(fams map[string]*Family, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	for _, s := range f.Series {
		ok := true
		for i := 0; i+1 < len(labels); i += 2 {
			ok = ok && s.Labels[labels[i]] == labels[i+1]
		}
		if ok {
			return s.Value, true
		}
	}
	return 0, false
}
