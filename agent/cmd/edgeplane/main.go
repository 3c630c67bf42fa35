// Command edgeplane is the edgeplane agent and its command line client.
package main

import (
	"os"

	"github.com/edgeplane/edgeplane/agent/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], cli.IO{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.LookupEnv,
	}))
}
