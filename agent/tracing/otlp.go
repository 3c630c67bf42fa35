package tracing

import "encoding/binary"

// The OTLP/HTTP protobuf encoding of an ExportTraceServiceRequest
// (opentelemetry-proto, collector/trace/v1/trace_service.proto and
// trace/v1/trace.proto), written by hand: the few messages and fields the
// agent's spans use. otlp_test.go decodes it with the generated code of
// the real schema.

// Field numbers.
const (
	reqResourceSpans = 1 // ExportTraceServiceRequest.resource_spans

	rsResource   = 1 // ResourceSpans.resource
	rsScopeSpans = 2 // ResourceSpans.scope_spans

	resAttributes = 1 // Resource.attributes

	ssScope = 1 // ScopeSpans.scope
	ssSpans = 2 // ScopeSpans.spans

	scopeName    = 1 // InstrumentationScope.name
	scopeVersion = 2 // InstrumentationScope.version

	spTraceID      = 1  // bytes
	spSpanID       = 2  // bytes
	spTraceState   = 3  // string
	spParentSpanID = 4  // bytes
	spName         = 5  // string
	spKind         = 6  // enum
	spStart        = 7  // fixed64
	spEnd          = 8  // fixed64
	spAttributes   = 9  // KeyValue
	spStatus       = 15 // Status
	spFlags        = 16 // fixed32

	stMessage = 2 // Status.message
	stCode    = 3 // Status.code

	kvKey   = 1 // KeyValue.key
	kvValue = 2 // KeyValue.value

	avString = 1 // AnyValue.string_value
	avInt    = 3 // AnyValue.int_value
)

// Wire types.
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

const statusError = 2 // Status.STATUS_CODE_ERROR

// Resource names the agent that made a batch's spans.
type Resource struct {
	// Attrs are the resource's attributes, such as service.name.
	Attrs []Attr
	// Scope and Version name the instrumentation scope.
	Scope, Version string
}

// encodeRequest appends the ExportTraceServiceRequest of spans to b.
func encodeRequest(b []byte, res Resource, spans []*Span) []byte {
	var rs, msg []byte
	for _, a := range res.Attrs {
		msg = appendMessage(msg, resAttributes, appendAttr(nil, a))
	}
	rs = appendMessage(rs, rsResource, msg)

	var ss []byte
	scope := appendString(nil, scopeName, res.Scope)
	scope = appendString(scope, scopeVersion, res.Version)
	ss = appendMessage(ss, ssScope, scope)
	var sp []byte
	for _, s := range spans {
		sp = appendSpan(sp[:0], s)
		ss = appendMessage(ss, ssSpans, sp)
	}
	rs = appendMessage(rs, rsScopeSpans, ss)
	return appendMessage(b, reqResourceSpans, rs)
}

func appendSpan(b []byte, s *Span) []byte {
	b = appendBytes(b, spTraceID, s.TraceID[:])
	b = appendBytes(b, spSpanID, s.ParentID[:])
	if s.State != "" {
		b = appendString(b, spTraceState, s.State)
	}
	if s.Parent != ([8]byte{}) {
		b = appendBytes(b, spParentSpanID, s.Parent[:])
	}
	b = appendString(b, spName, s.Name)
	b = appendTag(b, spKind, wireVarint)
	b = binary.AppendUvarint(b, uint64(s.Kind))
	b = appendTag(b, spStart, wireFixed64)
	b = binary.LittleEndian.AppendUint64(b, unixNano(s.Start.UnixNano()))
	b = appendTag(b, spEnd, wireFixed64)
	b = binary.LittleEndian.AppendUint64(b, unixNano(s.End.UnixNano()))
	var kv []byte
	for _, a := range s.Attrs {
		kv = appendAttr(kv[:0], a)
		b = appendMessage(b, spAttributes, kv)
	}
	if s.Error {
		st := appendString(nil, stMessage, s.Message)
		st = appendTag(st, stCode, wireVarint)
		st = binary.AppendUvarint(st, statusError)
		b = appendMessage(b, spStatus, st)
	}
	b = appendTag(b, spFlags, wireFixed32)
	return binary.LittleEndian.AppendUint32(b, uint32(s.Flags))
}

func unixNano(n int64) uint64 { return uint64(max(n, 0)) }

// appendAttr appends a KeyValue, its AnyValue written in place (one-byte
// tags, its length computed).
func appendAttr(b []byte, a Attr) []byte {
	b = appendString(b, kvKey, a.Key)
	b = appendTag(b, kvValue, wireBytes)
	if a.IsInt {
		v := uint64(a.Int) // int64: two's complement
		b = binary.AppendUvarint(b, uint64(1+uvarintLen(v)))
		b = appendTag(b, avInt, wireVarint)
		return binary.AppendUvarint(b, v)
	}
	b = binary.AppendUvarint(b, uint64(1+uvarintLen(uint64(len(a.Str)))+len(a.Str)))
	return appendString(b, avString, a.Str)
}

func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

func appendTag(b []byte, field, wire int) []byte {
	return binary.AppendUvarint(b, uint64(field)<<3|uint64(wire))
}

func appendBytes(b []byte, field int, v []byte) []byte {
	b = appendTag(b, field, wireBytes)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendString(b []byte, field int, v string) []byte {
	b = appendTag(b, field, wireBytes)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendMessage(b []byte, field int, msg []byte) []byte { return appendBytes(b, field, msg) }
