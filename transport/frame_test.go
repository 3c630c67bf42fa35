package transport

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/quic-go/quic-go"
)

func frame(kind byte, payload []byte) []byte {
	b := []byte{kind, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(len(payload)))
	return append(b, payload...)
}

func mustCBOR(t testing.TB, v any) []byte {
	t.Helper()
	b, err := cbor.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readerLimits(kind byte) int {
	if kind == frameMessage {
		return 64
	}
	return 32
}

func TestFrameReader(t *testing.T) {
	hdr, msg, st := frame(frameHeader, []byte("hh")), frame(frameMessage, bytes.Repeat([]byte{'m'}, 64)), frame(frameStatus, nil)
	tests := []struct {
		name    string
		input   []byte
		kinds   string // frames expected before the error
		wantErr error
	}{
		{"three frames then EOF", bytes.Join([][]byte{hdr, msg, st}, nil), "HMS", io.EOF},
		{"empty stream", nil, "", io.EOF},
		{"truncated prefix", hdr[:3], "", errTruncated},
		{"truncated payload", msg[:20], "", errTruncated},
		{"unknown kind", frame('X', nil), "", errUnknownKind},
		{"message over the limit", frame(frameMessage, make([]byte, 65)), "", &frameTooLargeError{}},
		{"header over the limit", frame(frameHeader, make([]byte, 33)), "", &frameTooLargeError{}},
		{"declared length huge", []byte{frameMessage, 0xff, 0xff, 0xff, 0xff}, "", &frameTooLargeError{}},
	}
	readers := map[string]func([]byte) io.Reader{
		"whole":    func(b []byte) io.Reader { return bytes.NewReader(b) },
		"bytewise": func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) },
		"eof-data": func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) },
	}
	for _, tt := range tests {
		for rname, mk := range readers {
			t.Run(tt.name+"/"+rname, func(t *testing.T) {
				fr := newFrameReader(mk(tt.input), readerLimits)
				defer fr.release()
				var kinds []byte
				for {
					kind, _, err := fr.next()
					if err != nil {
						var tl *frameTooLargeError
						if errors.As(tt.wantErr, &tl) {
							if !errors.As(err, &tl) {
								t.Fatalf("got %v, want frame too large", err)
							}
						} else if !errors.Is(err, tt.wantErr) {
							t.Fatalf("got %v, want %v", err, tt.wantErr)
						}
						break
					}
					kinds = append(kinds, kind)
				}
				if string(kinds) != tt.kinds {
					t.Fatalf("frames %q, want %q", kinds, tt.kinds)
				}
			})
		}
	}
}

func TestFrameReaderGrowsForLargeFrames(t *testing.T) {
	big := bytes.Repeat([]byte{7}, 3*readBufSize)
	in := append(frame(frameMessage, big), frame(frameStatus, nil)...)
	fr := newFrameReader(iotest.HalfReader(bytes.NewReader(in)), func(byte) int { return 1 << 20 })
	defer fr.release()
	kind, p, err := fr.next()
	if err != nil || kind != frameMessage || !bytes.Equal(p, big) {
		t.Fatalf("big frame: kind %q, %d bytes, %v", kind, len(p), err)
	}
	if kind, _, err := fr.next(); err != nil || kind != frameStatus {
		t.Fatalf("status after big frame: %q %v", kind, err)
	}
	if err := fr.expectEOF(); err != nil {
		t.Fatal(err)
	}
}

func TestExpectEOFKeepsPayload(t *testing.T) {
	in := append(frame(frameMessage, []byte("body")), 'x')
	fr := newFrameReader(iotest.OneByteReader(bytes.NewReader(in)), readerLimits)
	defer fr.release()
	_, p, err := fr.next()
	if err != nil {
		t.Fatal(err)
	}
	if err := fr.expectEOF(); !errors.Is(err, errTrailing) {
		t.Fatalf("trailing byte: %v", err)
	}
	if string(p) != "body" {
		t.Fatalf("payload clobbered: %q", p)
	}
}

func TestCleanMessage(t *testing.T) {
	tests := []struct {
		in    string
		limit int
		want  string
	}{
		{"short", 10, "short"},
		{"abcdef", 3, "abc"},
		{"ééé", 3, "é"}, // 'é' is two bytes: never cut inside one
		{"a\xffb", 10, "a\uFFFDb"},
	}
	for _, tt := range tests {
		if got := cleanMessage(tt.in, tt.limit); got != tt.want {
			t.Errorf("cleanMessage(%q, %d) = %q, want %q", tt.in, tt.limit, got, tt.want)
		}
	}
}

func TestStatusEncodingMatchesCBOR(t *testing.T) {
	c, _ := newCodec(Limits{})
	for _, s := range []statusWire{
		{},
		{Code: NotFound},
		{Code: Unavailable, Message: "server shutting down", Unprocessed: true},
		{HLC: 1<<63 + 5},
		{Code: Internal, Message: string(bytes.Repeat([]byte("é"), 300)), HLC: 70000},
		{Code: DeadlineExceeded, HLC: 23},
		{Code: Unauthenticated, HLC: 1 << 20},
	} {
		s.Message = cleanMessage(s.Message, c.limits.MaxHeaderSize/2)
		buf := getBuffer()
		c.appendStatus(buf, s)
		p := buf.Bytes()[framePrefix:]
		if got := int(binary.BigEndian.Uint32(buf.Bytes()[1:5])); got != len(p) {
			t.Fatalf("%+v: length prefix %d, payload %d", s, got, len(p))
		}
		if s != (statusWire{}) {
			if want := mustCBOR(t, &s); !bytes.Equal(p, want) {
				t.Fatalf("%+v: encoded %x, want %x", s, p, want)
			}
		}
		got, err := decodeStatus(p)
		if err != nil || got != s {
			t.Fatalf("%+v: decoded %+v, %v", s, got, err)
		}
		putBuffer(buf)
	}
}

// rawStream opens a stream on a raw connection to srv, authenticated as a
// member, so a test can write bytes no Client would.
func rawConn(t *testing.T, srv *testServer) *quic.Conn {
	t.Helper()
	conn, err := quic.DialAddr(ctxTimeout(t, 5*time.Second), srv.Addr().String(),
		clientTLS(fleetTLS(t, "client"), "server"), quicConfig(-1, time.Second, 10*time.Second, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseWithError(0, "") })
	return conn
}

// rawCall writes b on a new stream (then FIN unless open) and returns the
// status the server answered.
func rawCall(t *testing.T, conn *quic.Conn, b []byte, open bool) statusWire {
	t.Helper()
	st, err := conn.OpenStreamSync(ctxTimeout(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	st.SetDeadline(time.Now().Add(5 * time.Second))
	st.Write(b)
	if !open {
		st.Close()
	}
	fr := newFrameReader(st, func(byte) int { return 1 << 20 })
	defer fr.release()
	for {
		kind, p, err := fr.next()
		if err != nil {
			t.Fatalf("reading the answer: %v", err)
		}
		if kind == frameStatus {
			s, err := decodeStatus(p)
			if err != nil {
				t.Fatal(err)
			}
			st.CancelWrite(0)
			return s
		}
	}
}

func TestMalformedFramesGetErrorsAndServerKeepsServing(t *testing.T) {
	srv := startServer(t, ServerConfig{Limits: Limits{MaxMessageSize: 1024}, RequestReadTimeout: 500 * time.Millisecond})
	conn := rawConn(t, srv)
	good := mustCBOR(t, &Header{Method: "echo"})
	body := mustCBOR(t, &Msg{Text: "x"})
	dupKeys := []byte{0xa2, 0x01, 0x64, 'e', 'c', 'h', 'o', 0x01, 0x64, 'e', 'c', 'h', 'o'} // {1:"echo", 1:"echo"}
	deep := bytes.Repeat([]byte{0x81}, 40)                                                  // 40 nested arrays
	tests := []struct {
		name  string
		input []byte
		open  bool // leave the stream open (no FIN)
		want  Code
	}{
		{"garbage", []byte("GET / HTTP/1.1\r\n\r\n"), false, InvalidArgument},
		{"truncated frame", frame(frameHeader, good)[:6], false, InvalidArgument},
		{"header frame over the limit", frame(frameHeader, make([]byte, DefaultMaxHeaderSize+1)), false, ResourceExhausted},
		{"message over the limit", append(frame(frameHeader, good), frame(frameMessage, make([]byte, 1025))...), false, ResourceExhausted},
		{"declared 2 GiB, never sent", []byte{frameHeader, 0x7f, 0xff, 0xff, 0xff}, true, ResourceExhausted},
		{"header not CBOR", append(frame(frameHeader, []byte{0xff, 0x00}), frame(frameMessage, body)...), false, InvalidArgument},
		{"header with duplicate keys", append(frame(frameHeader, dupKeys), frame(frameMessage, body)...), false, InvalidArgument},
		{"header without method", append(frame(frameHeader, mustCBOR(t, map[int]int{2: 5})), frame(frameMessage, body)...), false, InvalidArgument},
		{"message first", frame(frameMessage, body), false, InvalidArgument},
		{"no message", frame(frameHeader, good), false, InvalidArgument},
		{"two messages", append(frame(frameHeader, good), append(frame(frameMessage, body), frame(frameMessage, body)...)...), false, InvalidArgument},
		{"message not CBOR", append(frame(frameHeader, good), frame(frameMessage, []byte{0x1f})...), false, InvalidArgument},
		{"message nested too deep", append(frame(frameHeader, good), frame(frameMessage, deep)...), false, InvalidArgument},
		{"request never finished", frame(frameHeader, good), true, DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := rawCall(t, conn, tt.input, tt.open)
			if s.Code != tt.want || s.Message == "" {
				t.Fatalf("status %+v, want %s with a message", s, tt.want)
			}
			// The same connection still serves a well-formed call.
			ok := rawCall(t, conn, append(frame(frameHeader, good), frame(frameMessage, body)...), false)
			if ok.Code != OK {
				t.Fatalf("well-formed call after %q: %+v", tt.name, ok)
			}
		})
	}
	// And so does the server, to a regular client.
	c := newClient(t, ClientConfig{})
	if err := c.Call(context.Background(), srv.peer("server"), "echo", &Msg{}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestMessageLimitsOnTheClient(t *testing.T) {
	srv := startServer(t, ServerConfig{})
	c := newClient(t, ClientConfig{Limits: Limits{MaxMessageSize: 100}})
	ctx := ctxTimeout(t, 5*time.Second)
	// Too large to send: refused before anything goes out.
	wantCode(t, c.Call(ctx, srv.peer("server"), "echo", &Msg{Text: string(make([]byte, 200))}, nil), ResourceExhausted)
	// A reply larger than the client accepts.
	wantCode(t, c.Call(ctx, srv.peer("server"), "big", &Msg{N: 200}, nil), ResourceExhausted)
	// Both sides still work.
	var got Msg
	if err := c.Call(ctx, srv.peer("server"), "big", &Msg{N: 10}, &got); err != nil || len(got.Text) != 10 {
		t.Fatalf("small reply: %v %+v", err, got)
	}
}
