package store

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	bolt "go.etcd.io/bbolt"
)

// A snapshot stream is a header, one frame per record, and an end frame:
//
//	"EPSNAP" 0x00 0x02
//	frame: uvarint(len(payload)) payload crc32c(payload)  (4 bytes, big endian)
//	payload: uvarint(len(table)) table uvarint(len(key)) key, then the
//	         record as in the store file (table: "" for kv)
//	end:   uvarint(0) uvarint(record count) crc32c(count bytes)
//
// Every frame carries its own checksum, so a reader never applies a record
// it has not verified, and a cut stream is detected. Version 1 ("EPSNAP"
// 0x00 0x01), written before tables existed, has no table in its payload:
// every record is a kv record. Readers take both.
var (
	snapshotMagic   = []byte("EPSNAP\x00\x02")
	snapshotMagicV1 = []byte("EPSNAP\x00\x01")
)

var (
	// ErrSnapshotFormat reports a stream that is not an edgeplane snapshot.
	ErrSnapshotFormat = errors.New("store: not a snapshot stream")
	// ErrSnapshotTruncated reports a stream that ends before its end frame.
	ErrSnapshotTruncated = errors.New("store: snapshot stream truncated")
)

// errEnd marks a verified end frame.
var errEnd = errors.New("end of snapshot")

const maxFrame = maxTableLen + MaxKeyLen + MaxValueLen + maxOriginLen + 64

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SnapshotWriter writes records as a snapshot stream.
type SnapshotWriter struct {
	w     *bufio.Writer
	n     uint64
	frame []byte
	err   error
}

// NewSnapshotWriter writes the stream header to w.
func NewSnapshotWriter(w io.Writer) *SnapshotWriter {
	sw := &SnapshotWriter{w: bufio.NewWriterSize(w, 64<<10)}
	_, sw.err = sw.w.Write(snapshotMagic)
	return sw
}

// Write appends one record.
func (sw *SnapshotWriter) Write(r *Record) error {
	if sw.err != nil {
		return sw.err
	}
	p := binary.AppendUvarint(sw.frame[:0], uint64(len(r.Table)))
	p = append(p, r.Table...)
	p = binary.AppendUvarint(p, uint64(len(r.Key)))
	p = append(p, r.Key...)
	p = appendEntry(p, &Entry{Record: *r})
	sw.frame = p
	sw.writeFrame(p)
	sw.n++
	return sw.err
}

func (sw *SnapshotWriter) writeFrame(p []byte) {
	var hdr [binary.MaxVarintLen64]byte
	if _, sw.err = sw.w.Write(hdr[:binary.PutUvarint(hdr[:], uint64(len(p)))]); sw.err == nil {
		sw.writeFrameBody(p)
	}
}

// Close writes the end frame and flushes. It does not close the
// underlying writer.
func (sw *SnapshotWriter) Close() error {
	if sw.err != nil {
		return sw.err
	}
	sw.err = sw.w.WriteByte(0)
	if sw.err == nil {
		sw.writeFrameBody(binary.AppendUvarint(nil, sw.n))
	}
	if sw.err == nil {
		sw.err = sw.w.Flush()
	}
	return sw.err
}

func (sw *SnapshotWriter) writeFrameBody(p []byte) {
	if _, sw.err = sw.w.Write(p); sw.err == nil {
		_, sw.err = sw.w.Write(binary.BigEndian.AppendUint32(nil, crc32.Checksum(p, castagnoli)))
	}
}

// SnapshotReader decodes a snapshot stream, checking every frame.
type SnapshotReader struct {
	r      *bufio.Reader
	n      uint64
	buf    []byte
	err    error
	init   bool
	tables bool // version 2: frames name their table
}

// NewSnapshotReader reads a stream written by SnapshotWriter.
func NewSnapshotReader(r io.Reader) *SnapshotReader {
	return &SnapshotReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// Next returns the next record, io.EOF after a complete stream's end frame,
// or an error wrapping ErrSnapshotFormat, ErrSnapshotTruncated, ErrCorrupt
// or ErrUnknownTable (a record of a table this binary does not declare).
// Errors stick.
func (sr *SnapshotReader) Next() (Record, error) {
	if sr.err != nil {
		return Record{}, sr.err
	}
	rec, err := sr.next()
	switch {
	case err == errEnd:
		sr.err = io.EOF
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		sr.err = ErrSnapshotTruncated
	default:
		sr.err = err
	}
	return rec, sr.err
}

func (sr *SnapshotReader) next() (Record, error) {
	if !sr.init {
		sr.init = true
		magic := make([]byte, len(snapshotMagic))
		if _, err := io.ReadFull(sr.r, magic); err != nil {
			return Record{}, ErrSnapshotFormat
		}
		switch {
		case bytes.Equal(magic, snapshotMagic):
			sr.tables = true
		case !bytes.Equal(magic, snapshotMagicV1):
			return Record{}, ErrSnapshotFormat
		}
	}
	n, err := binary.ReadUvarint(sr.r)
	if err != nil {
		return Record{}, err
	}
	if n == 0 {
		return Record{}, sr.end()
	}
	if n > maxFrame {
		return Record{}, fmt.Errorf("%w: frame of %d bytes", ErrCorrupt, n)
	}
	if cap(sr.buf) < int(n)+4 {
		sr.buf = make([]byte, int(n)+4)
	}
	p := sr.buf[:n+4]
	if _, err := io.ReadFull(sr.r, p); err != nil {
		return Record{}, err
	}
	if crc32.Checksum(p[:n], castagnoli) != binary.BigEndian.Uint32(p[n:]) {
		return Record{}, fmt.Errorf("%w: frame %d checksum", ErrCorrupt, sr.n+1)
	}
	d := decoder{b: p[:n]}
	var table []byte
	if sr.tables {
		table = d.bytes(maxTableLen)
	}
	key := d.bytes(MaxKeyLen)
	if d.err != nil || len(key) == 0 {
		return Record{}, fmt.Errorf("%w: frame %d key", ErrCorrupt, sr.n+1)
	}
	tb, err := lookupTable(string(table))
	if err != nil {
		return Record{}, fmt.Errorf("frame %d: %w", sr.n+1, err)
	}
	e, err := decodeEntry(string(key), d.b)
	if err != nil {
		return Record{}, err
	}
	e.Table = tb.name
	sr.n++
	return e.Record, nil
}

func (sr *SnapshotReader) end() error {
	var p [binary.MaxVarintLen64 + 4]byte
	count, err := binary.ReadUvarint(sr.r)
	if err != nil {
		return err
	}
	body := binary.AppendUvarint(p[:0], count)
	var sum [4]byte
	if _, err := io.ReadFull(sr.r, sum[:]); err != nil {
		return err
	}
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(sum[:]) || count != sr.n {
		return fmt.Errorf("%w: end frame says %d records, read %d", ErrCorrupt, count, sr.n)
	}
	return errEnd
}

// Snapshot writes every record of every table, tombstones included, to w
// as a snapshot stream, table by table in the order of Tables. It reads in
// chunks, each in a short read transaction of its own, so a slow reader
// never holds one transaction open for the whole stream; writes made
// during the stream may or may not appear in it.
func (s *Store) Snapshot(w io.Writer) (int, error) {
	const chunk = 1000
	sw := NewSnapshotWriter(w)
	n := 0
	for _, tb := range s.tables {
		after := ""
		for {
			batch, err := s.ScanAfter(tb.name, after, chunk)
			if err != nil {
				return n, err
			}
			for i := range batch {
				if err := sw.Write(&batch[i]); err != nil {
					return n, fmt.Errorf("store: snapshot: %w", err)
				}
			}
			n += len(batch)
			if len(batch) < chunk {
				break
			}
			after = batch[len(batch)-1].Key
		}
	}
	if err := sw.Close(); err != nil {
		return n, fmt.Errorf("store: snapshot: %w", err)
	}
	return n, nil
}

// ScanAfter returns up to n records of table, tombstones included, in key
// order starting after the key after ("" starts at the first key), read in
// one short read transaction. Callers page through a table with it (a
// snapshot, a bootstrap stream) without holding a transaction open.
func (s *Store) ScanAfter(table, after string, n int) ([]Record, error) {
	tb, err := lookupTable(table)
	if err != nil {
		return nil, err
	}
	var batch []Record
	err = s.view(func(tx *bolt.Tx) error {
		c := records(tx.Bucket(tb.records))
		k, v := c.First()
		if after != "" {
			k, v = c.Seek([]byte(after))
			if k != nil && string(k) == after {
				k, v = c.Next()
			}
		}
		for ; k != nil && len(batch) < n; k, v = c.Next() {
			e, err := s.orig.decodeEntry(string(k), v)
			if err != nil {
				return err
			}
			e.Table = tb.name
			batch = append(batch, e.Record)
		}
		return nil
	})
	return batch, err
}

// VerifySnapshot reads a whole snapshot stream and checks it as Restore
// would, without a store: the header, every frame's checksum and record,
// the end frame's count, and that nothing follows the end frame. It
// returns the number of records.
func VerifySnapshot(r io.Reader) (int, error) {
	sr := NewSnapshotReader(r)
	n := 0
	for {
		_, err := sr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, err
		}
		n++
	}
	if _, err := sr.r.ReadByte(); err != io.EOF {
		if err == nil {
			err = fmt.Errorf("%w: data after the end frame", ErrCorrupt)
		}
		return n, err
	}
	return n, nil
}
