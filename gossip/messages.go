package gossip

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hashicorp/memberlist"
)

// ErrDuplicateNode reports a node whose name or id is already used by a
// live member.
var ErrDuplicateNode = errors.New("duplicate node identity")

// Message kinds: the first byte of every user message on the gossip
// layer. Control messages carry a small JSON body.
const (
	msgApp          byte = 'a' // application payload, passed to Handlers.OnMessage
	msgLeave        byte = 'l' // a node is leaving, or was forced to
	msgKeyringReq   byte = 'k'
	msgKeyringReply byte = 'r'
)

// maxControlMsg bounds control messages; larger ones are dropped.
const maxControlMsg = 64 << 10

// leaveMsg announces that a node is leaving. Boot is the boot nonce
// (MetaBoot) of the run that leaves; empty from nodes that predate it.
type leaveMsg struct {
	Node string
	Boot string `json:",omitempty"`
}

// decodeControl decodes a control message body into v, strictly.
func decodeControl(b []byte, v any) error {
	if len(b) > maxControlMsg {
		return fmt.Errorf("control message of %d bytes", len(b))
	}
	return json.Unmarshal(b, v)
}

// handleMessage routes a user message received over gossip. It runs on
// memberlist's receive path: anything slow goes to a goroutine the mesh
// owns.
func (m *Mesh) handleMessage(b []byte) {
	if len(b) == 0 {
		return
	}
	kind, body := b[0], b[1:]
	switch kind {
	case msgApp:
		if m.handlers.OnMessage != nil {
			m.handlers.OnMessage(body)
		}
	case msgLeave:
		var msg leaveMsg
		if err := decodeControl(body, &msg); err != nil || msg.Node == "" {
			m.log.Debug("dropped malformed leave message", "err", err)
			return
		}
		if msg.Node != m.cfg.NodeName {
			m.leaveIntent(msg)
		}
	case msgKeyringReq:
		var req keyringRequest
		if err := decodeControl(body, &req); err != nil {
			m.log.Debug("dropped malformed keyring request", "err", err)
			return
		}
		m.goIfRunning(func() { m.answerKeyring(req) })
	case msgKeyringReply:
		var rep KeyringReply
		if err := decodeControl(body, &rep); err != nil {
			m.log.Debug("dropped malformed keyring reply", "err", err)
			return
		}
		m.queries.deliver(rep)
	default:
		m.log.Debug("dropped gossip message of unknown kind", "kind", kind)
	}
}

// goIfRunning runs fn in a goroutine that Shutdown waits for, unless the
// mesh is shutting down. It reports whether fn was started.
func (m *Mesh) goIfRunning(fn func()) bool {
	m.runMu.Lock()
	defer m.runMu.Unlock()
	if m.shutdown.Load() {
		return false
	}
	m.wg.Go(fn)
	return true
}

func encodeControl(kind byte, v any) []byte {
	b, _ := json.Marshal(v) // control messages are plain structs
	return append([]byte{kind}, b...)
}

// broadcastControl queues a control message for gossip to every member.
func (m *Mesh) broadcastControl(kind byte, v any) error {
	if m.shutdown.Load() {
		return ErrShutdown
	}
	m.bq.QueueBroadcast(simpleBroadcast(encodeControl(kind, v)))
	return nil
}

// Broadcast queues an application payload for gossip to every member. A
// later broadcast with the same non-empty name replaces a queued one.
// Receivers get the payload through Handlers.OnMessage; memberlist does not
// forward user broadcasts, so a receiver that wants a payload spread
// further broadcasts it again.
//
// The queue holds at most MaxBroadcastQueue messages; past that the oldest
// are dropped (anti-entropy repairs what they carried) and counted.
// Payloads queued before Start go out once the mesh gossips.
func (m *Mesh) Broadcast(name string, payload []byte) {
	msg := append([]byte{msgApp}, payload...)
	if name == "" {
		m.bq.QueueBroadcast(simpleBroadcast(msg))
	} else {
		m.bq.QueueBroadcast(&namedBroadcast{name: name, msg: msg})
	}
	if n := m.bq.NumQueued(); n > m.cfg.MaxBroadcastQueue {
		m.bq.Prune(m.cfg.MaxBroadcastQueue)
		m.pruned.Add(uint64(n - m.cfg.MaxBroadcastQueue))
	}
}

// BroadcastQueue returns how many messages wait in the broadcast queue and
// how many were ever dropped from it because it was full.
func (m *Mesh) BroadcastQueue() (queued int, pruned uint64) {
	return m.bq.NumQueued(), m.pruned.Load()
}

type simpleBroadcast []byte

func (b simpleBroadcast) Invalidates(memberlist.Broadcast) bool { return false }
func (b simpleBroadcast) Message() []byte                       { return b }
func (b simpleBroadcast) Finished()                             {}

type namedBroadcast struct {
	name string
	msg  []byte
}

func (b *namedBroadcast) Invalidates(o memberlist.Broadcast) bool {
	nb, ok := o.(*namedBroadcast)
	return ok && nb.name == b.name
}
func (b *namedBroadcast) Message() []byte { return b.msg }
func (b *namedBroadcast) Finished()       {}
