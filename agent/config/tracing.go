package config

import (
	"strconv"

	"github.com/edgeplane/edgeplane/agent/tracing"
	"go.yaml.in/yaml/v3"
)

// TracingConfig is the tracing of the calls through the proxy.
type TracingConfig struct {
	// SampleRatio is the share of new traces sampled, from 0 to 1; a
	// caller's sampled flag is honoured whatever it is
	// (parentbased_traceidratio). Applied on reload. Default 1.
	SampleRatio float64
	// OTLPEndpoint is the OTLP/HTTP traces URL sampled spans are
	// exported to (http or https); "" exports none. Needs a restart.
	// Default "".
	OTLPEndpoint string
}

// TracerConfig returns the configuration of the agent's tracer.
func (c Config) TracerConfig() tracing.Config {
	return tracing.Config{SampleRatio: c.Tracing.SampleRatio, Endpoint: c.Tracing.OTLPEndpoint}
}

func checkSampleRatio(r float64) error {
	if !tracing.ValidRatio(r) {
		return invalidf("%v is not from 0 to 1", r)
	}
	return nil
}

func checkOTLPEndpoint(s string) error {
	if s == "" {
		return nil
	}
	if err := tracing.ValidateEndpoint(s); err != nil {
		return invalidf("%v", err)
	}
	return nil
}

// floatCodec reads a number: in files an integer or a float, elsewhere
// Go's syntax.
var floatCodec = codec[float64]{
	fromYAML: func(n *yaml.Node) (float64, error) {
		r, err := resolveAlias(n)
		if err != nil {
			return 0, err
		}
		var v float64
		if r.Kind != yaml.ScalarNode || (r.ShortTag() != "!!float" && r.ShortTag() != "!!int") || r.Decode(&v) != nil {
			return 0, typef("expected a number, got %s", describe(r))
		}
		return v, nil
	},
	parse: func(s string) (float64, error) {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, typef("expected a number, got %q", clip(s))
		}
		return v, nil
	},
	format: func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) },
	clone:  same[float64],
}
