package resilience

import (
	"fmt"
	"math/rand/v2"
)

// BalancerKind names a balancer in config.
type BalancerKind string

// The balancers.
const (
	RoundRobin       BalancerKind = "round_robin"
	Random           BalancerKind = "random"
	Weighted         BalancerKind = "weighted"
	LeastOutstanding BalancerKind = "least_outstanding"
	PowerOfTwo       BalancerKind = "power_of_two"
)

// BalancerKinds lists every balancer, for validation and help texts.
var BalancerKinds = []BalancerKind{RoundRobin, Random, Weighted, LeastOutstanding, PowerOfTwo}

// Candidate is what a balancer knows about one peer.
type Candidate struct {
	// Weight is the peer's share for the weighted balancer; values below
	// 1 count as 1.
	Weight int
	// Outstanding is the number of calls to the peer in flight.
	Outstanding int
}

// Balancer picks one of the candidates and returns its index, or -1 when
// there are none. Implementations are not safe for concurrent use.
type Balancer interface {
	Pick(c []Candidate) int
}

// NewBalancer returns the balancer of the given kind, drawing from rng.
// The empty kind means round_robin.
func NewBalancer(kind BalancerKind, rng *rand.Rand) (Balancer, error) {
	switch kind {
	case RoundRobin, "":
		return &roundRobin{}, nil
	case Random:
		return &random{rng: rng}, nil
	case Weighted:
		return &weighted{rng: rng}, nil
	case LeastOutstanding:
		return &leastOutstanding{rng: rng}, nil
	case PowerOfTwo:
		return &powerOfTwo{rng: rng}, nil
	}
	return nil, fmt.Errorf("unknown balancer %q", kind)
}

type roundRobin struct{ next uint64 }

func (b *roundRobin) Pick(c []Candidate) int {
	if len(c) == 0 {
		return -1
	}
	i := int(b.next % uint64(len(c)))
	b.next++
	return i
}

type random struct{ rng *rand.Rand }

func (b *random) Pick(c []Candidate) int {
	if len(c) == 0 {
		return -1
	}
	return b.rng.IntN(len(c))
}

type weighted struct{ rng *rand.Rand }

func weightOf(c Candidate) int {
	if c.Weight < 1 {
		return 1
	}
	return c.Weight
}

func (b *weighted) Pick(c []Candidate) int {
	if len(c) == 0 {
		return -1
	}
	total := 0
	for _, x := range c {
		total += weightOf(x)
	}
	r := b.rng.IntN(total)
	for i, x := range c {
		r -= weightOf(x)
		if r < 0 {
			return i
		}
	}
	return len(c) - 1
}

type leastOutstanding struct{ rng *rand.Rand }

func (b *leastOutstanding) Pick(c []Candidate) int {
	best, ties := -1, 0
	for i, x := range c {
		switch {
		case best < 0 || x.Outstanding < c[best].Outstanding:
			best, ties = i, 1
		case x.Outstanding == c[best].Outstanding:
			// Reservoir sampling keeps each tied candidate with equal
			// probability.
			ties++
			if b.rng.IntN(ties) == 0 {
				best = i
			}
		}
	}
	return best
}

type powerOfTwo struct{ rng *rand.Rand }

func (b *powerOfTwo) Pick(c []Candidate) int {
	switch len(c) {
	case 0:
		return -1
	case 1:
		return 0
	}
	i := b.rng.IntN(len(c))
	j := b.rng.IntN(len(c) - 1)
	if j >= i {
		j++
	}
	if c[j].Outstanding < c[i].Outstanding {
		return j
	}
	return i
}
