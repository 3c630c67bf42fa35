package cli

import (
	"fmt"
	"time"

	"github.com/edgeplane/edgeplane/transport/tlsmesh"
)

const tlsUsage = `Usage: edgeplane tls <ca create | cert create> [options]

    ca create     Create the fleet CA: ca.pem and ca-key.pem
    cert create   Issue a node certificate signed by the fleet CA`

func runTLS(std IO, args []string) int {
	if len(args) >= 1 && isHelp(args[0]) {
		fmt.Fprintln(std.Stdout, tlsUsage)
		return 0
	}
	if len(args) < 2 || args[1] != "create" || (args[0] != "ca" && args[0] != "cert") {
		fmt.Fprintln(std.Stderr, tlsUsage)
		return 1
	}
	if args[0] == "ca" {
		return tlsCACreate(std, args[2:])
	}
	return tlsCertCreate(std, args[2:])
}

func tlsCACreate(std IO, args []string) int {
	fs := newFlagSet(std, "tls ca create", "", `
Creates the fleet certificate authority: ca.pem (give it to every node as
tls.ca_file) and ca-key.pem (keep it off the devices). Existing files are
not overwritten.`)
	dir := fs.String("dir", ".", "`directory` to write ca.pem and ca-key.pem to")
	days := fs.Int("days", 3650, "validity in days")
	if code, done := parse(std, fs, args); done {
		return code
	}
	if *days < 1 {
		return fail(std, "-days must be positive")
	}
	if _, err := tlsmesh.CreateCA(*dir, tlsmesh.CAOptions{Validity: time.Duration(*days) * 24 * time.Hour}); err != nil {
		return fail(std, "%v", err)
	}
	fmt.Fprintf(std.Stdout, "==> Saved %s/ca.pem\n==> Saved %s/ca-key.pem\n", *dir, *dir)
	return 0
}

func tlsCertCreate(std IO, args []string) int {
	fs := newFlagSet(std, "tls cert create", "", `
Issues a certificate for one node, signed by the fleet CA, with the node
name as its subject alternative name: NAME.pem and NAME-key.pem. Set them
as tls.cert_file and tls.key_file on that node.`)
	node := fs.String("node", "", "node `name` the certificate is for (required)")
	site := fs.String("site", "", "site recorded in the certificate")
	caDir := fs.String("ca-dir", ".", "`directory` holding ca.pem and ca-key.pem")
	dir := fs.String("dir", ".", "`directory` to write the certificate and key to")
	days := fs.Int("days", 730, "validity in days")
	if code, done := parse(std, fs, args); done {
		return code
	}
	if *node == "" {
		return fail(std, "-node is required")
	}
	if err := tlsmesh.ValidNodeName(*node); err != nil {
		return fail(std, "%v", err)
	}
	if *days < 1 {
		return fail(std, "-days must be positive")
	}
	ca, err := tlsmesh.LoadCA(*caDir)
	if err != nil {
		return fail(std, "%v", err)
	}
	certFile, keyFile, err := ca.WriteNodeCert(*dir, *node, tlsmesh.CertOptions{Site: *site, Validity: time.Duration(*days) * 24 * time.Hour})
	if err != nil {
		return fail(std, "%v", err)
	}
	fmt.Fprintf(std.Stdout, "==> Saved %s\n==> Saved %s\n", certFile, keyFile)
	return 0
}
