package certs

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/url"
	"strings"
)

// Limits of forwarded client certificates.
const (
	// MaxHeaderLen bounds a forwarded certificate header.
	MaxHeaderLen = 16 << 10
	// MaxChain bounds the certificates of one forwarded chain.
	MaxChain = 5
)

// ParseForwarded reads the client certificate a trusted proxy forwards:
// URL-encoded PEM (nginx $ssl_client_escaped_cert), the leaf first,
// optionally followed by its chain, at most MaxChain certificates.
func ParseForwarded(v string) ([]*x509.Certificate, error) {
	if len(v) > MaxHeaderLen {
		return nil, errors.New("the forwarded certificate is too long")
	}
	raw, err := url.PathUnescape(v)
	if err != nil {
		return nil, errors.New("the forwarded certificate is not URL-encoded")
	}
	var out []*x509.Certificate
	rest := []byte(raw)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, errors.New("the forwarded PEM holds something other than certificates")
		}
		if len(out) == MaxChain {
			return nil, errors.New("the forwarded chain is too long")
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, errors.New("a forwarded certificate does not parse")
		}
		out = append(out, c)
	}
	if len(out) == 0 || strings.TrimSpace(string(rest)) != "" {
		return nil, errors.New("the forwarded value is not PEM certificates")
	}
	return out, nil
}

// Thumbprint is the RFC 8705 x5t#S256 of a certificate.
func Thumbprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
