package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// tokenFlags are -token and -token-file, taken by every command that
// talks to an agent. Neither shows a default in -h: a default read from
// the environment would print the secret.
type tokenFlags struct {
	token, file string
}

func defineTokenFlags(fs *flag.FlagSet) *tokenFlags {
	t := &tokenFlags{}
	fs.StringVar(&t.token, "token", "",
		"API token `secret`, sent as X-Consul-Token (env EDGEPLANE_HTTP_TOKEN, then CONSUL_HTTP_TOKEN); visible in ps: prefer -token-file")
	fs.StringVar(&t.file, "token-file", "",
		"`file` holding the API token (env EDGEPLANE_HTTP_TOKEN_FILE, then CONSUL_HTTP_TOKEN_FILE)")
	return t
}

// maxTokenFile bounds what a token file may hold.
const maxTokenFile = 4 << 10

// secret returns the token to send: the first set of -token, -token-file,
// EDGEPLANE_HTTP_TOKEN, EDGEPLANE_HTTP_TOKEN_FILE, CONSUL_HTTP_TOKEN and
// CONSUL_HTTP_TOKEN_FILE; "" for none, the anonymous token.
func (t *tokenFlags) secret(getenv func(string) (string, bool)) (string, error) {
	if t.token != "" && t.file != "" {
		return "", errors.New("set -token or -token-file, not both")
	}
	env := func(name string) string { v, _ := getenv(name); return v }
	for _, s := range []struct {
		name, value string
		file        bool
	}{
		{"-token", t.token, false},
		{"-token-file", t.file, true},
		{"EDGEPLANE_HTTP_TOKEN", env("EDGEPLANE_HTTP_TOKEN"), false},
		{"EDGEPLANE_HTTP_TOKEN_FILE", env("EDGEPLANE_HTTP_TOKEN_FILE"), true},
		{"CONSUL_HTTP_TOKEN", env("CONSUL_HTTP_TOKEN"), false},
		{"CONSUL_HTTP_TOKEN_FILE", env("CONSUL_HTTP_TOKEN_FILE"), true},
	} {
		switch {
		case s.value == "":
			continue
		case !s.file:
			return strings.TrimSpace(s.value), nil
		}
		tok, err := readTokenFile(s.value)
		if err != nil {
			return "", fmt.Errorf("%s: %w", s.name, err)
		}
		return tok, nil
	}
	return "", nil
}

func readTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxTokenFile {
		return "", fmt.Errorf("%s is larger than %d bytes: not a token file", path, maxTokenFile)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return tok, nil
}
