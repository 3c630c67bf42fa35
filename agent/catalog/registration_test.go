package catalog

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseRegistrationDefaults(t *testing.T) {
	reg, err := ParseRegistration([]byte(`{"Name":"web","Port":8080,"Tags":["v1"],
		"Checks":[{"TTL":"15s"},{"TTL":"1m","Status":"passing","Notes":"n"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	in := reg.Service
	if in.ID != "web" || in.Name != "web" || in.Port != 8080 || in.Weights != DefaultWeights || len(in.Tags) != 1 {
		t.Fatalf("instance %+v", in)
	}
	want := []CheckDef{
		{ID: "service:web:1", Name: "Service 'web' check", TTL: 15 * time.Second},
		{ID: "service:web:2", Name: "Service 'web' check", TTL: time.Minute, Status: StatusPassing, Notes: "n"},
	}
	if len(reg.Checks) != 2 || reg.Checks[0] != want[0] || reg.Checks[1] != want[1] {
		t.Fatalf("checks %+v, want %+v", reg.Checks, want)
	}

	reg, err = ParseRegistration([]byte(`{"ID":"web-1","Name":"web","Check":{"TTL":"10s","CheckID":"mine"},
		"Weights":{"Passing":3,"Warning":0}}`))
	if err != nil {
		t.Fatal(err)
	}
	if reg.Checks[0].ID != "mine" || reg.Service.Weights != (Weights{Passing: 3}) {
		t.Fatalf("registration %+v", reg)
	}
	reg, err = ParseRegistration([]byte(`{"name":"web","enable_tag_override":true,"tagged_addresses":{"lan":{"Address":"10.0.0.1","Port":80}}}`))
	if err != nil || !reg.Service.EnableTagOverride || reg.Service.TaggedAddresses["lan"].Port != 80 {
		t.Fatalf("snake_case forms: %+v, %v", reg, err)
	}
	reg, err = ParseRegistration([]byte(`{"Name":"web","Check":{"TTL":"10s"},"Checks":null}`))
	if err != nil || reg.Checks[0].ID != "service:web" {
		t.Fatalf("one check: %+v, %v", reg, err)
	}
}

func TestParseRegistrationRefusals(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`not json`, "decode"},
		{`{"Name":"web"} {}`, "after"},
		{`{"ID":"x"}`, "Name"},
		{`{"Name":"web","Unknown":1}`, "unknown field"},
		{`{"Name":"web","Kind":"connect-proxy"}`, "Kind"},
		{`{"Name":"web","Proxy":{"DestinationServiceName":"db"}}`, "Proxy"},
		{`{"Name":"web","Connect":{"Native":true}}`, "Connect"},
		{`{"Name":"web","Namespace":"ns1"}`, "Namespace"},
		{`{"Name":"web","Partition":"p"}`, "Partition"},
		{`{"Name":"web","SocketPath":"/run/x"}`, "SocketPath"},
		{`{"Name":"web","ID":"../other/web"}`, "ID"},
		{`{"Name":"web","ID":".."}`, "ID"},
		{`{"Name":"web","ID":"a/b"}`, "ID"},
		{`{"Name":"we b"}`, "Name"},
		{`{"Name":"web","Port":70000}`, "Port"},
		{`{"Name":"web","Weights":{"Passing":0,"Warning":1}}`, "Weights"},
		{`{"Name":"web","Meta":{"consul-x":"1"}}`, "reserved"},
		{`{"Name":"web","Meta":{"a.b":"1"}}`, "Meta"},
		{`{"Name":"web","Tags":["a\u0000"]}`, "control"},
		{`{"Name":"web","Check":{"HTTP":"http://127.0.0.1/"}}`, "no Interval"},
		{`{"Name":"web","Check":{"HTTP":"ftp://127.0.0.1/","Interval":"10s"}}`, "http:// or https://"},
		{`{"Name":"web","Check":{"HTTP":"http:///x","Interval":"10s"}}`, "with a host"},
		{`{"Name":"web","Check":{"HTTP":"http://127.0.0.1/","Interval":"500ms"}}`, "Interval"},
		{`{"Name":"web","Check":{"HTTP":"http://127.0.0.1/","Interval":"10s","Timeout":"0s"}}`, "Timeout"},
		{`{"Name":"web","Check":{"HTTP":"http://127.0.0.1/","Interval":"10s","Timeout":"x"}}`, "Timeout"},
		{`{"Name":"web","Check":{"HTTP":"http://127.0.0.1/","Interval":"10s","Method":"GE T"}}`, "Method"},
		{`{"Name":"web","Check":{"HTTP":"http://127.0.0.1/","Interval":"10s","Header":{"X\nY":["1"]}}}`, "Header"},
		{`{"Name":"web","Check":{"HTTP":"http://127.0.0.1/","Interval":"10s","Header":{"X":["a\r\nB: c"]}}}`, "control"},
		{`{"Name":"web","Check":{"HTTP":"http://127.0.0.1/","Interval":"10s","Header":{"X":"1"}}}`, "Header"},
		{`{"Name":"web","Check":{"HTTP":"http://127.0.0.1/","TCP":"127.0.0.1:80","Interval":"10s"}}`, "one of"},
		{`{"Name":"web","Check":{"TTL":"10s","HTTP":"http://127.0.0.1/"}}`, "one of"},
		{`{"Name":"web","Check":{"TCP":"127.0.0.1","Interval":"10s"}}`, "host:port"},
		{`{"Name":"web","Check":{"TCP":":80","Interval":"10s"}}`, "host:port"},
		{`{"Name":"web","Check":{"TCP":"127.0.0.1:0","Interval":"10s"}}`, "host:port"},
		{`{"Name":"web","Check":{"TCP":"127.0.0.1:80","Interval":"10s","Method":"POST"}}`, "only TCP"},
		{`{"Name":"web","Check":{"TCP":"127.0.0.1:80","Interval":"10s","TCPUseTLS":true}}`, "TCPUseTLS"},
		{`{"Name":"web","Check":{"TCP":"127.0.0.1:80","Interval":"10s","FailuresBeforeWarning":3,"FailuresBeforeCritical":2}}`, "FailuresBeforeWarning"},
		{`{"Name":"web","Check":{"TCP":"127.0.0.1:80","Interval":"10s","SuccessBeforePassing":-1}}`, "SuccessBeforePassing"},
		{`{"Name":"web","Check":{"TCP":"127.0.0.1:80","Interval":"10s","DeregisterCriticalServiceAfter":"30s"}}`, "DeregisterCriticalServiceAfter"},
		{`{"Name":"web","Check":{"ScriptArgs":["true"],"Interval":"10s"}}`, "remote code execution"},
		{`{"Name":"web","Check":{"Args":["true"],"Interval":"10s"}}`, "remote code execution"},
		{`{"Name":"web","Check":{"args":["true"],"Interval":"10s"}}`, "remote code execution"},
		{`{"Name":"web","Check":{"script_args":["true"],"Interval":"10s"}}`, "remote code execution"},
		{`{"Name":"web","Check":{"OSService":"sshd","Interval":"10s"}}`, "OS service"},
		{`{"Name":"web","Check":{"TTL":"10s","SuccessBeforePassing":2}}`, "not TTL checks"},
		{`{"Name":"web","Check":{"TTL":"10s","Method":"GET"}}`, "for HTTP checks"},
		{`{"Name":"web","Check":{"GRPC":"127.0.0.1:9000"}}`, "gRPC"},
		{`{"Name":"web","Check":{"H2PING":"127.0.0.1:9000"}}`, "H2PING"},
		{`{"Name":"web","Check":{"UDP":"127.0.0.1:53"}}`, "UDP"},
		{`{"Name":"web","Check":{"DockerContainerID":"abc"}}`, "Docker"},
		{`{"Name":"web","Check":{"AliasService":"db"}}`, "alias"},
		{`{"Name":"web","Check":{"Name":"x"}}`, "no TTL"},
		{`{"Name":"web","Check":{"TTL":"10"}}`, "TTL"},
		{`{"Name":"web","Check":{"TTL":"10ms"}}`, "TTL"},
		{`{"Name":"web","Check":{"TTL":"10s","Interval":"5s"}}`, "Interval"},
		{`{"Name":"web","Check":{"TTL":"10s","Status":"ok"}}`, "Status"},
		{`{"Name":"web","Check":{"TTL":"10s","CheckID":"a/b"}}`, "CheckID"},
		{`{"Name":"web","Check":{"TTL":"10s","CheckID":"c"},"Checks":[{"TTL":"10s","CheckID":"c"}]}`, "twice"},
		{`{"Name":"web","Tags":[` + strings.Repeat(`"t",`, maxTags) + `"t"]}`, "Tags"},
		{`{"Name":"` + strings.Repeat("n", maxNameLen+1) + `"}`, "Name"},
		{`{"Name":"web","Address":"` + strings.Repeat("a", MaxRegistrationSize) + `"}`, "body"},
	} {
		_, err := ParseRegistration([]byte(tc.body))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			name := tc.body
			if len(name) > 80 {
				name = name[:80]
			}
			t.Errorf("%s: %v, want ErrInvalid about %q", name, err, tc.want)
		}
	}
}

func TestCapOutput(t *testing.T) {
	s := strings.Repeat("é", MaxOutput) // two bytes each
	got := CapOutput(s)
	if len(got) > MaxOutput || len(got) < MaxOutput-1 || !strings.HasPrefix(s, got) {
		t.Fatalf("CapOutput cut to %d bytes", len(got))
	}
	if got := CapOutput("ok\xff"); got != "ok\uFFFD" {
		t.Fatalf("CapOutput(invalid) = %q", got)
	}
}

func TestParseKey(t *testing.T) {
	for _, tc := range []struct {
		key            string
		kind, node, id string
		ok             bool
	}{
		{"svc/node-a/web", "svc", "node-a", "web", true},
		{"chk/node-a/service:web", "chk", "node-a", "service:web", true},
		{"svc/node-a/web/x", "", "", "", false},
		{"svc/node-a/..", "", "", "", false},
		{"kv/node-a/web", "", "", "", false},
		{"svc//web", "", "", "", false},
	} {
		kind, node, id, ok := ParseKey(tc.key)
		if kind != tc.kind || node != tc.node || id != tc.id || ok != tc.ok {
			t.Errorf("ParseKey(%q) = %q %q %q %v", tc.key, kind, node, id, ok)
		}
	}
}

func TestParseActiveChecks(t *testing.T) {
	reg, err := ParseRegistration([]byte(`{"Name":"web","Checks":[
		{"HTTP":"https://127.0.0.1:8443/health","Interval":"10s","Header":{"X-A":["1","2"]},"Method":"POST","Body":"{}",
		 "tls_skip_verify":true,"tls_server_name":"web.local","success_before_passing":2,"failures_before_critical":3,
		 "deregister_critical_service_after":"90m"},
		{"TCP":"localhost:5432","Interval":"5s","Timeout":"1s","FailuresBeforeWarning":1,"FailuresBeforeCritical":2},
		{"TTL":"30s","DeregisterCriticalServiceAfter":"1m"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	h, tcp, ttl := reg.Checks[0], reg.Checks[1], reg.Checks[2]
	want := ActiveCheck{Type: CheckTypeHTTP, HTTP: "https://127.0.0.1:8443/health", Method: "POST", Body: "{}",
		Header: map[string][]string{"X-A": {"1", "2"}}, TLSSkipVerify: true, TLSServerName: "web.local",
		Interval: 10 * time.Second, Timeout: DefaultTimeout, SuccessBeforePassing: 2, FailuresBeforeCritical: 3}
	if h.Active == nil || !reflect.DeepEqual(*h.Active, want) || h.DeregisterCriticalServiceAfter != 90*time.Minute || h.TTL != 0 {
		t.Fatalf("HTTP check %+v %+v", h, h.Active)
	}
	want = ActiveCheck{Type: CheckTypeTCP, TCP: "localhost:5432", Interval: 5 * time.Second, Timeout: time.Second,
		FailuresBeforeWarning: 1, FailuresBeforeCritical: 2}
	if tcp.Active == nil || !reflect.DeepEqual(*tcp.Active, want) || tcp.Type() != CheckTypeTCP {
		t.Fatalf("TCP check %+v %+v", tcp, tcp.Active)
	}
	if ttl.Active != nil || ttl.TTL != 30*time.Second || ttl.DeregisterCriticalServiceAfter != time.Minute || ttl.Type() != CheckTypeTTL {
		t.Fatalf("TTL check %+v", ttl)
	}

	// Method defaults to GET; script checks only from configuration
	// files, with their own default timeout.
	reg, err = ParseRegistration([]byte(`{"Name":"web","Check":{"http":"http://127.0.0.1/","interval":"1s"}}`))
	if err != nil || reg.Checks[0].Active.Method != "GET" {
		t.Fatalf("lower-case keys, default method: %+v, %v", reg, err)
	}
	for _, body := range []string{
		`{"Name":"web","Check":{"Args":["/bin/check","-v"],"Interval":"10s"}}`,
		`{"Name":"web","Check":{"ScriptArgs":["/bin/check","-v"],"Interval":"10s"}}`,
		`{"Name":"web","Check":{"script_args":["/bin/check","-v"],"Interval":"10s"}}`,
	} {
		reg, err = ParseRegistrationWith([]byte(body), ParseOptions{LocalScriptChecks: true})
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		a := reg.Checks[0].Active
		if a.Type != CheckTypeScript || !slices.Equal(a.Args, []string{"/bin/check", "-v"}) || a.Timeout != DefaultScriptTimeout {
			t.Fatalf("%s: %+v", body, a)
		}
	}
}
