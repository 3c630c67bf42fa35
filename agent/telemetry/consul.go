package telemetry

import (
	"github.com/edgeplane/edgeplane/agent/api"
)

// consulTimestamp is how Consul writes MetricsInfo.Timestamp (go-metrics'
// time.Time.String of the interval, rounded to the second).
const consulTimestamp = "2006-01-02 15:04:05 -0700 MST"

// Summary returns the catalogue's series in Consul's JSON shape: gauges
// as Gauges, counters as Counters whose Sum, Min, Max and Mean hold the
// total since the agent started (Count 1), histograms as Samples with
// their count, sum and mean (in seconds; their buckets are in the
// Prometheus form only). The go_ and process_ series are in the
// Prometheus form only.
func (m *Metrics) Summary() api.MetricsInfo {
	r := m.read()
	out := api.MetricsInfo{
		Timestamp: m.cfg.Now().UTC().Truncate(1e9).Format(consulTimestamp),
		Gauges:    []api.GaugeValue{}, Points: []api.PointValue{},
		Counters: []api.SampledValue{}, Samples: []api.SampledValue{},
	}
	for _, d := range Catalogue {
		for _, s := range r[d.Name] {
			labels := make(map[string]string, len(d.Labels))
			for i, l := range d.Labels {
				labels[l] = s.labels[i]
			}
			switch d.Kind {
			case Histogram:
				n := s.hist.count()
				v := api.SampledValue{Name: d.Name, Count: int(n), Sum: s.hist.sum, Labels: labels}
				if n > 0 {
					v.Mean = s.hist.sum / float64(n)
				}
				out.Samples = append(out.Samples, v)
			case Counter:
				out.Counters = append(out.Counters, api.SampledValue{Name: d.Name, Count: 1,
					Sum: s.value, Min: s.value, Max: s.value, Mean: s.value, Labels: labels})
			default:
				out.Gauges = append(out.Gauges, api.GaugeValue{Name: d.Name, Value: float32(s.value), Labels: labels})
			}
		}
	}
	return out
}
