package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent"
	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/agent/logstream"
)

// Tokens of the agent debugTarget runs.
const (
	debugOpsToken    = "ops-secret-0123456789abcdef"    // agent write
	debugReaderToken = "reader-secret-0123456789abcdef" // agent read
)

// errNotYet is what a poll returns until its condition holds.
var errNotYet = errors.New("not yet")

// debugAgent is a whole agent running in the test, with every secret a
// bundle must not hold: a gossip key, a TLS private key, ACL tokens.
type debugAgent struct {
	addr    string
	hub     *logstream.Hub
	secrets map[string]string // what must not appear, by what it is
}

// startDebugAgent runs an agent on 127.0.0.1 with free ports, ACLs on and
// enable_debug as given, until the test ends.
func startDebugAgent(t *testing.T, enableDebug bool) *debugAgent {
	t.Helper()
	dir := t.TempDir()
	tlsDir := filepath.Join(dir, "tls")
	if err := os.Mkdir(tlsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	run(t, "", "", "tls", "ca", "create", "-dir", tlsDir).expect(t, 0, "", "")
	run(t, "", "", "tls", "cert", "create", "-node", "debug-node", "-ca-dir", tlsDir, "-dir", tlsDir).expect(t, 0, "", "")
	keyFile, certFile := "", ""
	entries, _ := os.ReadDir(tlsDir)
	for _, e := range entries {
		switch name := e.Name(); {
		case strings.HasPrefix(name, "debug-node") && strings.HasSuffix(name, "-key.pem"):
			keyFile = filepath.Join(tlsDir, name)
		case strings.HasPrefix(name, "debug-node") && strings.HasSuffix(name, ".pem"):
			certFile = filepath.Join(tlsDir, name)
		}
	}
	if keyFile == "" || certFile == "" {
		t.Fatalf("tls cert create wrote %v", entries)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		t.Fatalf("%s holds no PEM block", keyFile)
	}
	gossipKey := make([]byte, 32)
	rand.Read(gossipKey)

	cfg := config.DevDefault()
	cfg.NodeName, cfg.DataDir, cfg.HTTPAddr = "debug-node", filepath.Join(dir, "data"), "127.0.0.1:0"
	cfg.GossipPort, cfg.RPCPort, cfg.MemoryLimit = 0, 0, "off"
	cfg.EnableDebug = enableDebug
	cfg.Encrypt = base64.StdEncoding.EncodeToString(gossipKey)
	cfg.TLS = config.TLSConfig{CAFile: filepath.Join(tlsDir, "ca.pem"), CertFile: certFile, KeyFile: keyFile}
	cfg.ACL = config.ACLConfig{Enabled: true, DefaultPolicy: "deny", Tokens: []config.ACLToken{
		{Description: "ops", Secret: debugOpsToken, Rules: config.ACLRules{Agent: "write", ServicePrefix: map[string]string{"": "read"}}},
		{Description: "reader", Secret: debugReaderToken, Rules: config.ACLRules{Agent: "read", ServicePrefix: map[string]string{"": "read"}}},
	}}
	hub := logstream.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := agent.New(cfg, slog.New(hub))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	addr := a.HTTPAddr().String()
	c, err := api.NewClient(api.Config{Address: addr, Token: debugOpsToken})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, time.Minute, func() error { _, err := c.Self(context.Background()); return err })
	// A join token holds the gossip key: it must not reach a bundle either.
	jt, err := c.JoinToken(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &debugAgent{addr: addr, hub: hub, secrets: map[string]string{
		"gossip key":             cfg.Encrypt,
		"gossip key (raw)":       string(gossipKey),
		"TLS private key (PEM)":  base64.StdEncoding.EncodeToString(block.Bytes)[:64],
		"TLS private key (DER)":  string(block.Bytes),
		"ops ACL token":          debugOpsToken,
		"reader ACL token":       debugReaderToken,
		"join token":             jt.Token,
		"join token's key field": jsonField(t, jt),
	}}
}

// jsonField returns the join token's encoded form, as a listing of it
// would show.
func jsonField(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// readBundle returns the files of a debug archive by name, failing the
// test on an archive that is not a valid gzipped tar.
func readBundle(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if fi, _ := f.Stat(); fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	files := map[string][]byte{}
	for i := 0; i < 1000; i++ {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatalf("archive: %v", err)
		}
		if h.Typeflag == tar.TypeDir {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = b
	}
	t.Fatal("archive with more than 1000 entries")
	return nil
}

// bundleNames lists files' names, sorted.
func bundleNames(files map[string][]byte) []string {
	var names []string
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// assertNoSecrets fails when any file of the bundle, or its profiles
// decompressed, holds one of the agent's secrets.
func assertNoSecrets(t *testing.T, files map[string][]byte, secrets map[string]string) {
	t.Helper()
	for name, data := range files {
		texts := [][]byte{data}
		if strings.HasSuffix(name, ".prof") {
			if zr, err := gzip.NewReader(bytes.NewReader(data)); err == nil {
				if raw, err := io.ReadAll(zr); err == nil {
					texts = append(texts, raw)
				}
			}
		}
		for _, text := range texts {
			for what, s := range secrets {
				if s != "" && bytes.Contains(text, []byte(s)) {
					t.Errorf("%s holds the %s", name, what)
				}
			}
			if bytes.Contains(text, []byte("PRIVATE KEY-----\nM")) {
				t.Errorf("%s holds a PEM private key", name)
			}
		}
	}
}

// TestDebugBundle: against a live agent with enable_debug, the archive
// holds each part; no secret of the agent is in any of its files; the
// configuration in agent.json is the agent's, secrets hidden.
func TestDebugBundle(t *testing.T) {
	a := startDebugAgent(t, true)
	out := filepath.Join(t.TempDir(), "bundle.tar.gz")
	done := make(chan result, 1)
	go func() {
		done <- runCtx(context.Background(), a.addr, "", "debug", "-duration", "3s", "-interval", "1s", "-output", out, "-token", debugOpsToken)
	}()
	// While the log streams, a request refused is logged at debug level:
	// agent.log shows it.
	testutil.Eventually(t, time.Minute, func() error {
		if a.hub.Streams() == 0 {
			return errNotYet
		}
		return nil
	})
	hostile, err := api.NewClient(api.Config{Address: a.addr, Token: "guessed-token-0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hostile.Self(context.Background()); err == nil {
		t.Fatal("an unknown token read /v1/agent/self")
	}
	r := <-done
	r.expect(t, 0, "Saved debug archive: ", "")
	files := readBundle(t, out)
	names := bundleNames(files)
	for _, want := range []string{"index.json", "agent.json", "members.json", "replication.json", "services.json",
		"agent.log", "goroutine.prof", "heap.prof", "profile.prof"} {
		if _, ok := files[want]; !ok {
			t.Errorf("the archive lacks %s: %q (stderr %q)", want, names, r.stderr)
		}
	}
	if n := len(slices.DeleteFunc(slices.Clone(names), func(n string) bool { return !strings.HasPrefix(n, "metrics/") })); n < 1 {
		t.Errorf("the archive has no metrics: %q", names)
	}
	for _, prof := range []string{"goroutine.prof", "heap.prof", "profile.prof"} {
		if b := files[prof]; len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
			t.Errorf("%s is not a pprof profile (%d bytes)", prof, len(b))
		}
	}
	if !bytes.Contains(files["services.json"], []byte(`"Render"`)) {
		t.Errorf("services.json lacks the render blocks' status:\n%s", files["services.json"])
	}
	if !bytes.Contains(files["agent.log"], []byte("http api request denied")) {
		t.Errorf("agent.log lacks the refused request:\n%s", files["agent.log"])
	}
	for _, m := range names {
		if strings.HasPrefix(m, "metrics/") && !bytes.Contains(files[m], []byte("# TYPE ")) {
			t.Errorf("%s is not the Prometheus text format: %.200q", m, files[m])
		}
	}
	var idx debugIndex
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	if idx.Node != "debug-node" || idx.Interrupted || len(idx.Errors) != 0 || len(idx.Files) != len(names)-1 {
		t.Errorf("index.json: %s", files["index.json"])
	}
	var self api.AgentSelf
	if err := json.Unmarshal(files["agent.json"], &self); err != nil {
		t.Fatal(err)
	}
	dc := self.DebugConfig
	if dc["node_name"] != "debug-node" || dc["enable_debug"] != true || dc["encrypt"] != config.Hidden || dc["tls.key_file"] == "" {
		t.Errorf("agent.json's DebugConfig: %v", dc)
	}
	if !bytes.Contains(files["agent.json"], []byte(`"Description": "ops"`)) || !bytes.Contains(files["agent.json"], []byte(`"Secret": "hidden"`)) {
		t.Errorf("agent.json does not list the ACL tokens with their secrets hidden:\n%s", files["agent.json"])
	}
	assertNoSecrets(t, files, a.secrets)
}

// TestDebugBundleInterrupted: a context ended during the capture (Ctrl-C)
// ends it early, and the archive of what was captured is still written
// and valid. Without enable_debug the profiles are missing and index.json
// says why.
func TestDebugBundleInterrupted(t *testing.T) {
	a := startDebugAgent(t, false)
	out := filepath.Join(t.TempDir(), "bundle.tar.gz")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan result, 1)
	go func() {
		done <- runCtx(ctx, a.addr, "", "debug", "-duration", "30m", "-output", out, "-token", debugOpsToken)
	}()
	testutil.Eventually(t, time.Minute, func() error {
		if a.hub.Streams() == 0 {
			return errNotYet
		}
		return nil
	})
	cancel()
	var r result
	select {
	case r = <-done:
	case <-time.After(time.Minute):
		t.Fatal("debug went on after its context ended")
	}
	r.expect(t, 0, "Interrupted", "the agent serves no profiles: start it with enable_debug")
	files := readBundle(t, out)
	for _, want := range []string{"index.json", "agent.json", "members.json", "replication.json", "services.json", "agent.log"} {
		if _, ok := files[want]; !ok {
			t.Errorf("the archive lacks %s: %q", want, bundleNames(files))
		}
	}
	if _, ok := files["heap.prof"]; ok {
		t.Error("profiles from an agent without enable_debug")
	}
	var idx debugIndex
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	if !idx.Interrupted || len(idx.Errors) != 1 || idx.Errors[0].Target != "pprof" {
		t.Errorf("index.json: %s", files["index.json"])
	}
	assertNoSecrets(t, files, a.secrets)
}

// TestDebugRefusals: a token without agent read gets nothing but errors,
// and still an archive saying so; an existing file is never overwritten;
// bad flags are usage errors.
func TestDebugRefusals(t *testing.T) {
	a := startDebugAgent(t, true)
	dir := t.TempDir()
	out := filepath.Join(dir, "hostile.tar.gz")
	r := run(t, a.addr, "", "debug", "-duration", "1s", "-capture", "agent,pprof", "-output", out, "-token", "guessed-token-0123456789")
	r.expect(t, 0, "Saved", "ACL not found")
	files := readBundle(t, out)
	if names := bundleNames(files); !slices.Equal(names, []string{"index.json"}) {
		t.Errorf("a hostile token's archive holds %q", names)
	}
	// agent read is not enough for profiles.
	out = filepath.Join(dir, "reader.tar.gz")
	r = run(t, a.addr, "", "debug", "-duration", "1s", "-capture", "pprof", "-output", out, "-token", debugReaderToken)
	r.expect(t, 0, "Saved", "agent write")
	if names := bundleNames(readBundle(t, out)); !slices.Equal(names, []string{"index.json"}) {
		t.Errorf("an agent read token's archive holds %q", names)
	}
	if err := os.WriteFile(filepath.Join(dir, "taken.tar.gz"), []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, a.addr, "", "debug", "-duration", "1s", "-output", filepath.Join(dir, "taken.tar.gz"), "-token", debugOpsToken).expect(t, 1, "", "exists")
	if b, _ := os.ReadFile(filepath.Join(dir, "taken.tar.gz")); string(b) != "keep" {
		t.Error("debug overwrote an existing file")
	}
	run(t, a.addr, "", "debug", "-capture", "host").expect(t, 1, "", "unknown target")
	run(t, a.addr, "", "debug", "-interval", "10ms").expect(t, 1, "", "-interval")
	run(t, a.addr, "", "debug", "-duration", "0s").expect(t, 1, "", "-duration")
}
