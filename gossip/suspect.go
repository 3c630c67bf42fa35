package gossip

import (
	"math"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// suspicions are the members this node suspects. memberlist keeps a
// suspect's state to itself (its Members reports every live node as
// alive, hashicorp/memberlist#266) and tells of a suspicion only by
// logging "Suspect NAME has failed, no acks received" when one of its
// own probes goes unanswered. The memberlist log writer reports those
// lines here; a suspicion ends when a probe of the member is answered,
// or when it must have ended in memberlist: after the longest suspicion
// timeout, the member is failed or has refuted it. Suspicions that this
// node only hears of by gossip are not seen.
type suspicions struct {
	mu      sync.Mutex
	until   map[string]time.Time
	longest func() time.Duration // memberlist's longest suspicion now
}

// suspectLine returns the member a memberlist log line (prefix removed)
// says this node now suspects.
func suspectLine(line string) (string, bool) {
	rest, ok := strings.CutPrefix(line, "Suspect ")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, " has failed, no acks received")
}

func (s *suspicions) suspect(name string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.until == nil {
		s.until = map[string]time.Time{}
	}
	s.until[name] = now.Add(s.longest())
}

func (s *suspicions) clear(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.until, name)
}

// active returns the members suspected at now, forgetting expired ones.
func (s *suspicions) active(now time.Time) map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]bool{}
	for name, until := range s.until {
		if now.After(until) {
			delete(s.until, name)
			continue
		}
		out[name] = true
	}
	return out
}

// longestSuspicion is memberlist's suspicion timeout before confirmations
// shorten it: SuspicionMaxTimeoutMult × SuspicionMult × log10(n) probe
// intervals (at least one), n the members this node knows.
func longestSuspicion(c *memberlist.Config, n int) time.Duration {
	scale := max(1, math.Log10(float64(max(1, n))))
	base := time.Duration(float64(c.SuspicionMult) * scale * float64(c.ProbeInterval))
	return time.Duration(c.SuspicionMaxTimeoutMult) * base
}
