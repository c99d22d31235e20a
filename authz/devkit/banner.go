// Package devkit holds what the development tooling of idvauth prints and
// writes: the banner of serve --dev, with curl lines that work for the
// listeners as they are (TLS included), and the files of the test
// certificates of 'idvauth certs'. The server itself does not use it.
package devkit

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/idvauth/idvauth/authz/admin"
)

// Banner is what the --dev banner shows.
type Banner struct {
	Issuer                string
	PublicAddr, AdminAddr string // as bound: a wildcard host is shown as 127.0.0.1
	// TLSCertFile is the public listener's certificate (empty: plain
	// HTTP); TLSClientCAFile the CA of client certificates, which the
	// curl lines trust when it signed TLSCertFile.
	TLSCertFile, TLSClientCAFile string
	Persistent                   bool   // a database is used: data outlives the process
	AdminToken                   string // shown only when GeneratedAdminToken
	GeneratedAdminToken          bool
	AllowRemote                  bool // --dev-allow-remote
	Demo                         admin.DemoClients
}

// Write prints the banner to w.
func (b Banner) Write(w io.Writer) {
	d, publicAddr, adminAddr := b.Demo, b.PublicAddr, b.AdminAddr
	scheme := "http://"
	if b.TLSCertFile != "" {
		scheme = "https://"
	}
	warning := b.remoteWarning()
	publicAddr, adminAddr = dialAddr(publicAddr), dialAddr(adminAddr)
	iss := scheme + publicAddr
	curl := "curl -s" + b.caCert()
	bar := strings.Repeat("=", 78)
	persist := `  NOTHING PERSISTS: clients, people, tokens and signing keys live in memory and are
  gone when this process stops.`
	if b.Persistent {
		persist = `  Data is kept in the database given, but the admin token and secrets may be
  generated for this run only.`
	}
	fmt.Fprintf(w, `%s
  idvauth is running in DEVELOPMENT mode (--dev).
%s
  Never use --dev in production, and never let it listen beyond loopback:
  it shows its credentials to whoever reaches it.%s
%s

  Issuer       %s
  Public       %s%s
  Admin API    http://%s
`, bar, persist, warning, bar, b.Issuer, scheme, publicAddr, adminAddr)
	if b.GeneratedAdminToken {
		fmt.Fprintf(w, "  Admin token  %s   (generated for this run)\n", b.AdminToken)
	}
	// {curl} is the curl command with the options every line needs.
	fmt.Fprintf(w, strings.ReplaceAll(`
  Demo backend service   client_id %s   client_secret %s
  Demo resource server   client_id %s   client_secret %s
  (secrets are shown once; they are new on every start)

Try it (paste into a shell):

  # 1. Get an access token (client credentials)
  {curl} -u '%s:%s' -d grant_type=client_credentials -d scope=identity.verify %s/oauth2/token

  # 2. Keep one in $TOKEN
  TOKEN=$({curl} -u '%s:%s' -d grant_type=client_credentials -d scope=identity.verify %s/oauth2/token | sed -E 's/.*"access_token":"([^"]+)".*/\1/')

  # 3. Introspect it as the resource server
  {curl} -u '%s:%s' -d "token=$TOKEN" %s/oauth2/introspect

  # 4. Revoke it, then introspect again: {"active":false}
  {curl} -u '%s:%s' -d "token=$TOKEN" %s/oauth2/revoke
  {curl} -u '%s:%s' -d "token=$TOKEN" %s/oauth2/introspect

  # The public keys and the discovery document
  {curl} %s/.well-known/jwks.json
  {curl} %s/.well-known/openid-configuration

Sign a person in (authorization code + PKCE + OpenID Connect):

  Demo person    username %s   password %s   (new on every start)
  Demo web app   client_id %s   client_secret %s
  PKCE verifier of the URL below   %s

  Open this URL in a browser, sign in, allow; the page you land on shows the
  code and the curl line that redeems it:

  %s
`, "{curl}", strings.ReplaceAll(curl, "%", "%%")),
		d.Service.ClientID, d.Service.ClientSecret, d.ResourceServer.ClientID, d.ResourceServer.ClientSecret,
		d.Service.ClientID, d.Service.ClientSecret, iss,
		d.Service.ClientID, d.Service.ClientSecret, iss,
		d.ResourceServer.ClientID, d.ResourceServer.ClientSecret, iss,
		d.Service.ClientID, d.Service.ClientSecret, iss,
		d.ResourceServer.ClientID, d.ResourceServer.ClientSecret, iss,
		iss, iss,
		d.User.Username, d.Password, d.Web.ClientID, d.Web.ClientSecret, d.Verifier, d.AuthorizeURL)
	b.adminHint(w, adminAddr)
	fmt.Fprintln(w, bar)
}

// dialAddr is the address to reach a listener bound at addr: a wildcard
// host (0.0.0.0 and :: both show as [::] once bound) becomes 127.0.0.1.
func dialAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
		return addr
	}
	return net.JoinHostPort("127.0.0.1", port)
}

// caCert is the --cacert option that lets the banner's curl lines
// trust the public listener's certificate: none without TLS or when the
// system roots trust it; the client CA file when it signed the server's
// certificate (as in the mTLS walk-through); else the certificate file
// itself, which curl (OpenSSL, 7.68 and later) takes as a trust anchor.
func (b Banner) caCert() string {
	a := b
	if a.TLSCertFile == "" {
		return ""
	}
	chain := ReadCerts(a.TLSCertFile)
	if len(chain) == 0 {
		return " --cacert " + shellQuote(absPath(a.TLSCertFile))
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Intermediates: inter}); err == nil {
		return ""
	}
	if a.TLSClientCAFile != "" {
		roots := x509.NewCertPool()
		for _, c := range ReadCerts(a.TLSClientCAFile) {
			roots.AddCert(c)
		}
		if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter}); err == nil {
			return " --cacert " + shellQuote(absPath(a.TLSClientCAFile))
		}
	}
	return " --cacert " + shellQuote(absPath(a.TLSCertFile))
}

// ReadCerts returns the certificates of a PEM file; none if it cannot be
// read.
func ReadCerts(path string) []*x509.Certificate {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			return out
		}
		if c, err := x509.ParseCertificate(blk.Bytes); err == nil && blk.Type == "CERTIFICATE" {
			out = append(out, c)
		}
	}
}

// absPath is path made absolute, so that a banner line works from any
// directory; path itself if that fails.
func absPath(path string) string {
	if p, err := filepath.Abs(path); err == nil {
		return p
	}
	return path
}

// shellQuote quotes s for a POSIX shell where it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+:=@,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// remoteWarning is the banner's warning when --dev-allow-remote let a
// listener bind beyond loopback; empty otherwise.
func (b Banner) remoteWarning() string {
	if !b.AllowRemote || (LoopbackOnly(b.PublicAddr) && LoopbackOnly(b.AdminAddr)) {
		return ""
	}
	return `
  --dev-allow-remote: THIS DEMO LISTENS BEYOND LOOPBACK. Anyone who reaches it
  can use the demo clients and person printed below.`
}

// adminHint ends the --dev banner's examples with the CLI's admin
// commands, with the admin token if it was generated for this run.
func (b Banner) adminHint(w io.Writer, adminAddr string) {
	if b.GeneratedAdminToken {
		fmt.Fprintf(w, `
  # Manage clients through the admin API
  export IDVAUTH_ADMIN_TOKEN=%s IDVAUTH_ADMIN_URL=http://%s
  idvauth clients list
`, b.AdminToken, adminAddr)
		return
	}
	// The admin token was given (env, flag or file): the banner never
	// echoes it, but the URL still has to be exported for the CLI.
	fmt.Fprintf(w, `
  # Manage clients through the admin API (with your IDVAUTH_ADMIN_TOKEN set)
  export IDVAUTH_ADMIN_URL=http://%s
  idvauth clients list
`, adminAddr)
}

// LoopbackOnly reports whether the listen address addr binds loopback
// only: a loopback IP or localhost. A wildcard ("", 0.0.0.0, ::) or any
// other name is not. An address that does not parse is left to the
// listener to refuse.
func LoopbackOnly(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return true
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// Issuer is the issuer URL of a --dev server whose public listener is
// at addr; a wildcard host becomes loopback.
func Issuer(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}
