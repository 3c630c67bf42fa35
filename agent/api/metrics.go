package api

// MetricsInfo is the answer of GET /v1/agent/metrics without ?format, in
// the shape of Consul's (the Consul Go client's Agent().Metrics() decodes
// it): the agent's gauges and counters as the Prometheus form names them.
// A counter's total since the agent started is its Sum, Min, Max and Mean,
// with Count 1: unlike Consul's, the figures are not per interval, and
// there is no Rate (per second over the interval) or PrecisionGauges,
// which Consul's go-metrics writes and its Go client does not read.
type MetricsInfo struct {
	// Timestamp is the time of the reading, as Consul writes it
	// ("2006-01-02 15:04:05 +0000 UTC"), to the second.
	Timestamp string
	Gauges    []GaugeValue
	Points    []PointValue   // always empty
	Counters  []SampledValue // totals since the agent started
	Samples   []SampledValue // histograms: count, sum and mean, in seconds
}

// GaugeValue is one gauge series.
type GaugeValue struct {
	Name   string
	Value  float32
	Labels map[string]string
}

// PointValue is a series of points; the agent reports none.
type PointValue struct {
	Name   string
	Points []float32
}

// SampledValue is one counter series, or one histogram's (a timing:
// Count, Sum and Mean; no Min, Max or Stddev).
type SampledValue struct {
	Name   string
	Count  int
	Sum    float64
	Min    float64
	Max    float64
	Mean   float64
	Stddev float64
	Labels map[string]string
}
