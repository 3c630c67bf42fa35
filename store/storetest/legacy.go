// Package storetest writes store files as earlier releases did, for tests
// of what a store does with them when it opens.
package storetest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"

	bolt "go.etcd.io/bbolt"

	"github.com/edgeplane/edgeplane/store"
)

// WriteUncheckedRecord writes rec into the closed store file in dir as a
// release that did not check keys for UTF-8 wrote a local write: the
// record under the next local modify index in the kv bucket, its entry in
// the digest index and its hash in its digest bucket, both on disk as that
// release kept them (it created them at its open when the file had none,
// as a file last written by the current store has not). The file must
// have been created by store.Open.
func WriteUncheckedRecord(dir string, rec store.Record) error {
	db, err := bolt.Open(filepath.Join(dir, store.FileName), 0o600, nil)
	if err != nil {
		return err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		kv, meta := tx.Bucket([]byte("kv")), tx.Bucket([]byte("meta"))
		if kv == nil || meta == nil {
			return errors.New("not a store file")
		}
		digest, err := tx.CreateBucketIfNotExists([]byte("digest"))
		if err != nil {
			return err
		}
		index, err := tx.CreateBucketIfNotExists([]byte("index"))
		if err != nil {
			return err
		}
		if kv.Get([]byte(rec.Key)) != nil {
			return fmt.Errorf("key %q exists", rec.Key)
		}
		modify := getUint(meta, "index") + 1
		if err := kv.Put([]byte(rec.Key), entry(&rec, modify)); err != nil {
			return err
		}
		b := store.BucketOf(rec.Key)
		bk := binary.BigEndian.AppendUint16(nil, uint16(b))
		h := store.RecordHash(&rec)
		if err := index.Put(append(bk, rec.Key...), binary.BigEndian.AppendUint64(nil, h)); err != nil {
			return err
		}
		if err := digest.Put(bk, binary.BigEndian.AppendUint64(nil, getUint(digest, string(bk))^h)); err != nil {
			return err
		}
		return meta.Put([]byte("index"), binary.BigEndian.AppendUint64(nil, modify))
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}

// entry encodes a record as the store file holds it (format 1):
//
//	format(1) bits(1) createIndex modifyIndex flags version (uvarints)
//	len(origin) origin len(value) value
func entry(r *store.Record, index uint64) []byte {
	var bits byte
	if r.Deleted {
		bits = 1
	}
	b := []byte{1, bits}
	b = binary.AppendUvarint(b, index)
	b = binary.AppendUvarint(b, index)
	b = binary.AppendUvarint(b, r.Flags)
	b = binary.AppendUvarint(b, uint64(r.Version))
	b = binary.AppendUvarint(b, uint64(len(r.Origin)))
	b = append(b, r.Origin...)
	b = binary.AppendUvarint(b, uint64(len(r.Value)))
	return append(b, r.Value...)
}

func getUint(b *bolt.Bucket, k string) uint64 {
	v := b.Get([]byte(k))
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}
