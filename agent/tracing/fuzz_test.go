package tracing

import (
	"net/http"
	"strings"
	"testing"

	"github.com/edgeplane/edgeplane/transport"
)

// FuzzFromHeader: an application's traceparent and tracestate are any
// bytes. Reading them never panics; what comes out is a valid trace
// context, with a tracestate within bounds whose every member was in the
// input, and a remote parent only when the traceparent was valid (the
// transport's parser, fuzzed beside it in FuzzParseTraceparent).
func FuzzFromHeader(f *testing.F) {
	f.Add("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
	f.Add("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", "a@b=c, d=e")
	f.Add("ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "x=\x00")
	f.Add("", strings.Repeat("k=v,", 40))
	f.Add("00-", "a=1,a=2")
	f.Fuzz(func(t *testing.T, parent, state string) {
		h := http.Header{"Traceparent": {parent}, "Tracestate": {state}}
		c := FromHeader(h, 0.5)
		if _, ok := transport.ParseTraceparent(c.String()); !ok && c.Remote {
			t.Fatalf("invalid remote parent %q", c.String())
		}
		if c.Remote != func() bool { _, ok := transport.ParseTraceparent(strings.TrimSpace(parent)); return ok }() {
			t.Fatalf("remote %v for %q", c.Remote, parent)
		}
		if c.TraceID == [16]byte{} {
			t.Fatal("zero trace id")
		}
		if len(c.State) > maxStateLen || strings.Count(c.State, ",") >= maxStateMembers {
			t.Fatalf("state %q out of bounds", c.State)
		}
		if c.State != "" {
			if !c.Remote {
				t.Fatalf("state %q kept without a parent", c.State)
			}
			for m := range strings.SplitSeq(c.State, ",") {
				if !strings.Contains(state, m) || strings.ContainsAny(m, "\r\n\x00") {
					t.Fatalf("member %q not from %q", m, state)
				}
			}
			if SanitizeState([]string{c.State}) != c.State {
				t.Fatalf("state %q not stable", c.State)
			}
		}
	})
}
