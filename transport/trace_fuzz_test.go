package transport

import "testing"

// FuzzParseTraceparent: a traceparent comes from any caller, over RPC or
// in an HTTP header. Parsing never panics, and what it accepts renders
// back to exactly the input, with non-zero ids.
func FuzzParseTraceparent(f *testing.F) {
	for _, s := range []string{
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"00-00000000000000000000000000000000-b7ad6b7169203331-01",
		"00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
		"01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0",
		"", "00-", "garbage",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tp, ok := ParseTraceparent(s)
		if !ok {
			return
		}
		if got := tp.String(); got != s {
			t.Fatalf("parsed %q renders %q", s, got)
		}
		if tp.TraceID == ([16]byte{}) || tp.ParentID == ([8]byte{}) {
			t.Fatalf("accepted zero ids: %q", s)
		}
		if len(tp.TraceIDString()) != 32 {
			t.Fatalf("trace id %q", tp.TraceIDString())
		}
	})
}
