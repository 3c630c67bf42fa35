package telemetry

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"testing"

	"github.com/edgeplane/edgeplane/agent/httpapi"
	"github.com/edgeplane/edgeplane/agent/internal/promtext"
	"github.com/edgeplane/edgeplane/transport"
)

// sample returns the value of family's sample name (the family's name
// with _bucket, _sum or _count) whose labels are exactly labels.
func sample(t *testing.T, fams map[string]*promtext.Family, family, name string, labels ...string) float64 {
	t.Helper()
	f := fams[family]
	if f == nil {
		t.Fatalf("no family %s", family)
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, s := range f.Series {
		if s.Name == name && fmt.Sprint(s.Labels) == fmt.Sprint(want) {
			return s.Value
		}
	}
	t.Fatalf("no sample %s%v", name, labels)
	return 0
}

// buckets returns the le bounds and values of a histogram's series whose
// labels include labels, in the order written.
func buckets(fams map[string]*promtext.Family, family string, labels ...string) (les []string, values []float64) {
	for _, s := range fams[family].Series {
		ok := s.Name == family+"_bucket"
		for i := 0; i+1 < len(labels); i += 2 {
			ok = ok && s.Labels[labels[i]] == labels[i+1]
		}
		if ok {
			les, values = append(les, s.Labels["le"]), append(values, s.Value)
		}
	}
	return les, values
}

// TestHistograms: a histogram is written as cumulative buckets, each
// labelled with its bound in seconds, up to +Inf, then its sum and count,
// and its buckets never go down.
func TestHistograms(t *testing.T) {
	fams := scrape(t, mustNew(t, fullConfig(t, 2)))
	for _, tc := range []struct {
		family string
		labels []string
		bounds int
		le     map[string]float64
		sum    float64
	}{
		{RPCDuration, []string{"side", "client", "method", transport.MethodPing}, len(transport.LatencyBounds),
			map[string]float64{"0.0005": 0, "0.001": 1, "0.025": 2, "2.5": 2, "5": 3, "+Inf": 3}, 3.021},
		{StoreCommit, nil, 13, map[string]float64{"0.001": 2, "10": 2, "+Inf": 3}, 20},
	} {
		les, values := buckets(fams, tc.family, tc.labels...)
		if len(les) != tc.bounds+1 || les[len(les)-1] != "+Inf" {
			t.Errorf("%s%v: buckets %v", tc.family, tc.labels, les)
			continue
		}
		prev := -1.0
		for i, le := range les {
			if le != "+Inf" {
				if b, err := strconv.ParseFloat(le, 64); err != nil || float64(b) <= prev {
					t.Errorf("%s: le %q after %v", tc.family, le, prev)
				} else {
					prev = b
				}
			}
			if i > 0 && values[i] < values[i-1] {
				t.Errorf("%s: bucket le=%s %v below the one before, %v", tc.family, le, values[i], values[i-1])
			}
			if want, ok := tc.le[le]; ok && values[i] != want {
				t.Errorf("%s%v: bucket le=%s = %v, want %v", tc.family, tc.labels, le, values[i], want)
			}
		}
		count := sample(t, fams, tc.family, tc.family+"_count", tc.labels...)
		sum := sample(t, fams, tc.family, tc.family+"_sum", tc.labels...)
		if count != values[len(values)-1] || math.Abs(sum-tc.sum) > 1e-9 {
			t.Errorf("%s%v: count %v (+Inf bucket %v), sum %v, want %v", tc.family, tc.labels, count, values[len(values)-1], sum, tc.sum)
		}
	}
	if f := fams[StoreFilesystemSize]; f == nil || f.Series[0].Value <= 0 || value(t, fams, StoreFilesystemAvail) > f.Series[0].Value {
		t.Errorf("file system: avail %v of %v", value(t, fams, StoreFilesystemAvail), f)
	}
}

// TestBreakerNamedByAddress: a peer whose breaker no call named is
// named by its address.
func TestBreakerNamedByAddress(t *testing.T) {
	cfg := fullConfig(t, 0)
	cfg.RPC = fakeRPC{breakers: []transport.BreakerStat{{Addr: "10.0.0.9:7947"}}}
	if v := value(t, scrape(t, mustNew(t, cfg)), RPCBreakerOpen, "peer", "10.0.0.9:7947"); v != 0 {
		t.Errorf("a closed breaker named by its address: %v", v)
	}
}

// TestSeriesBudget: an agent with 100 peers, every RPC method failing
// with several codes and requests on 60 routes with three status classes
// each stays under 2,000 series, the go_ and process_ ones included.
func TestSeriesBudget(t *testing.T) {
	cfg := fullConfig(t, 100)
	methods := slices.Clone(rpcMethods)
	for i := len(methods); i < 10; i++ {
		methods = append(methods, fmt.Sprintf("future.method%d", i))
	}
	cfg.RPC = budgetRPC{fakeRPC: cfg.RPC.(fakeRPC), methods: methods}
	var routes []httpapi.RouteRequests
	for i := range 60 {
		routes = append(routes, httpapi.RouteRequests{Route: fmt.Sprintf("/v1/route%d/{name}", i), Classes: [5]uint64{0, 1, 0, 1, 1}})
	}
	cfg.HTTPRequests = func() []httpapi.RouteRequests { return routes }
	fams := scrape(t, mustNew(t, cfg))
	n := promtext.Count(fams)
	if n >= 2000 {
		t.Fatalf("%d series", n)
	}
	perPeer := len(fams[ReplicationPeerFailing].Series) + len(fams[ReplicationPeerSinceAttempt].Series) + len(fams[RPCBreakerOpen].Series)
	if perPeer != 3*(DefaultPeerLimit+1) {
		t.Errorf("%d per-peer series, want %d", perPeer, 3*(DefaultPeerLimit+1))
	}
	t.Logf("%d series, %d of them RPC, %d HTTP requests", n,
		len(fams[RPCCalls].Series)+len(fams[RPCErrors].Series)+len(fams[RPCDuration].Series), len(fams[HTTPRequests].Series))
}

// budgetRPC fails every method with five codes.
type budgetRPC struct {
	fakeRPC
	methods []string
}

func (r budgetRPC) Calls() (served, made map[string]transport.MethodStats) {
	served, made = fakeRPC{methods: r.methods}.Calls()
	for _, m := range []map[string]transport.MethodStats{served, made} {
		for _, s := range m {
			for _, c := range []transport.Code{transport.Unavailable, transport.DeadlineExceeded, transport.Unauthenticated,
				transport.Internal, transport.Canceled} {
				s.Codes[c] = 1
			}
		}
	}
	return served, made
}
