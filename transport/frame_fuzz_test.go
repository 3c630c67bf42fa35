package transport

import (
	"bytes"
	"io"
	"maps"
	"testing"
	"time"
)

// halves yields its input in two reads, split where the fuzzer says, so
// frames straddle reads the way they do on a stream.
type halves struct {
	parts [2][]byte
	i     int
}

func (h *halves) Read(p []byte) (int, error) {
	for h.i < 2 && len(h.parts[h.i]) == 0 {
		h.i++
	}
	if h.i == 2 {
		return 0, io.EOF
	}
	n := copy(p, h.parts[h.i])
	h.parts[h.i] = h.parts[h.i][n:]
	return n, nil
}

func FuzzFrameReader(f *testing.F) {
	hdr := frame(frameHeader, mustCBOR(f, &Header{Method: "kv.Get", Timeout: time.Second, Metadata: map[string]string{"a": "b"}, HLC: 9}))
	msg := frame(frameMessage, mustCBOR(f, &Msg{Text: "x", N: 3}))
	f.Add(bytes.Join([][]byte{hdr, msg}, nil), uint16(3))
	f.Add(bytes.Join([][]byte{msg, frame(frameStatus, nil)}, nil), uint16(0))
	f.Add(frame(frameStatus, []byte{0xa2, 0x01, 0x05, 0x02, 0x61, 'x'}), uint16(7))
	f.Add([]byte{frameMessage, 0xff, 0xff, 0xff, 0xff}, uint16(2))
	f.Add([]byte{'Z', 0, 0, 0, 1, 0}, uint16(1))
	c, _ := newCodec(Limits{MaxMessageSize: 4096, MaxHeaderSize: 1024})
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		cut := int(split) % (len(data) + 1)
		fr := newFrameReader(&halves{parts: [2][]byte{data[:cut], data[cut:]}}, c.limitFor)
		defer fr.release()
		consumed := 0
		for {
			kind, p, err := fr.next()
			if err != nil {
				if err == io.EOF && consumed != len(data) {
					t.Fatalf("clean EOF after %d of %d bytes", consumed, len(data))
				}
				return
			}
			if len(p) > c.limitFor(kind) {
				t.Fatalf("frame %q of %d bytes passed the limit", kind, len(p))
			}
			consumed += framePrefix + len(p)
			switch kind {
			case frameHeader:
				DecodeHeader(p)
			case frameStatus:
				decodeStatus(p)
			case frameMessage:
				var v any
				c.dec.Unmarshal(p, &v)
			}
		}
	})
}

func FuzzDecodeHeader(f *testing.F) {
	for _, h := range []Header{
		{Method: "m"},
		{Method: "replica.Sync", Timeout: 1500 * time.Millisecond, HLC: 1 << 40},
		{Method: "kv.Put", Metadata: map[string]string{"x-request": "1", "b": ""}, Traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
	} {
		f.Add(mustCBOR(f, &h))
	}
	f.Add([]byte{0xa1, 0x01, 0x60})                       // empty method
	f.Add([]byte{0xa2, 0x01, 0x61, 'm', 0x01, 0x61, 'm'}) // duplicate key
	f.Add([]byte{0xbf, 0x01, 0x61, 'm', 0xff})            // indefinite length
	f.Fuzz(func(t *testing.T, p []byte) {
		h, err := DecodeHeader(p)
		if err != nil {
			return
		}
		if h.Method == "" || h.Timeout < 0 || len(h.Metadata) > headerMaxMapPairs {
			t.Fatalf("accepted invalid header %+v", h)
		}
		// What was accepted survives a round trip.
		again, err := DecodeHeader(mustCBOR(t, &h))
		if err != nil {
			t.Fatalf("re-encoded header rejected: %v", err)
		}
		if len(h.Metadata) == 0 {
			h.Metadata = nil
		}
		if again.Method != h.Method || again.Timeout != h.Timeout || again.HLC != h.HLC ||
			again.Traceparent != h.Traceparent || !maps.Equal(again.Metadata, h.Metadata) {
			t.Fatalf("round trip changed %+v into %+v", h, again)
		}
	})
}

func FuzzDecodeStatus(f *testing.F) {
	c, _ := newCodec(Limits{})
	for _, s := range []statusWire{{Code: NotFound, Message: "k"}, {Code: Unavailable, Unprocessed: true}, {HLC: 77}} {
		buf := getBuffer()
		c.appendStatus(buf, s)
		f.Add(append([]byte(nil), buf.Bytes()[framePrefix:]...))
		putBuffer(buf)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		s, err := decodeStatus(p)
		if err != nil {
			return
		}
		buf := getBuffer()
		defer putBuffer(buf)
		c.appendStatus(buf, s)
		again, err := decodeStatus(buf.Bytes()[framePrefix:])
		if err != nil || again != s {
			t.Fatalf("round trip of %+v: %+v, %v", s, again, err)
		}
	})
}
