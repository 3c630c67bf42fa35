package tracing

import (
	"net/http"
	"strings"
	"testing"
)

func TestFromHeader(t *testing.T) {
	const good = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	for _, c := range []struct {
		name        string
		parent      []string
		state       []string
		remote      bool
		wantState   string
		wantSampled bool
	}{
		{"valid, sampled", []string{good}, []string{"a=1,b=2"}, true, "a=1,b=2", true},
		{"valid, not sampled", []string{good[:53] + "00"}, nil, true, "", false},
		{"state over two lines", []string{good}, []string{"a=1", "b=2"}, true, "a=1,b=2", true},
		{"absent: new trace, state dropped", nil, []string{"a=1"}, false, "", false},
		{"two traceparents", []string{good, good}, nil, false, "", false},
		{"malformed", []string{"00-xyz"}, nil, false, "", false},
		{"oversized", []string{good + strings.Repeat("0", 1<<16)}, nil, false, "", false},
		{"upper-case hex", []string{strings.ToUpper(good)}, nil, false, "", false},
		{"zero trace id", []string{"00-00000000000000000000000000000000-b7ad6b7169203331-01"}, nil, false, "", false},
	} {
		h := http.Header{"Traceparent": c.parent, "Tracestate": c.state}
		got := FromHeader(h, 0)
		if got.Remote != c.remote || got.State != c.wantState || got.Sampled() != c.wantSampled {
			t.Errorf("%s: %+v", c.name, got)
		}
		if c.remote && got.String() != h.Get("Traceparent") {
			t.Errorf("%s: trace context %s", c.name, got.Traceparent)
		}
		if !c.remote && (got.TraceID == [16]byte{} || got.ParentID != [8]byte{}) {
			t.Errorf("%s: new trace %+v", c.name, got)
		}
	}
}

func TestSanitizeState(t *testing.T) {
	long := "k=" + strings.Repeat("v", 200) // over 128 bytes
	var many []string
	for i := range 40 {
		many = append(many, "k"+strings.Repeat("x", i%3)+string(rune('a'+i%26))+strings.Repeat("y", i/26)+"=v")
	}
	for _, c := range []struct {
		in   []string
		want string
	}{
		{[]string{"congo=t61rcWkgMzE"}, "congo=t61rcWkgMzE"},
		{[]string{" rojo=00f067aa0ba902b7 ,, congo=t61rcWkgMzE "}, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"},
		{[]string{"tenant@sys=v", "1tenant@s-y_s=v"}, "tenant@sys=v,1tenant@s-y_s=v"},
		{[]string{"Upper=v"}, ""},                    // keys are lower case
		{[]string{"a=1,a=2"}, ""},                    // a key twice
		{[]string{"a=x=y"}, ""},                      // '=' in a value
		{[]string{"a=v\r\nX: y"}, ""},                // control characters
		{[]string{"a=v "}, "a=v"},                    // spaces around a member go
		{[]string{"novalue"}, ""},                    // no '='
		{[]string{"a@=v"}, ""},                       // empty system
		{[]string{strings.Repeat("a=1,", 3000)}, ""}, // too long to read
		{[]string{"a=1," + long + ",b=2"}, "a=1," + long + ",b=2"},
	} {
		if got := SanitizeState(c.in); got != c.want {
			t.Errorf("SanitizeState(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	// Past 32 members: cut from the end.
	got := SanitizeState([]string{strings.Join(many, ",")})
	if n := strings.Count(got, ",") + 1; n != 32 || !strings.HasPrefix(got, many[0]+",") {
		t.Errorf("40 members: kept %d: %q", n, got)
	}
	// Past 512 bytes: the long member goes first, then from the end.
	in := []string{long + "," + strings.Repeat("x=", 0) + strings.Join(many[:30], ",") + ",z=" + strings.Repeat("w", 250)}
	got = SanitizeState(in)
	if len(got) > 512 || strings.Contains(got, long) || !strings.HasPrefix(got, many[0]) {
		t.Errorf("over 512 bytes: %d bytes %q", len(got), got)
	}
}

func TestSampleByRatio(t *testing.T) {
	var low, high [16]byte
	for i := 8; i < 16; i++ {
		high[i] = 0xff
	}
	low[15] = 1
	if !SampleByRatio(low, 0.0001) || SampleByRatio(high, 0.9999) || !SampleByRatio(high, 1) || SampleByRatio(low, 0) {
		t.Fatal("bounds")
	}
	n := 0
	for range 10000 {
		if NewRoot(0.25).Sampled() {
			n++
		}
	}
	// 2,500 expected, σ ≈ 43: ±300 is seven σ.
	if n < 2200 || n > 2800 {
		t.Fatalf("ratio 0.25 sampled %d of 10,000", n)
	}
}

// A child keeps the trace id and the sampled flag, with a new span id.
func TestChild(t *testing.T) {
	c := FromHeader(http.Header{"Traceparent": {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03"}}, 0)
	ch := c.Child()
	if ch.TraceID != c.TraceID || ch.ParentID == c.ParentID || ch.Flags != 1 {
		t.Fatalf("child %s of %s", ch, c.Traceparent)
	}
}
