package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/httpapi"
	"github.com/edgeplane/edgeplane/agent/internal/apitest"
	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/agent/jointoken"
	"github.com/edgeplane/edgeplane/gossip"
)

func TestMembers(t *testing.T) {
	a := apitest.Start(t)
	a.Mesh.SetMembers(apitest.Member("node-a", "hq", gossip.StatusAlive), apitest.Member("b", "shop-1", gossip.StatusSuspect),
		apitest.Member("c", "shop-2", gossip.StatusFailed))
	r := run(t, a.Addr, "", "members")
	r.expect(t, 0, "Node    Address         Status   Site    Build\n", "")
	for _, line := range []string{"node-a  127.0.0.1:7946  alive    hq      test", "b       127.0.0.1:7946  suspect  shop-1  test",
		"c       127.0.0.1:7946  failed   shop-2  test"} {
		if !strings.Contains(r.stdout, line+"\n") {
			t.Fatalf("members lacks %q:\n%s", line, r.stdout)
		}
	}
	if r := run(t, a.Addr, "", "members", "-status", "failed"); strings.Count(r.stdout, "\n") != 2 || !strings.Contains(r.stdout, "\nc ") {
		t.Fatalf("members -status failed:\n%s", r.stdout)
	}
	r = run(t, a.Addr, "", "members", "-format", "json", "-site", "shop-1")
	var ms []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &ms); err != nil || len(ms) != 1 || ms[0]["Name"] != "b" || ms[0]["Status"] != 1.0 {
		t.Fatalf("members -format json -site shop-1 = %q: %v", r.stdout, err)
	}
	// Nothing matches: an empty array, not null.
	if r := run(t, a.Addr, "", "members", "-format", "json", "-status", "left"); r.code != 0 || r.stdout != "[]\n" {
		t.Fatalf("members -format json matching nothing = %d %q", r.code, r.stdout)
	}
}

func TestJoin(t *testing.T) {
	a := apitest.Start(t)
	run(t, a.Addr, "", "join", "127.0.0.2:7946", "seed/127.0.0.3").expect(t, 0, "Successfully joined the mesh by contacting 2 nodes.\n", "")
	if got := a.Mesh.Joined(); !slices.Equal(got, []string{"127.0.0.2:7946", "seed/127.0.0.3"}) {
		t.Fatalf("joined through %q", got)
	}
	a.Mesh.FailJoin("nosuch.invalid", fmt.Errorf("%w %q: host does not resolve", gossip.ErrBadAddress, "nosuch.invalid"))
	a.Mesh.FailJoin("127.0.0.1:1", fmt.Errorf("%w: connection refused", gossip.ErrNoAnswer))
	// One address of two answers: success, and the other is reported.
	r := run(t, a.Addr, "", "join", "nosuch.invalid", "127.0.0.4")
	r.expect(t, 0, "contacting 1 nodes", "Error joining nosuch.invalid: unexpected response code: 400 (gossip: bad join address")
	r = run(t, a.Addr, "", "join", "127.0.0.1:1")
	r.expect(t, 1, "", "Error joining 127.0.0.1:1: unexpected response code: 502")
	if !strings.Contains(r.stderr, "Error! could not join through any of 127.0.0.1:1") {
		t.Fatalf("join with no answer: %q", r.stderr)
	}
}

func TestLeaveAndForceLeave(t *testing.T) {
	a := apitest.Start(t)
	a.Mesh.SetMembers(apitest.Member("node-a", "s", gossip.StatusAlive), apitest.Member("gone", "s", gossip.StatusFailed))
	run(t, a.Addr, "", "force-leave", "node-a").expect(t, 1, "", "node-a is alive, not failed")
	if r := run(t, a.Addr, "", "force-leave", "gone"); r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Fatalf("force-leave gone = %d %q %q", r.code, r.stdout, r.stderr)
	}
	if got := a.Mesh.ForcedOut(); !slices.Equal(got, []string{"gone"}) {
		t.Fatalf("forced out %q", got)
	}
	run(t, a.Addr, "", "leave").expect(t, 0, "Graceful leave complete\n", "")
	if !a.Mesh.Left() {
		t.Fatal("leave did not reach the mesh")
	}
}

func TestKeygenAndKeyring(t *testing.T) {
	r := run(t, "", "", "keygen")
	key := strings.TrimSpace(r.stdout)
	if b, err := base64.StdEncoding.DecodeString(key); r.code != 0 || err != nil || len(b) != 32 {
		t.Fatalf("keygen = %d %q", r.code, r.stdout)
	}

	a := apitest.Start(t)
	run(t, a.Addr, "", "keyring", "-list").expect(t, 1, "", "not enabled")
	a.Mesh.EnableEncryption(key)
	a.Mesh.SetMembers(apitest.Member("a", "s", gossip.StatusAlive), apitest.Member("b", "s", gossip.StatusAlive))
	r = run(t, a.Addr, "", "keyring", "-list")
	r.expect(t, 0, "Node  In use", "")
	if strings.Count(r.stdout, key) != 4 { // in use and installed, on each node
		t.Fatalf("keyring -list:\n%s", r.stdout)
	}
	next := gossip.GenerateKey()
	run(t, a.Addr, "", "keyring", "-install", next).expect(t, 0, key+","+next, "")
	run(t, a.Addr, "", "keyring", "-use", next).expect(t, 0, "a     "+next, "")
	run(t, a.Addr, "", "keyring", "-remove", next).expect(t, 1, "", "the key in use cannot be removed")
	run(t, a.Addr, "", "keyring", "-remove", key).expect(t, 0, "ok", "")
	run(t, a.Addr, "", "keyring", "-install", "not-a-key").expect(t, 1, "", "400")
	// A failure on one node: every node's answer, then the error.
	a.Mesh.FailKeyringOn("b", "disk full")
	r = run(t, a.Addr, "", "keyring", "-install", key)
	r.expect(t, 1, "disk full", "Error! install failed on some nodes")
	if !strings.Contains(r.stdout, "a     "+next) {
		t.Fatalf("keyring -install failing on b:\n%s", r.stdout)
	}
}

func TestInfo(t *testing.T) {
	a := apitest.Start(t)
	r := run(t, a.Addr, "", "info")
	r.expect(t, 0, "node:\n\tNodeName = node-a\n\tNodeID = "+a.Store.NodeID()+"\n\tDatacenter = dc1\n\tSite = site-1\n\tVersion = test\n\tRevision = abc123\n\tGossip = 127.0.0.1:7946\n"+
		"rpc:\n\taddr = 127.0.0.1:7947\n\tinsecure_mesh = false\n\ttrust = pinned\nstore:\n\tindex = ", "")
	if strings.Contains(r.stdout, "replication peers") || strings.Contains(r.stdout, "quarantined records") {
		t.Fatalf("info shows peers or a quarantine it does not have:\n%s", r.stdout)
	}
	a.SetReplication(api.Replication{
		Bootstrap: api.BootstrapProgress{Running: true, Peer: "b", Records: 12},
		Peers: []api.ReplicationPeer{{Node: "b", Addr: "127.0.0.2:7947", LastSync: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			LastResult: "equal", DigestRoot: "ab", BytesSent: 10, BytesReceived: 20, Breaker: "closed"}},
		Quarantine: []api.QuarantinedRecord{{Key: `"k\xff"`, Value: []byte("four"), Version: "v1", Origin: "old"},
			{Key: `"d\xff"`, Deleted: true, Version: "v2", Origin: "old"}},
	})
	r = run(t, a.Addr, "", "info")
	for _, want := range []string{
		"bootstrap running: streaming from b, 12 records so far\n",
		"replication peers:\n\tb (127.0.0.2:7947): last sync 2026-01-02T03:04:05Z, equal; digest root ab; sent 10 B, received 20 B; breaker closed\n",
		"\t\"k\\xff\": 4 bytes, flags 0; written v1 by old\n", "\t\"d\\xff\": deleted; written v2 by old\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("info lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestReload(t *testing.T) {
	a := apitest.Start(t)
	run(t, a.Addr, "", "reload").expect(t, 1, "", "Error! reload failed: unexpected response code: 500 (reload is not available)")
	var rep httpapi.ReloadReport
	a.SetReload(func() (httpapi.ReloadReport, error) { return rep, nil })
	if r := run(t, a.Addr, "", "reload"); r.code != 0 || r.stdout != "Configuration reload triggered\nNo option changed\n" {
		t.Fatalf("reload = %d %q %q", r.code, r.stdout, r.stderr)
	}
	rep = httpapi.ReloadReport{Applied: []string{"log_level", "memory_limit"}, RestartRequired: []string{"site"}}
	if r := run(t, a.Addr, "", "reload"); r.stdout != "Configuration reload triggered\nApplied: log_level, memory_limit\nChanged but needing a restart: site\n" {
		t.Fatalf("reload = %q", r.stdout)
	}
	rep = httpapi.ReloadReport{Applied: []string{"log_level"},
		Rejected: []api.ReloadRejection{{Key: "tls.cert_file", Reason: "tlsmesh: certificate expired"}}}
	if r := run(t, a.Addr, "", "reload"); r.code != 1 || r.stdout != "Configuration reload triggered\nApplied: log_level\n"+
		"Rejected, old value kept: tls.cert_file: tlsmesh: certificate expired\n" {
		t.Fatalf("reload with a rejection = %d %q", r.code, r.stdout)
	}
	a.SetReload(func() (httpapi.ReloadReport, error) {
		return httpapi.ReloadReport{}, errors.New("edgeplane.yaml:1: log_level: loud; running configuration kept")
	})
	run(t, a.Addr, "", "reload").expect(t, 1, "", "edgeplane.yaml:1: log_level: loud; running configuration kept")
}

func TestRPCPing(t *testing.T) {
	a := apitest.Start(t)
	if r := run(t, a.Addr, "", "rpc", "ping", "-count", "2", "node-a"); r.code != 0 ||
		r.stdout != "node-a (127.0.0.1:7947): seq=1 rtt=1ms\nnode-a (127.0.0.1:7947): seq=2 rtt=1ms\n" {
		t.Fatalf("rpc ping = %d %q %q", r.code, r.stdout, r.stderr)
	}
	run(t, a.Addr, "", "rpc", "ping", "nobody").expect(t, 1, "", "unexpected response code: 404 (unknown node)")
	a.SetPing(func(context.Context, string) (string, time.Duration, error) {
		return "", 0, errors.New("handshake refused")
	})
	run(t, a.Addr, "", "rpc", "ping", "node-a").expect(t, 1, "", "502 (handshake refused)")
}

// TestSnapshotThroughAgent saves one agent's store and restores it into
// another, both served by the real API.
func TestSnapshotThroughAgent(t *testing.T) {
	src, dst := apitest.Start(t), apitest.Start(t)
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c"} {
		src.Client.KV().Put(ctx, api.KVPair{Key: k, Value: []byte(k)})
	}
	file := filepath.Join(t.TempDir(), "backup.snap")
	run(t, src.Addr, "", "snapshot", "save", file).expect(t, 0, "Saved and verified snapshot to "+file+" (3 records, ", "")
	run(t, dst.Addr, "", "snapshot", "restore", file).expect(t, 0, "Restored snapshot from "+file+": 3 records changed the store\n", "")
	if p := get(t, dst, "c"); p == nil || string(p.Value) != "c" {
		t.Fatalf("restored c = %+v", p)
	}
	run(t, dst.Addr, "", "snapshot", "restore", file).expect(t, 0, "0 records changed", "")
	run(t, dst.Addr, "", "snapshot", "restore", file+".missing").expect(t, 1, "", "no such file")
	os.WriteFile(file, []byte("garbage"), 0o600)
	run(t, dst.Addr, "", "snapshot", "restore", file).expect(t, 1, "", "400")
	run(t, apitest.DeadAddress(t), "", "snapshot", "restore", file).expect(t, 1, "", "cannot reach the agent")
}

// TestStoreCompactThroughAgent compacts an agent's store through the real
// API: the keys it held are there after, and writes go on.
func TestStoreCompactThroughAgent(t *testing.T) {
	a := apitest.Start(t)
	ctx := context.Background()
	for i := range 200 {
		k := fmt.Sprintf("cfg/%03d", (i*37)%200)
		if err := a.Client.KV().Put(ctx, api.KVPair{Key: k, Value: []byte(strings.Repeat("v", 500))}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 100 {
		if err := a.Client.KV().Delete(ctx, fmt.Sprintf("cfg/%03d", 2*i)); err != nil {
			t.Fatal(err)
		}
	}
	run(t, a.Addr, "", "store", "compact").expect(t, 0, "Compacted the store from ", "")
	if p := get(t, a, "cfg/199"); p == nil || len(p.Value) != 500 {
		t.Fatalf("cfg/199 after the compaction = %+v", p)
	}
	if err := a.Client.KV().Put(ctx, api.KVPair{Key: "after", Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	run(t, apitest.DeadAddress(t), "", "store", "compact").expect(t, 1, "", "cannot reach the agent")
}

func TestTLSAndValidate(t *testing.T) {
	dir := t.TempDir()
	run(t, "", "", "tls", "ca", "create", "-dir", dir).expect(t, 0, "==> Saved "+dir+"/ca.pem\n", "")
	run(t, "", "", "tls", "ca", "create", "-dir", dir).expect(t, 1, "", "Error!")
	run(t, "", "", "tls", "cert", "create", "-node", "n1", "-ca-dir", dir, "-dir", dir).expect(t, 0, "n1-key.pem", "")
	run(t, "", "", "tls", "cert", "create", "-node", "bad name", "-ca-dir", dir).expect(t, 1, "", "node name")
	run(t, "", "", "tls", "cert", "create", "-node", "n2", "-days", "0", "-ca-dir", dir).expect(t, 1, "", "-days must be positive")

	file := filepath.Join(dir, "edgeplane.yaml")
	os.WriteFile(file, []byte("log_level: info\n"), 0o600)
	run(t, "", "", "validate", file).expect(t, 0, "Configuration is valid!\n", "")
	run(t, "", "", "validate", "-config-file", file).expect(t, 0, "Configuration is valid!\n", "")
	os.WriteFile(file, []byte("log_level: loud\n"), 0o600)
	run(t, "", "", "validate", file).expect(t, 1, "", "edgeplane.yaml:1")
}

func TestForceLeavePruneAndRevoke(t *testing.T) {
	a := apitest.Start(t)
	lost := apitest.Member("lost", "s", gossip.StatusAlive)
	fp := strings.Repeat("ab", 32)
	lost.Tags["fp"] = fp
	a.Mesh.SetMembers(apitest.Member("node-a", "s", gossip.StatusAlive), lost)

	if r := run(t, a.Addr, "", "force-leave", "-prune", "forgotten"); r.code != 0 || r.stderr != "" {
		t.Fatalf("force-leave -prune of a forgotten node = %d %q", r.code, r.stderr)
	}
	if got := a.Mesh.Pruned(); !slices.Equal(got, []string{"forgotten"}) {
		t.Fatalf("pruned %q", got)
	}
	run(t, a.Addr, "", "node", "revoke", "nobody").expect(t, 1, "", "unknown node")
	run(t, a.Addr, "", "node", "revoke", "lost").expect(t, 0, "Revoked certificate "+fp+" (node lost)\n", "")
	other := strings.Repeat("cd", 32)
	run(t, a.Addr, "", "node", "revoke", other).expect(t, 0, "Revoked certificate "+other+"\n", "")
	run(t, a.Addr, "", "node", "revoked").expect(t, 0, fp+" (node lost)\n"+other+"\n", "")
}

func TestJoinToken(t *testing.T) {
	a := apitest.Start(t)
	run(t, a.Addr, "", "join-token").expect(t, 1, "", "409 (cannot make a join token: this mesh is not authenticated, so there is no secret to hand out; set encrypt first)")
	key := gossip.GenerateKey()
	a.Mesh.EnableEncryption(key)
	for _, tt := range []struct {
		args  []string
		seeds []string
	}{
		{nil, []string{"127.0.0.1:7946"}},
		{[]string{"-seeds", "10.0.0.1:7946, gw.example:7946"}, []string{"10.0.0.1:7946", "gw.example:7946"}},
	} {
		r := run(t, a.Addr, "", append([]string{"join-token"}, tt.args...)...)
		r.expect(t, 0, "ep1.", "join token seeds: "+strings.Join(tt.seeds, ", ")+"\n")
		tok, err := jointoken.Parse(r.stdout)
		if err != nil || tok.Key != key || !slices.Equal(tok.Seeds, tt.seeds) || strings.Count(r.stdout, "\n") != 1 {
			t.Fatalf("join-token %q printed %q, decoding to %v, %v", tt.args, r.stdout, tok, err)
		}
	}
	run(t, a.Addr, "", "join-token", "-seeds", "10.0.0.1").expect(t, 1, "", "400")
	run(t, a.Addr, "", "join-token", "-seeds", " , ").expect(t, 1, "", "-seeds names no address")
	run(t, a.Addr, "", "join-token", "extra").expect(t, 1, "", "join-token takes no arguments")
}

func TestMonitor(t *testing.T) {
	a := apitest.Start(t)
	var out, errb testutil.SyncBuffer
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	code := make(chan int, 1)
	go func() {
		code <- Main([]string{"monitor", "-log-level", "debug"}, testEnv(ctx, a.Addr, "", &out, &errb))
	}()
	// Log until the stream is open and a line has come through.
	testutil.Eventually(t, 10*time.Second, func() error {
		a.Log.Debug("probe sent", "node", "b")
		if !strings.Contains(out.String(), `level=DEBUG msg="probe sent" node=b`) {
			return errors.New("no debug line streamed yet")
		}
		return nil
	})
	stop()
	select {
	case c := <-code:
		if c != 0 || errb.String() != "" {
			t.Fatalf("monitor ended with %d: %s", c, errb.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("monitor did not end on interrupt")
	}
	run(t, a.Addr, "", "monitor", "-log-level", "loud").expect(t, 1, "", "unknown log level")
}

func TestLogLevel(t *testing.T) {
	a := apitest.Start(t)
	run(t, a.Addr, "", "log-level", "DEBUG").expect(t, 0, "Log level set to debug\n", "")
	if got := a.LogLevel(); got != "debug" {
		t.Fatalf("level set %q", got)
	}
	run(t, a.Addr, "", "log-level", "loud").expect(t, 1, "", "not one of debug, info, warn, error")
}
