package gossip

import (
	"net"
	"strconv"
	"time"
)

// Status is a member's state. The numbers of Alive, Leaving, Left and
// Failed are Serf's, which Consul's API reports; Suspect is edgeplane's
// own and is reported as Alive to Consul clients.
type Status int

// Member states.
const (
	StatusNone    Status = 0
	StatusAlive   Status = 1
	StatusLeaving Status = 2
	StatusLeft    Status = 3
	StatusFailed  Status = 4
	StatusSuspect Status = 5
)

func (s Status) String() string {
	switch s {
	case StatusAlive:
		return "alive"
	case StatusLeaving:
		return "leaving"
	case StatusLeft:
		return "left"
	case StatusFailed:
		return "failed"
	case StatusSuspect:
		return "suspect"
	}
	return "none"
}

// ParseStatus parses a status name as String writes it.
func ParseStatus(s string) (Status, bool) {
	for st := StatusAlive; st <= StatusSuspect; st++ {
		if st.String() == s {
			return st, true
		}
	}
	return StatusNone, false
}

// Member is one node of the mesh as this node sees it.
type Member struct {
	Name   string
	ID     string
	Addr   net.IP
	Port   uint16
	Site   string
	Tags   map[string]string // the whole metadata, reserved keys included
	Status Status
	// Since is when this node last saw the status change (local clock).
	Since time.Time
}

// Address returns host:port of the member's gossip listener.
func (m Member) Address() string {
	return net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port)))
}

// EventType says what happened to a member.
type EventType int

// Event types.
const (
	EventJoin   EventType = iota + 1 // a member became alive
	EventLeave                       // a member left gracefully
	EventFailed                      // a member stopped answering
	EventUpdate                      // a member's metadata or address changed
	EventReap                        // a failed or left member was forgotten
)

func (t EventType) String() string {
	return [...]string{"none", "join", "leave", "failed", "update", "reap"}[t]
}

// Event is a change of one member.
type Event struct {
	Type   EventType
	Member Member
}
