package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Frame errors. A reader that returns one stops; the stream is then
// answered with a status (server) or failed (client).
var (
	errTruncated   = errors.New("truncated frame")
	errTrailing    = errors.New("unexpected data after the last frame")
	errUnknownKind = errors.New("unknown frame kind")
)

// frameTooLargeError reports a frame whose declared length exceeds the
// limit for its kind; nothing of its payload has been read.
type frameTooLargeError struct {
	kind        byte
	size, limit int
}

func (e *frameTooLargeError) Error() string {
	return fmt.Sprintf("frame %q of %d bytes exceeds the limit of %d", e.kind, e.size, e.limit)
}

// frameReader reads length-prefixed frames from a stream into one growing
// buffer. The payload returned by next stays valid until the following
// call to next.
type frameReader struct {
	r          io.Reader
	buf        []byte
	start, end int
	eof        bool
	limit      func(kind byte) int
	pooled     *[]byte
}

const readChunk = 2048

// fill reads once into the free space after end, making room for at
// least need more bytes first.
func (fr *frameReader) fill(need int) error {
	if fr.eof {
		return io.EOF
	}
	if len(fr.buf)-fr.end < need {
		if fr.start > 0 && len(fr.buf)-(fr.end-fr.start) >= need {
			fr.end = copy(fr.buf, fr.buf[fr.start:fr.end])
			fr.start = 0
		} else {
			grown := make([]byte, max(2*len(fr.buf), fr.end-fr.start+need, readChunk))
			fr.end = copy(grown, fr.buf[fr.start:fr.end])
			fr.start = 0
			fr.buf = grown
		}
	}
	n, err := fr.r.Read(fr.buf[fr.end:])
	fr.end += n
	if err == io.EOF {
		fr.eof = true
		if n > 0 {
			return nil
		}
	}
	return err
}

// next returns the next frame. At a clean end of stream it returns
// io.EOF; an end inside a frame is errTruncated.
func (fr *frameReader) next() (kind byte, payload []byte, err error) {
	for fr.end-fr.start < framePrefix {
		if err := fr.fill(framePrefix); err != nil {
			if err == io.EOF && fr.end > fr.start {
				return 0, nil, errTruncated
			}
			return 0, nil, err
		}
	}
	hdr := fr.buf[fr.start : fr.start+framePrefix]
	kind = hdr[0]
	if kind != frameHeader && kind != frameMessage && kind != frameStatus {
		return 0, nil, fmt.Errorf("%w %#x", errUnknownKind, kind)
	}
	size := int(binary.BigEndian.Uint32(hdr[1:]))
	if lim := fr.limit(kind); size > lim || size < 0 {
		return kind, nil, &frameTooLargeError{kind: kind, size: size, limit: lim}
	}
	for fr.end-fr.start < framePrefix+size {
		if err := fr.fill(framePrefix + size - (fr.end - fr.start)); err != nil {
			if err == io.EOF {
				return kind, nil, errTruncated
			}
			return kind, nil, err
		}
	}
	payload = fr.buf[fr.start+framePrefix : fr.start+framePrefix+size]
	fr.start += framePrefix + size
	return kind, payload, nil
}

// expectEOF checks that the stream ends after the frames read so far,
// without disturbing the last payload returned by next.
func (fr *frameReader) expectEOF() error {
	if fr.end > fr.start {
		return errTrailing
	}
	for !fr.eof {
		var scratch [8]byte
		n, err := fr.r.Read(scratch[:])
		if n > 0 {
			return errTrailing
		}
		if err == io.EOF {
			fr.eof = true
		} else if err != nil {
			return err
		}
	}
	return nil
}

// readBufSize is the size of a pooled read buffer: a unary request or
// response of usual size arrives in one read.
const readBufSize = 4096

var readBufPool = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

func newFrameReader(r io.Reader, limit func(kind byte) int) frameReader {
	bp := readBufPool.Get().(*[]byte)
	return frameReader{r: r, buf: *bp, pooled: bp, limit: limit}
}

// release returns the pooled read buffer; payloads die with it.
func (fr *frameReader) release() {
	if fr.pooled != nil {
		readBufPool.Put(fr.pooled)
	}
	fr.buf, fr.pooled = nil, nil
}
