// Package tracing makes the spans of the calls the service proxy carries
// and, optionally, exports them to an OpenTelemetry collector.
//
// # Trace context
//
// A call keeps the W3C trace context (https://www.w3.org/TR/trace-context/)
// of the application that made it: FromHeader reads its traceparent
// (parsed by transport.ParseTraceparent, the one parser) and tracestate.
// Each hop is a span of its own under the same trace id: a client span on
// the calling agent, whose id travels in the transport's header, and a
// server span on the destination agent, whose id is the parent in the
// traceparent the instance receives. A request without a valid
// traceparent starts a new trace. Sampling is OpenTelemetry's
// parentbased_traceidratio: a caller's sampled flag is honoured, a new
// trace is sampled when its id falls under Config.SampleRatio.
//
// The tracestate is kept as the application sent it when it is valid,
// truncated past 32 members or 512 bytes (members over 128 bytes go
// first, then from the end), and dropped whole when it is malformed or
// comes without a valid traceparent. Nothing in the trace context says
// who called: the caller's identity travels apart (package proxy).
//
// # Export
//
// With Config.Endpoint set, sampled spans are sent to it as OTLP/HTTP
// with the protobuf encoding (application/x-protobuf), written here
// without a protobuf library: the agent links neither the OpenTelemetry
// SDK nor google.golang.org/protobuf. Spans wait in a queue of
// Config.QueueSize (2,048) and go in batches of up to 512 every
// Config.Interval (5 s) or as soon as a batch is full, each export
// bounded by Config.Timeout (10 s). A span that finds the queue full, or
// whose batch the collector did not take (unreachable, an error status),
// is dropped and counted (Stats); calls never wait for the exporter.
// Close exports what is queued within a deadline, then stops the
// exporter's goroutine.
package tracing
