package telemetry

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// family is one metric family of an exposition, as parseExposition reads
// it.
type family struct {
	help, kind string
	series     []parsedSeries
}

type parsedSeries struct {
	name   string // the sample's name: the family's, or with _bucket, _sum, _count
	labels map[string]string
	value  float64
}

var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// parseExposition parses the Prometheus text format, version 0.0.4, more
// strictly than Prometheus does: every family has one HELP line with text
// and one TYPE line before its first sample, its samples are contiguous,
// no series appears twice, counters end in _total and no other type does,
// and only histograms and summaries have _bucket, _sum or _count samples.
func parseExposition(text string) (map[string]*family, error) {
	fams := map[string]*family{}
	var cur *family
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
			if !metricName.MatchString(name) || help == "" {
				return nil, fail("a HELP line needs a name and text")
			}
			if fams[name] != nil {
				return nil, fail("second HELP of %s", name)
			}
			cur, curName = &family{help: help}, name
			fams[name] = cur
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, kind, _ := strings.Cut(rest, " ")
			if name != curName || cur.kind != "" || len(cur.series) > 0 {
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
			cur.kind = kind
			continue
		}
		if strings.HasPrefix(line, "#") {
			return nil, fail("a comment")
		}
		s, err := parseSample(line)
		if err != nil {
			return nil, fail("%v", err)
		}
		if cur == nil || cur.kind == "" {
			return nil, fail("a sample before its family's HELP and TYPE")
		}
		suffix, ok := strings.CutPrefix(s.name, curName)
		if !ok {
			return nil, fail("a sample of %s among those of %s", s.name, curName)
		}
		switch {
		case suffix == "":
		case (suffix == "_sum" || suffix == "_count") && (cur.kind == "histogram" || cur.kind == "summary"),
			suffix == "_bucket" && cur.kind == "histogram":
		default:
			return nil, fail("a sample of %s among those of %s", s.name, curName)
		}
		key := s.name + fmt.Sprint(s.labels)
		if seen[key] {
			return nil, fail("series repeated")
		}
		seen[key] = true
		cur.series = append(cur.series, s)
	}
	return fams, nil
}

// parseSample parses `name{label="value",...} value`.
func parseSample(line string) (parsedSeries, error) {
	s := parsedSeries{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return s, fmt.Errorf("no value")
	}
	s.name, line = line[:i], line[i:]
	if !metricName.MatchString(s.name) {
		return s, fmt.Errorf("bad metric name %q", s.name)
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
			if _, dup := s.labels[name]; dup {
				return s, fmt.Errorf("label %s twice", name)
			}
			s.labels[name] = value.String()
			line = strings.TrimPrefix(rest[j+1:], ",")
		}
	}
	v, ok := strings.CutPrefix(line, " ")
	if !ok || strings.Contains(v, " ") {
		return s, fmt.Errorf("want one space and a value (no timestamp), have %q", line)
	}
	var err error
	if s.value, err = strconv.ParseFloat(v, 64); err != nil {
		return s, fmt.Errorf("bad value: %w", err)
	}
	return s, nil
}
