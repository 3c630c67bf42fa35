package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
)

// Limits bound what a peer may send. Every decoder of bytes from the
// network applies them before allocating.
type Limits struct {
	// MaxMessageSize bounds one CBOR message (a request or a streamed or
	// unary response). Default 4 MiB.
	MaxMessageSize int
	// MaxHeaderSize bounds a call header and a status. Default 16 KiB.
	MaxHeaderSize int
	// MaxNestedLevels bounds the nesting depth of a message. Default 16.
	MaxNestedLevels int
	// MaxArrayElements bounds the length of any array in a message.
	// Default 65536.
	MaxArrayElements int
	// MaxMapPairs bounds the size of any map in a message. Default 65536.
	MaxMapPairs int
}

// Default limits.
const (
	DefaultMaxMessageSize   = 4 << 20
	DefaultMaxHeaderSize    = 16 << 10
	DefaultMaxNestedLevels  = 16
	DefaultMaxArrayElements = 65536
	DefaultMaxMapPairs      = 65536

	// headerMaxMapPairs bounds the header's metadata map.
	headerMaxMapPairs = 64
)

func (l Limits) withDefaults() Limits {
	if l.MaxMessageSize == 0 {
		l.MaxMessageSize = DefaultMaxMessageSize
	}
	if l.MaxHeaderSize == 0 {
		l.MaxHeaderSize = DefaultMaxHeaderSize
	}
	if l.MaxNestedLevels == 0 {
		l.MaxNestedLevels = DefaultMaxNestedLevels
	}
	if l.MaxArrayElements == 0 {
		l.MaxArrayElements = DefaultMaxArrayElements
	}
	if l.MaxMapPairs == 0 {
		l.MaxMapPairs = DefaultMaxMapPairs
	}
	return l
}

func (l Limits) validate(prefix string) []error {
	var errs []error
	check := func(name string, v, lo, hi int) {
		if v != 0 && (v < lo || v > hi) {
			errs = append(errs, fmt.Errorf("%sLimits.%s: must be between %d and %d, got %d", prefix, name, lo, hi, v))
		}
	}
	check("MaxMessageSize", l.MaxMessageSize, 64, maxFrameLen)
	check("MaxHeaderSize", l.MaxHeaderSize, 256, 1<<20)
	check("MaxNestedLevels", l.MaxNestedLevels, 4, 1024)
	check("MaxArrayElements", l.MaxArrayElements, 16, 1<<28)
	check("MaxMapPairs", l.MaxMapPairs, 16, 1<<28)
	return errs
}

// Header opens every call. It is sent as CBOR with integer keys.
type Header struct {
	// Method names the handler, e.g. "kv.Get".
	Method string `cbor:"1,keyasint"`
	// Timeout is the time the caller has left, measured when it sent the
	// call; zero means no deadline. A remaining duration, not an absolute
	// deadline, because clocks on edge devices disagree.
	Timeout time.Duration `cbor:"2,keyasint,omitempty"`
	// Metadata carries small string pairs for interceptors.
	Metadata map[string]string `cbor:"3,keyasint,omitempty"`
	// Traceparent is the W3C trace context of the caller's span.
	Traceparent string `cbor:"4,keyasint,omitempty"`
	// HLC is the caller's hybrid logical clock reading; opaque to the
	// transport.
	HLC uint64 `cbor:"5,keyasint,omitempty"`
}

// statusWire is a status frame's payload. An OK status without a clock
// reading is sent as an empty payload.
type statusWire struct {
	Code        Code   `cbor:"1,keyasint,omitempty"`
	Message     string `cbor:"2,keyasint,omitempty"`
	Unprocessed bool   `cbor:"3,keyasint,omitempty"`
	HLC         uint64 `cbor:"4,keyasint,omitempty"`
}

// codec holds the CBOR modes built from Limits.
type codec struct {
	limits Limits
	enc    cbor.UserBufferEncMode
	dec    cbor.DecMode // messages
	hdrDec cbor.DecMode // headers and statuses: tighter
}

func newCodec(l Limits) (*codec, error) {
	l = l.withDefaults()
	enc, err := cbor.EncOptions{}.UserBufferEncMode()
	if err != nil {
		return nil, err
	}
	dec, err := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  l.MaxNestedLevels,
		MaxArrayElements: l.MaxArrayElements,
		MaxMapPairs:      l.MaxMapPairs,
		IndefLength:      cbor.IndefLengthForbidden,
	}.DecMode()
	if err != nil {
		return nil, err
	}
	return &codec{limits: l, enc: enc, dec: dec, hdrDec: headerDecMode}, nil
}

var headerDecMode = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  4,
		MaxArrayElements: 16,
		MaxMapPairs:      headerMaxMapPairs,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}()

// DecodeHeader decodes a header frame's payload with the header limits.
func DecodeHeader(p []byte) (Header, error) {
	var h Header
	err := decodeHeaderInto(p, &h)
	return h, err
}

func decodeHeaderInto(p []byte, h *Header) error {
	if err := headerDecMode.Unmarshal(p, h); err != nil {
		*h = Header{}
		return fmt.Errorf("malformed header: %w", err)
	}
	if h.Method == "" {
		return errors.New("malformed header: no method")
	}
	if h.Timeout < 0 {
		return errors.New("malformed header: negative timeout")
	}
	return nil
}

func decodeStatus(p []byte) (statusWire, error) {
	if len(p) == 0 {
		return statusWire{}, nil
	}
	s := new(statusWire)
	if err := headerDecMode.Unmarshal(p, s); err != nil {
		return statusWire{}, fmt.Errorf("malformed status: %w", err)
	}
	return *s, nil
}

// Frames: kind (1 byte), payload length (4 bytes, big endian), payload.
const (
	frameHeader  byte = 'H'
	frameMessage byte = 'M'
	frameStatus  byte = 'S'

	framePrefix = 5
	maxFrameLen = 1<<31 - 1
)

var bufPool = sync.Pool{New: func() any { return bytes.NewBuffer(make([]byte, 0, 1024)) }}

// maxPooled keeps buffers grown by rare large messages out of the pool.
const maxPooled = 64 << 10

func getBuffer() *bytes.Buffer { return bufPool.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() > maxPooled {
		return
	}
	b.Reset()
	bufPool.Put(b)
}

// appendFrame encodes v as one CBOR item into a frame of the given kind at
// the end of buf, and fails with ResourceExhausted if it exceeds limit.
func (c *codec) appendFrame(buf *bytes.Buffer, kind byte, v any, limit int) error {
	start := buf.Len()
	var prefix [framePrefix]byte
	prefix[0] = kind
	buf.Write(prefix[:])
	if err := c.enc.MarshalToBuffer(v, buf); err != nil {
		buf.Truncate(start)
		return &Error{Code: Internal, Message: "encode: " + err.Error(), cause: err}
	}
	n := buf.Len() - start - framePrefix
	if n > limit {
		buf.Truncate(start)
		return &Error{Code: ResourceExhausted, Message: fmt.Sprintf("message of %d bytes exceeds the limit of %d", n, limit)}
	}
	binary.BigEndian.PutUint32(buf.Bytes()[start+1:], uint32(n))
	return nil
}

// appendStatus appends a status frame. It writes the CBOR by hand: a map
// of the non-zero fields under their integer keys, exactly as the
// encoder would for statusWire, without an allocation per call.
func (c *codec) appendStatus(buf *bytes.Buffer, s statusWire) {
	s.Message = cleanMessage(s.Message, c.limits.MaxHeaderSize/2)
	start := buf.Len()
	var prefix [framePrefix]byte
	prefix[0] = frameStatus
	buf.Write(prefix[:])
	if s == (statusWire{}) {
		return
	}
	n := 0
	for _, set := range []bool{s.Code != 0, s.Message != "", s.Unprocessed, s.HLC != 0} {
		if set {
			n++
		}
	}
	b := buf.AvailableBuffer()
	b = appendCBORHead(b, 5, uint64(n)) // map
	if s.Code != 0 {
		b = appendCBORHead(b, 0, 1)
		b = appendCBORHead(b, 0, uint64(s.Code))
	}
	if s.Message != "" {
		b = appendCBORHead(b, 0, 2)
		b = appendCBORHead(b, 3, uint64(len(s.Message))) // text string
		b = append(b, s.Message...)
	}
	if s.Unprocessed {
		b = appendCBORHead(b, 0, 3)
		b = append(b, 0xf5) // true
	}
	if s.HLC != 0 {
		b = appendCBORHead(b, 0, 4)
		b = appendCBORHead(b, 0, s.HLC)
	}
	buf.Write(b)
	binary.BigEndian.PutUint32(buf.Bytes()[start+1:], uint32(buf.Len()-start-framePrefix))
}

// cleanMessage makes a status message valid UTF-8 (CBOR text must be) and
// cuts it to at most limit bytes on a character boundary.
func cleanMessage(m string, limit int) string {
	if !utf8.ValidString(m) {
		m = strings.ToValidUTF8(m, "\uFFFD")
	}
	if len(m) <= limit {
		return m
	}
	i := limit
	for i > 0 && !utf8.RuneStart(m[i]) {
		i--
	}
	return m[:i]
}

// appendCBORHead appends the head of a CBOR data item: major type and
// argument, in the shortest form.
func appendCBORHead(b []byte, major byte, v uint64) []byte {
	m := major << 5
	switch {
	case v < 24:
		return append(b, m|byte(v))
	case v <= 0xff:
		return append(b, m|24, byte(v))
	case v <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, m|25), uint16(v))
	case v <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(b, m|26), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, m|27), v)
}

// limitFor returns the largest payload accepted for a frame kind.
func (c *codec) limitFor(kind byte) int {
	if kind == frameMessage {
		return c.limits.MaxMessageSize
	}
	return c.limits.MaxHeaderSize
}
