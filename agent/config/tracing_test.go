package config

import (
	"strings"
	"testing"
)

func TestTracingOptions(t *testing.T) {
	if d := Default().Tracing; d.SampleRatio != 1 || d.OTLPEndpoint != "" {
		t.Fatalf("defaults %+v", d)
	}
	dir := t.TempDir()
	f := writeFile(t, dir, "t.yaml", "tracing:\n  sample_ratio: 0.25\n  otlp_endpoint: http://127.0.0.1:4318/v1/traces\n")
	c := mustLoad(t, []string{"-config-file", f}, nil)
	if c.Tracing.SampleRatio != 0.25 || c.Tracing.OTLPEndpoint != "http://127.0.0.1:4318/v1/traces" {
		t.Fatalf("from a file: %+v", c.Tracing)
	}
	if tc := c.TracerConfig(); tc.SampleRatio != 0.25 || tc.Endpoint != c.Tracing.OTLPEndpoint {
		t.Fatalf("tracer config %+v", tc)
	}
	f = writeFile(t, dir, "int.yaml", "tracing:\n  sample_ratio: 0\n")
	if c := mustLoad(t, []string{"-config-file", f}, nil); c.Tracing.SampleRatio != 0 {
		t.Fatalf("integer ratio: %v", c.Tracing.SampleRatio)
	}
	c = mustLoad(t, []string{"-tracing-sample-ratio", "0.5"}, map[string]string{"EDGEPLANE_TRACING_OTLP_ENDPOINT": "https://c:4318/v1/traces"})
	if c.Tracing.SampleRatio != 0.5 || c.Tracing.OTLPEndpoint != "https://c:4318/v1/traces" {
		t.Fatalf("flag and env: %+v", c.Tracing)
	}

	for _, tc := range []struct {
		yaml, key, reason string
	}{
		{"tracing:\n  sample_ratio: 1.5\n", "tracing.sample_ratio", "from 0 to 1"},
		{"tracing:\n  sample_ratio: -1\n", "tracing.sample_ratio", "from 0 to 1"},
		{"tracing:\n  sample_ratio: half\n", "tracing.sample_ratio", "number"},
		{"tracing:\n  otlp_endpoint: 127.0.0.1:4318\n", "tracing.otlp_endpoint", "not a URL"},
		{"tracing:\n  otlp_endpoint: grpc://c:4317\n", "tracing.otlp_endpoint", "http or https"},
		{"tracing:\n  otlp_endpoint: http://u:p@c/v1/traces\n", "tracing.otlp_endpoint", "user info"},
	} {
		_, err := load(t, []string{"-config-file", writeFile(t, dir, "bad.yaml", tc.yaml)}, nil)
		e := asError(err, tc.key)
		if e == nil || !strings.Contains(e.Error(), tc.reason) {
			t.Errorf("%q: %v, want an error at %s saying %q", tc.yaml, err, tc.key, tc.reason)
		}
	}
}
