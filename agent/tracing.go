package agent

import (
	"log/slog"

	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/tracing"
	"github.com/edgeplane/edgeplane/agent/version"
)

// newTracer builds the tracer of the service proxy's calls (package
// tracing): it samples new traces at tracing.sample_ratio and, with
// tracing.otlp_endpoint set, exports the spans from Start until Close.
// It is added before the proxy, so it closes after it and exports the
// last calls' spans.
func newTracer(cfg config.Config, log *slog.Logger) (*tracing.Tracer, error) {
	tc := cfg.TracerConfig()
	tc.Resource = tracing.Resource{Attrs: []tracing.Attr{
		tracing.String("service.name", "edgeplane"),
		tracing.String("service.version", version.Version),
		tracing.String("host.name", cfg.NodeName),
		tracing.String("edgeplane.site", cfg.Site),
	}, Scope: "edgeplane/proxy", Version: version.Version}
	tc.Log = log
	return tracing.New(tc)
}

// applySampleRatio is tracing.sample_ratio's reload: new traces are
// sampled at the new ratio from the next call on.
func applySampleRatio(s *supervisor, running *config.Config, next config.Config) bool {
	if s.tracer == nil {
		return false
	}
	s.tracer.SetSampleRatio(next.Tracing.SampleRatio)
	running.Tracing.SampleRatio = next.Tracing.SampleRatio
	return true
}
