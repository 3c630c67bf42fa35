package transport

// Micro-benchmarks of the CBOR work in one call, to tell codec cost from
// network cost when reading BenchmarkUnary.

import (
	"testing"
	"time"
)

func BenchmarkHeaderEncode(b *testing.B) {
	c, _ := newCodec(Limits{})
	h := Header{Method: "bench.Echo", Timeout: 5 * time.Second, HLC: 1234567}
	buf := getBuffer()
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		c.appendFrame(buf, frameHeader, &h, 1<<14)
	}
}

func BenchmarkHeaderDecode(b *testing.B) {
	c, _ := newCodec(Limits{})
	h := Header{Method: "bench.Echo", Timeout: 5 * time.Second, HLC: 1234567}
	buf := getBuffer()
	c.appendFrame(buf, frameHeader, &h, 1<<14)
	p := buf.Bytes()[5:]
	b.ReportAllocs()
	for b.Loop() {
		DecodeHeader(p)
	}
}

func BenchmarkBodyRoundTrip(b *testing.B) {
	c, _ := newCodec(Limits{})
	body := make([]byte, 64)
	buf := getBuffer()
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		c.appendFrame(buf, frameMessage, body, 1<<20)
		var out []byte
		c.dec.Unmarshal(buf.Bytes()[5:], &out)
	}
}
