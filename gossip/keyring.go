package gossip

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/memberlist"
)

// Keyring operations.
const (
	KeyringList    = "list"
	KeyringInstall = "install"
	KeyringUse     = "use"
	KeyringRemove  = "remove"
)

// Errors of keyring operations.
var (
	ErrNoEncryption  = errors.New("gossip encryption is not enabled on this node")
	ErrRemovePrimary = errors.New("the key in use cannot be removed: use another key first")
)

// GenerateKey returns a new random 32-byte gossip key, base64-encoded.
func GenerateKey() string {
	k := make([]byte, 32)
	_, _ = rand.Read(k) // crypto/rand.Read never fails on Linux
	return base64.StdEncoding.EncodeToString(k)
}

// DecodeKey decodes and checks a base64 gossip key.
func DecodeKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("gossip key is not base64: %w", err)
	}
	if err := memberlist.ValidateKey(k); err != nil {
		return nil, fmt.Errorf("gossip key: %w", err)
	}
	return k, nil
}

// keyringFile is the keyring as saved in the data dir: base64 keys, the
// one in use first.
type keyringFile struct {
	Keys []string `json:"keys"`
}

// LoadKeyring reads a keyring saved by a mesh. It returns (nil, nil) when
// the file does not exist.
func LoadKeyring(path string) (*memberlist.Keyring, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var f keyringFile
	if err := json.Unmarshal(b, &f); err != nil || len(f.Keys) == 0 {
		return nil, fmt.Errorf("keyring %s: malformed (%v)", path, err)
	}
	keys := make([][]byte, len(f.Keys))
	for i, s := range f.Keys {
		if keys[i], err = DecodeKey(s); err != nil {
			return nil, fmt.Errorf("keyring %s: key %d: %w", path, i, err)
		}
	}
	return memberlist.NewKeyring(keys, keys[0])
}

// SaveKeyring writes kr to path atomically.
func SaveKeyring(path string, kr *memberlist.Keyring) error {
	primary := kr.GetPrimaryKey()
	f := keyringFile{Keys: []string{base64.StdEncoding.EncodeToString(primary)}}
	for _, k := range kr.GetKeys() {
		if !bytes.Equal(k, primary) {
			f.Keys = append(f.Keys, base64.StdEncoding.EncodeToString(k))
		}
	}
	b, _ := json.Marshal(f)
	return writeFileAtomic(path, b)
}

func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

type keyringRequest struct {
	ID   uint64
	From string
	Op   string
	Key  string
}

// KeyringReply is one node's answer to a keyring operation.
type KeyringReply struct {
	ID      uint64 `json:",omitempty"`
	Node    string
	Error   string   `json:",omitempty"`
	Keys    []string `json:",omitempty"` // installed keys, base64
	Primary string   `json:",omitempty"` // the key in use
}

// KeyringOp runs a keyring operation (KeyringList, KeyringInstall,
// KeyringUse or KeyringRemove) on every live member, this node included,
// and returns one reply per member that answered before ctx ended. It
// fails before sending anything when this node does not encrypt gossip, or
// when asked to remove the key this node uses.
func (m *Mesh) KeyringOp(ctx context.Context, op, key string) ([]KeyringReply, error) {
	kr := m.cfg.Keyring
	if kr == nil {
		return nil, ErrNoEncryption
	}
	switch op {
	case KeyringList:
	case KeyringInstall, KeyringUse, KeyringRemove:
		k, err := DecodeKey(key)
		if err != nil {
			return nil, err
		}
		if op == KeyringRemove && bytes.Equal(k, kr.GetPrimaryKey()) {
			return nil, ErrRemovePrimary
		}
	default:
		return nil, fmt.Errorf("unknown keyring operation %q", op)
	}
	req := keyringRequest{ID: m.queries.nextID(), From: m.cfg.NodeName, Op: op, Key: key}
	q := m.queries.open(req.ID)
	defer m.queries.close(req.ID)

	replies := []KeyringReply{m.applyKeyring(req)}
	expect := 0
	msg := encodeControl(msgKeyringReq, req)
	for _, n := range m.peerNodes() {
		expect++
		if err := m.ml.Load().SendReliable(n, msg); err != nil {
			replies = append(replies, KeyringReply{Node: n.Name, Error: "unreachable: " + err.Error()})
			expect--
		}
	}
	for expect > 0 {
		select {
		case rep := <-q:
			replies = append(replies, rep)
			expect--
		case <-ctx.Done():
			return replies, nil
		}
	}
	slices.SortFunc(replies, func(a, b KeyringReply) int { return cmp.Compare(a.Node, b.Node) })
	return replies, nil
}

// answerKeyring applies a request from another node and replies to it.
func (m *Mesh) answerKeyring(req keyringRequest) {
	rep := m.applyKeyring(req)
	for _, n := range m.peerNodes() {
		if n.Name == req.From {
			if err := m.ml.Load().SendReliable(n, encodeControl(msgKeyringReply, rep)); err != nil {
				m.log.Warn("could not answer a keyring request", "from", req.From, "err", err)
			}
			return
		}
	}
}

// applyKeyring applies one operation to this node's keyring and saves it.
func (m *Mesh) applyKeyring(req keyringRequest) KeyringReply {
	rep := KeyringReply{ID: req.ID, Node: m.cfg.NodeName}
	kr := m.cfg.Keyring
	if kr == nil {
		rep.Error = ErrNoEncryption.Error()
		return rep
	}
	var err error
	if req.Op != KeyringList {
		var k []byte
		if k, err = DecodeKey(req.Key); err == nil {
			switch req.Op {
			case KeyringInstall:
				err = kr.AddKey(k)
			case KeyringUse:
				err = kr.UseKey(k)
			case KeyringRemove:
				if bytes.Equal(k, kr.GetPrimaryKey()) {
					err = ErrRemovePrimary
				} else {
					err = kr.RemoveKey(k)
				}
			default:
				err = fmt.Errorf("unknown keyring operation %q", req.Op)
			}
		}
		if err == nil && m.cfg.KeyringFile != "" {
			err = SaveKeyring(m.cfg.KeyringFile, kr)
		}
		if err == nil {
			m.log.Info("keyring changed", "op", req.Op, "by", req.From)
		}
	}
	if err != nil {
		rep.Error = err.Error()
	}
	rep.Primary = base64.StdEncoding.EncodeToString(kr.GetPrimaryKey())
	for _, k := range kr.GetKeys() {
		rep.Keys = append(rep.Keys, base64.StdEncoding.EncodeToString(k))
	}
	slices.Sort(rep.Keys)
	return rep
}

// queries tracks keyring operations waiting for replies.
type queries struct {
	last    atomic.Uint64
	mu      sync.Mutex
	waiting map[uint64]chan KeyringReply
}

func (q *queries) nextID() uint64 { return q.last.Add(1) }

func (q *queries) open(id uint64) <-chan KeyringReply {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.waiting == nil {
		q.waiting = map[uint64]chan KeyringReply{}
	}
	c := make(chan KeyringReply, 64)
	q.waiting[id] = c
	return c
}

func (q *queries) close(id uint64) {
	q.mu.Lock()
	delete(q.waiting, id)
	q.mu.Unlock()
}

// deliver hands a reply to its waiting operation; late or unknown replies
// are dropped.
func (q *queries) deliver(rep KeyringReply) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if c, ok := q.waiting[rep.ID]; ok {
		select {
		case c <- rep:
		default:
		}
	}
}

func (q *queries) closeAll() {
	q.mu.Lock()
	q.waiting = nil
	q.mu.Unlock()
}
