package cli

import (
	"flag"
	"fmt"
	"time"

	"github.com/edgeplane/edgeplane/transport/tlsmesh"
)

type tlsCACreateCmd struct {
	dir  string
	days int
}

func (*tlsCACreateCmd) spec() spec {
	return spec{help: `
Creates the fleet certificate authority: ca.pem (give it to every node as
tls.ca_file) and ca-key.pem (keep it off the devices). Existing files are
not overwritten.`}
}

func (c *tlsCACreateCmd) define(fs *flag.FlagSet) {
	fs.StringVar(&c.dir, "dir", ".", "`directory` to write ca.pem and ca-key.pem to")
	fs.IntVar(&c.days, "days", 3650, "validity in days")
}

func (c *tlsCACreateCmd) run(e *env) int {
	if c.days < 1 {
		return fail(e, "-days must be positive")
	}
	if _, err := tlsmesh.CreateCA(c.dir, tlsmesh.CAOptions{Validity: time.Duration(c.days) * 24 * time.Hour}); err != nil {
		return fail(e, "%v", err)
	}
	fmt.Fprintf(e.Stdout, "==> Saved %s/ca.pem\n==> Saved %s/ca-key.pem\n", c.dir, c.dir)
	return 0
}

type tlsCertCreateCmd struct {
	node, site, caDir, dir string
	days                   int
}

func (*tlsCertCreateCmd) spec() spec {
	return spec{help: `
Issues a certificate for one node, signed by the fleet CA, with the node
name as its subject alternative name: NAME.pem and NAME-key.pem. Set them
as tls.cert_file and tls.key_file on that node.`}
}

func (c *tlsCertCreateCmd) define(fs *flag.FlagSet) {
	fs.StringVar(&c.node, "node", "", "node `name` the certificate is for (required)")
	fs.StringVar(&c.site, "site", "", "site recorded in the certificate")
	fs.StringVar(&c.caDir, "ca-dir", ".", "`directory` holding ca.pem and ca-key.pem")
	fs.StringVar(&c.dir, "dir", ".", "`directory` to write the certificate and key to")
	fs.IntVar(&c.days, "days", 730, "validity in days")
}

func (c *tlsCertCreateCmd) run(e *env) int {
	if c.node == "" {
		return fail(e, "-node is required")
	}
	if err := tlsmesh.ValidNodeName(c.node); err != nil {
		return fail(e, "%v", err)
	}
	if c.days < 1 {
		return fail(e, "-days must be positive")
	}
	ca, err := tlsmesh.LoadCA(c.caDir)
	if err != nil {
		return fail(e, "%v", err)
	}
	certFile, keyFile, err := ca.WriteNodeCert(c.dir, c.node, tlsmesh.CertOptions{Site: c.site, Validity: time.Duration(c.days) * 24 * time.Hour})
	if err != nil {
		return fail(e, "%v", err)
	}
	fmt.Fprintf(e.Stdout, "==> Saved %s\n==> Saved %s\n", certFile, keyFile)
	return 0
}
