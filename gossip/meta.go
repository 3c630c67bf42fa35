package gossip

import (
	cryptorand "crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/hashicorp/memberlist"
)

// Reserved metadata keys. Everything else in a node's metadata is a user
// tag.
const (
	MetaID      = "id"      // node id
	MetaSite    = "site"    // edge location
	MetaRPC     = "rpc"     // host:port of the node's RPC listener
	MetaVersion = "version" // build version
	// MetaBoot is drawn at random each time a node starts, so that news
	// about one run of a node (its leave) is not applied to the next.
	MetaBoot = "boot"
	// MetaFingerprint is the SHA-256 (hex) of the certificate the node
	// presents; the application announces it, and checks peers by it.
	MetaFingerprint = "fp"
)

// IsReserved reports whether key is one of the reserved metadata keys
// above, rather than a user tag.
func IsReserved(key string) bool {
	switch key {
	case MetaID, MetaSite, MetaRPC, MetaVersion, MetaBoot, MetaFingerprint:
		return true
	}
	return false
}

const metaFormat byte = 1

// ErrBadMeta reports node metadata that does not decode.
var ErrBadMeta = errors.New("gossip: malformed node metadata")

func (c *Config) meta() map[string]string {
	m := maps.Clone(c.Tags)
	if m == nil {
		m = map[string]string{}
	}
	m[MetaID] = c.NodeID
	m[MetaBoot] = "00000000" // the size of a boot nonce, for Validate; New draws it
	return m
}

// newBoot draws a boot nonce: 8 characters, 48 random bits.
func newBoot() string {
	var b [6]byte
	cryptorand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// encodeMeta encodes metadata as a format byte then, in key order,
// uvarint-length-prefixed key and value pairs.
func encodeMeta(m map[string]string) ([]byte, error) {
	b := []byte{metaFormat}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(m[k])))
		b = append(b, m[k]...)
	}
	if len(b) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("%w: tags encode to %d bytes", ErrMetaTooLarge, len(b))
	}
	return b, nil
}

// decodeMeta decodes metadata received from a peer.
func decodeMeta(b []byte) (map[string]string, error) {
	if len(b) == 0 {
		return map[string]string{}, nil
	}
	if len(b) > memberlist.MetaMaxSize || b[0] != metaFormat {
		return nil, ErrBadMeta
	}
	m := map[string]string{}
	b = b[1:]
	next := func() (string, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return "", false
		}
		s := string(b[k : k+int(n)])
		b = b[k+int(n):]
		return s, true
	}
	for len(b) > 0 {
		k, ok1 := next()
		v, ok2 := next()
		if !ok1 || !ok2 {
			return nil, ErrBadMeta
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("%w: duplicate key %q", ErrBadMeta, k)
		}
		m[k] = v
	}
	return m, nil
}
