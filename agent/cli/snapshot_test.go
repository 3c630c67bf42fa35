package cli

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeplane/edgeplane/store"
)

// testIO runs commands with captured output and no environment.
func testIO() (IO, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(string) (string, bool) { return "", false }}, &out, &errb
}

func validSnapshot(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	sw := store.NewSnapshotWriter(&buf)
	for _, k := range []string{"a", "b"} {
		if err := sw.Write(&store.Record{Key: k, Value: []byte("v"), Version: 7, Origin: "n1"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestSnapshotSaveVerifies saves from servers that answer 200 with a valid
// stream, with something that is not a snapshot, and with a stream cut
// short: only the first leaves a file, and the others exit 1 leaving
// nothing behind, not even the temporary file.
func TestSnapshotSaveVerifies(t *testing.T) {
	good := validSnapshot(t)
	tests := []struct {
		name     string
		body     []byte
		wantCode int
		wantOut  string
	}{
		{"valid", good, 0, "Saved and verified snapshot"},
		{"garbage", []byte("this is not a snapshot stream"), 1, "not a valid snapshot"},
		{"cut short", good[:len(good)-3], 1, "not a valid snapshot"},
		{"trailing bytes", append(bytes.Clone(good), "junk"...), 1, "not a valid snapshot"},
		{"empty", nil, 1, "not a valid snapshot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/v1/edgeplane/snapshot" {
					http.NotFound(w, r)
					return
				}
				w.Write(tt.body)
			}))
			defer srv.Close()
			dir := t.TempDir()
			file := filepath.Join(dir, "backup.snap")
			std, out, errb := testIO()
			code := Main([]string{"snapshot", "save", "-http-addr", srv.URL, file}, std)
			if code != tt.wantCode || !strings.Contains(out.String()+errb.String(), tt.wantOut) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, out, errb, tt.wantCode, tt.wantOut)
			}
			entries, _ := os.ReadDir(dir)
			if tt.wantCode != 0 {
				if len(entries) != 0 {
					t.Fatalf("a failed save left %v behind", entries)
				}
				return
			}
			got, err := os.ReadFile(file)
			if err != nil || !bytes.Equal(got, good) || len(entries) != 1 {
				t.Fatalf("saved file = %d bytes, %v; dir %v", len(got), err, entries)
			}
		})
	}
}

func TestSnapshotSaveAgentDown(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close()
	std, _, errb := testIO()
	file := filepath.Join(t.TempDir(), "backup.snap")
	if code := Main([]string{"snapshot", "save", "-http-addr", addr, file}, std); code != 1 || !strings.Contains(errb.String(), "cannot reach the agent") {
		t.Fatalf("exit %d, stderr %q", code, errb)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("file exists after a failed save: %v", err)
	}
}
