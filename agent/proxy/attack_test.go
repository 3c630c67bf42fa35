package proxy

import (
	"errors"
	"io"
	"testing"

	"github.com/edgeplane/edgeplane/transport"
)

// TestProxyAttackDestination: a member calling MethodHTTP directly cannot
// make the destination relay to an instance it does not run, nor speak
// for a service its node did not register, nor pick an address.
func TestProxyAttackDestination(t *testing.T) {
	m := newMesh(t)
	a2 := transport.Peer{Node: "a2", Addr: m.a2.srv.Addr().String()}
	call := func(req *httpRequest) (httpMessage, error) {
		t.Helper()
		st, err := m.a1.cli.Stream(t.Context(), a2, MethodHTTP, req)
		if err != nil {
			return httpMessage{}, err
		}
		defer st.Close()
		var head httpMessage
		err = st.Recv(&head)
		if errors.Is(err, io.EOF) {
			t.Fatal("no answer")
		}
		return head, err
	}
	for _, tc := range []struct {
		name string
		req  httpRequest
		want ErrorKind
	}{
		{"instance of another node", httpRequest{Caller: "checkout", Service: "billing", Instance: "billing-b1", Method: "GET", URI: "/"}, NotLocal},
		{"instance of another service", httpRequest{Caller: "checkout", Service: "checkout", Instance: "billing", Method: "GET", URI: "/"}, NotLocal},
		{"caller service the node never registered", httpRequest{Caller: "billing", Service: "billing", Instance: "billing", Method: "GET", URI: "/"}, Denied},
	} {
		head, err := call(&tc.req)
		if err != nil || head.Refused != string(tc.want) {
			t.Errorf("%s: %+v %v, want refused %s", tc.name, head, err, tc.want)
		}
	}
	for _, uri := range []string{"http://127.0.0.1:1/", "x", "*", "/ HTTP/1.1\r\nHost: x"} {
		_, err := call(&httpRequest{Caller: "checkout", Service: "billing", Instance: "billing", Method: "GET", URI: uri})
		if !errors.Is(err, transport.InvalidArgument) {
			t.Errorf("request target %q: %v, want InvalidArgument", uri, err)
		}
	}
	if h := m.onA2.hits.Load() + m.onB1.hits.Load(); h != 0 {
		t.Fatalf("the instances got %d requests from refused calls", h)
	}
}
