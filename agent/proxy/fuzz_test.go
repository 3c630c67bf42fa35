package proxy

import (
	"context"
	"strings"
	"testing"
)

// FuzzInstanceRequest: whatever request another agent sends, once
// checkRequest admits it the instance's request goes to the instance's
// own address, with exactly the caller headers the destination set.
func FuzzInstanceRequest(f *testing.F) {
	f.Add("GET", "/pay?x=1", "Edgeplane-Caller-Node", "b1", "example")
	f.Add("POST", "//evil:80/x", "edgeplane-caller-service", "admin", "")
	f.Add("GET", "http://127.0.0.1:1/", "Connection", "X-A", "h")
	f.Add("PUT", "/%2F..%2F", "X-A", "1\r\nX-B: 2", "evil:1")
	const addr = "127.0.0.1:8080"
	f.Fuzz(func(t *testing.T, method, uri, name, value, host string) {
		req := &httpRequest{Caller: "checkout", Service: "billing", Instance: "billing", Method: method, URI: uri,
			Header: map[string][]string{name: {value}}, Host: host}
		if checkRequest(req) != nil {
			return
		}
		hr, err := instanceRequest(context.Background(), addr, req, "a1", "X")
		if err != nil {
			return
		}
		if hr.URL.Host != addr || hr.URL.Scheme != "http" {
			t.Fatalf("target %q went to %s://%s", uri, hr.URL.Scheme, hr.URL.Host)
		}
		for k, vs := range hr.Header {
			if !strings.HasPrefix(k, CallerPrefix) {
				continue
			}
			want := map[string]string{CallerServiceHdr: "checkout", CallerNodeHdr: "a1", CallerSiteHdr: "X"}[k]
			if len(vs) != 1 || vs[0] != want {
				t.Fatalf("instance sees %s %q, want %q", k, vs, want)
			}
		}
	})
}
