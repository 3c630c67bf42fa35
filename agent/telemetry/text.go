package telemetry

import (
	"bufio"
	"bytes"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/VictoriaMetrics/metrics"
)

// writeText writes r's series in the catalogue's order, each family
// under its HELP and TYPE lines. A family without series is left out.
func writeText(w io.Writer, r reading) {
	bw := bufio.NewWriter(w)
	for _, d := range Catalogue {
		ss := r[d.Name]
		if len(ss) == 0 {
			continue
		}
		writeMeta(bw, d.Name, d.Kind, d.Help)
		for _, s := range ss {
			if s.hist != nil {
				writeHistogram(bw, d, s)
				continue
			}
			writeSample(bw, d.Name, "", d.Labels, s.labels, "", s.value)
		}
	}
	bw.Flush()
}

// writeHistogram writes a histogram's series: its cumulative buckets,
// each labelled with its upper bound le, the last +Inf, then its sum and
// count.
func writeHistogram(w *bufio.Writer, d Desc, s series) {
	h := s.hist
	var cum uint64
	for i, c := range h.counts {
		cum += c
		le := "+Inf"
		if i < len(h.bounds) {
			le = formatValue(h.bounds[i])
		}
		writeSample(w, d.Name, "_bucket", d.Labels, s.labels, le, float64(cum))
	}
	writeSample(w, d.Name, "_sum", d.Labels, s.labels, "", h.sum)
	writeSample(w, d.Name, "_count", d.Labels, s.labels, "", float64(cum))
}

// writeSample writes one sample of name+suffix with the labels names =
// values, and le when not empty.
func writeSample(w *bufio.Writer, name, suffix string, names, values []string, le string, value float64) {
	w.WriteString(name)
	w.WriteString(suffix)
	if len(names) > 0 || le != "" {
		w.WriteByte('{')
		for i, l := range names {
			if i > 0 {
				w.WriteByte(',')
			}
			w.WriteString(l)
			w.WriteString(`="`)
			w.WriteString(escapeLabel(values[i]))
			w.WriteByte('"')
		}
		if le != "" {
			if len(names) > 0 {
				w.WriteByte(',')
			}
			w.WriteString(`le="`)
			w.WriteString(le)
			w.WriteByte('"')
		}
		w.WriteByte('}')
	}
	w.WriteByte(' ')
	w.WriteString(formatValue(value))
	w.WriteByte('\n')
}

func writeMeta(w *bufio.Writer, name string, kind Kind, help string) {
	for _, s := range [...]string{"# HELP ", name, " ", escapeHelp(help), "\n# TYPE ", name, " ", string(kind), "\n"} {
		w.WriteString(s)
	}
}

var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

// escapeLabel escapes a label value as the text format requires:
// backslash, double quote and line feed.
func escapeLabel(s string) string {
	if !strings.ContainsAny(s, "\\\"\n") {
		return s
	}
	return labelEscaper.Replace(s)
}

// escapeHelp escapes a HELP text: backslash and line feed.
func escapeHelp(s string) string {
	if !strings.ContainsAny(s, "\\\n") {
		return s
	}
	return helpEscaper.Replace(s)
}

func formatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// writeProcess writes the go_ and process_ series of the library's
// WriteProcessMetrics and WriteFDMetrics (open and most file
// descriptors), annotated with HELP and TYPE lines, which the library
// writes only when told to globally, and then without help.
func writeProcess(w io.Writer) {
	var raw bytes.Buffer
	metrics.WriteProcessMetrics(&raw)
	metrics.WriteFDMetrics(&raw)
	annotate(w, raw.Bytes())
}

// annotate copies the series in src, the text format without metadata,
// to w, writing HELP and TYPE lines before each family: a family whose
// series carry le is a histogram, one whose series carry quantile a
// summary (their _sum and _count series belong to them), one whose name
// ends in _total a counter, any other a gauge. Comments and blank lines
// of src are dropped, and so are the families of leftOut.
func annotate(w io.Writer, src []byte) {
	bw := bufio.NewWriter(w)
	kinds := map[string]string{} // family -> type, of those written
	prev := ""
	for line := range strings.Lines(string(src)) {
		line = strings.TrimRight(line, "\n")
		if line == "" || line[0] == '#' {
			continue
		}
		name, labels, _ := strings.Cut(line, "{")
		if i := strings.IndexByte(name, ' '); i >= 0 {
			name, labels = name[:i], ""
		}
		if leftOut[name] {
			continue
		}
		family, kind := name, "gauge"
		switch {
		case strings.HasSuffix(name, "_bucket") && strings.Contains(labels, `le="`):
			family, kind = strings.TrimSuffix(name, "_bucket"), "histogram"
		case strings.Contains(labels, `quantile="`):
			kind = "summary"
		case strings.HasSuffix(name, "_sum") || strings.HasSuffix(name, "_count"):
			base := name[:strings.LastIndexByte(name, '_')]
			if k := kinds[base]; k == "summary" || k == "histogram" {
				family, kind = base, k
			}
		}
		if kind == "gauge" && strings.HasSuffix(name, "_total") {
			kind = "counter"
		}
		if family != prev {
			if _, seen := kinds[family]; !seen {
				kinds[family] = kind
				writeMeta(bw, family, Kind(kind), processHelp(family))
			}
			prev = family
		}
		bw.WriteString(line)
		bw.WriteByte('\n')
	}
	bw.Flush()
}

// leftOut are the library's series that are left out: gauges named like
// the _count series of a summary, which Prometheus' linter (promtool check
// metrics) refuses. go_cgo_calls_count counts nothing in a binary built
// without cgo; go_gomaxprocs says more than go_cpu_count; the forced
// collections that go_gc_forced_count counts the agent makes only on a
// memory_limit reload.
var leftOut = map[string]bool{"go_cgo_calls_count": true, "go_cpu_count": true, "go_gc_forced_count": true}

// processHelp is the HELP text of a go_ or process_ family.
func processHelp(family string) string {
	if h, ok := processHelps[family]; ok {
		return h
	}
	if strings.HasPrefix(family, "go_") {
		return "Go runtime figure (runtime/metrics, runtime.MemStats), as github.com/VictoriaMetrics/metrics names it."
	}
	return "Process figure from /proc, as github.com/VictoriaMetrics/metrics names it."
}

// processHelps are the HELP texts of the go_ and process_ families most
// looked at.
var processHelps = map[string]string{
	"process_resident_memory_bytes":    "Resident memory of the process.",
	"process_virtual_memory_bytes":     "Virtual memory of the process.",
	"process_cpu_seconds_total":        "CPU time the process used, user and system.",
	"process_cpu_seconds_user_total":   "CPU time the process used in user mode.",
	"process_cpu_seconds_system_total": "CPU time the process used in the kernel.",
	"process_open_fds":                 "File descriptors the process holds open.",
	"process_max_fds":                  "The most file descriptors the process may open (soft limit).",
	"process_start_time_seconds":       "Start time of the process, in seconds since the Unix epoch.",
	"process_num_threads":              "OS threads of the process.",
	"go_goroutines":                    "Goroutines that exist.",
	"go_threads":                       "OS threads the Go runtime created.",
	"go_memstats_heap_inuse_bytes":     "Heap bytes in spans in use.",
	"go_memstats_sys_bytes":            "Bytes the Go runtime obtained from the OS.",
	"go_memlimit_bytes":                "The Go soft memory limit (memory_limit).",
	"go_gc_duration_seconds":           "Pause times of garbage collections.",
	"go_info":                          "Always 1; the label names the Go version.",
}
