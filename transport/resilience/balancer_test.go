package resilience

import (
	"math"
	"math/rand/v2"
	"testing"
)

const picks = 60_000

func newTestBalancer(t *testing.T, kind BalancerKind) Balancer {
	t.Helper()
	b, err := NewBalancer(kind, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func spread(b Balancer, c []Candidate, n int) []int {
	counts := make([]int, len(c))
	for range n {
		counts[b.Pick(c)]++
	}
	return counts
}

// chiSquare returns Pearson's statistic of counts against expected shares.
func chiSquare(counts []int, shares []float64) float64 {
	total := 0
	for _, c := range counts {
		total += c
	}
	var x float64
	for i, c := range counts {
		e := shares[i] * float64(total)
		x += (float64(c) - e) * (float64(c) - e) / e
	}
	return x
}

func TestRoundRobinIsExact(t *testing.T) {
	b := newTestBalancer(t, RoundRobin)
	c := make([]Candidate, 4)
	for i := range 12 {
		if got := b.Pick(c); got != i%4 {
			t.Fatalf("pick %d = %d, want %d", i, got, i%4)
		}
	}
	counts := spread(b, c, 4000)
	for i, n := range counts {
		if n != 1000 {
			t.Errorf("candidate %d got %d picks, want exactly 1000", i, n)
		}
	}
}

// TestStatisticalSpread checks each randomized balancer against its
// specified shares with a chi-square test at a fixed seed. 20.5 is the
// 99.9th percentile of chi-square with 4 degrees of freedom.
func TestStatisticalSpread(t *testing.T) {
	const critical = 20.5
	uniform := []float64{0.2, 0.2, 0.2, 0.2, 0.2}
	tests := []struct {
		name   string
		kind   BalancerKind
		cands  []Candidate
		shares []float64
	}{
		{"random is uniform", Random, make([]Candidate, 5), uniform},
		{"weighted follows weights", Weighted,
			[]Candidate{{Weight: 1}, {Weight: 2}, {Weight: 3}, {Weight: 4}, {Weight: 10}},
			[]float64{0.05, 0.10, 0.15, 0.20, 0.50}},
		{"weighted treats weights below 1 as 1", Weighted,
			[]Candidate{{Weight: 0}, {Weight: -5}, {Weight: 1}, {Weight: 1}, {Weight: 1}}, uniform},
		{"least outstanding spreads ties evenly", LeastOutstanding,
			[]Candidate{{Outstanding: 2}, {Outstanding: 2}, {Outstanding: 2}, {Outstanding: 2}, {Outstanding: 2}}, uniform},
		// Power of two choices over loads 0..4 (distinct): candidate i wins
		// when it is drawn and the other draw is more loaded. Of the 20
		// ordered pairs, candidate i is in 2·(4-i) where it wins.
		{"power of two favours the less loaded", PowerOfTwo,
			[]Candidate{{Outstanding: 0}, {Outstanding: 1}, {Outstanding: 2}, {Outstanding: 3}, {Outstanding: 4}},
			[]float64{0.4, 0.3, 0.2, 0.1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			counts := spread(newTestBalancer(t, tt.kind), tt.cands, picks)
			var nz []int
			var sh []float64
			for i, s := range tt.shares {
				if s == 0 {
					if counts[i] != 0 {
						t.Fatalf("candidate %d should never be picked, got %d", i, counts[i])
					}
					continue
				}
				nz, sh = append(nz, counts[i]), append(sh, s)
			}
			if x := chiSquare(nz, sh); x > critical || math.IsNaN(x) {
				t.Fatalf("counts %v do not match shares %v (chi-square %.1f)", counts, tt.shares, x)
			}
		})
	}
}

func TestLeastOutstandingPicksMinimum(t *testing.T) {
	b := newTestBalancer(t, LeastOutstanding)
	tests := []struct {
		loads []int
		want  int
	}{
		{[]int{3, 1, 2}, 1},
		{[]int{0, 5, 5}, 0},
		{[]int{9, 9, 8}, 2},
		{[]int{4}, 0},
	}
	for _, tt := range tests {
		c := make([]Candidate, len(tt.loads))
		for i, l := range tt.loads {
			c[i].Outstanding = l
		}
		for range 100 {
			if got := b.Pick(c); got != tt.want {
				t.Fatalf("loads %v: picked %d, want %d", tt.loads, got, tt.want)
			}
		}
	}
}

// TestLeastOutstandingBalancesLiveLoad simulates callers that hold each
// pick for a while: the in-flight counts stay within one of each other.
func TestLeastOutstandingBalancesLiveLoad(t *testing.T) {
	for _, kind := range []BalancerKind{LeastOutstanding, PowerOfTwo} {
		t.Run(string(kind), func(t *testing.T) {
			b := newTestBalancer(t, kind)
			rng := rand.New(rand.NewPCG(3, 4))
			c := make([]Candidate, 4)
			var inflight []int
			maxSpread := 0
			for range 10_000 {
				i := b.Pick(c)
				c[i].Outstanding++
				inflight = append(inflight, i)
				if len(inflight) > 12 { // finish a random call in flight
					k := rng.IntN(len(inflight))
					c[inflight[k]].Outstanding--
					inflight = append(inflight[:k], inflight[k+1:]...)
				}
				lo, hi := c[0].Outstanding, c[0].Outstanding
				for _, x := range c {
					lo, hi = min(lo, x.Outstanding), max(hi, x.Outstanding)
				}
				maxSpread = max(maxSpread, hi-lo)
			}
			limit := 2
			if kind == PowerOfTwo {
				limit = 6
			}
			if maxSpread > limit {
				t.Fatalf("in-flight spread reached %d, want at most %d", maxSpread, limit)
			}
		})
	}
}

func TestBalancersOnEmptyAndSingle(t *testing.T) {
	for _, kind := range BalancerKinds {
		b := newTestBalancer(t, kind)
		if got := b.Pick(nil); got != -1 {
			t.Errorf("%s: Pick(nil) = %d, want -1", kind, got)
		}
		if got := b.Pick([]Candidate{{Weight: 3, Outstanding: 7}}); got != 0 {
			t.Errorf("%s: Pick(one) = %d, want 0", kind, got)
		}
	}
	if _, err := NewBalancer("fastest", nil); err == nil {
		t.Error("unknown kind accepted")
	}
}
