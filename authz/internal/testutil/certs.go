package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"testing"
	"time"
)

// Cert is a certificate made by NewCert, with its key.
type Cert struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// CertOptions describe a certificate for NewCert. The zero value is a
// self-signed client certificate with a new key and an empty subject,
// valid from an hour ago for a day.
//
// The tests do not use the development CA of `idvauth certs`
// (devkit.IssueCert): they also need what it must never make, such as
// expired certificates and a second certificate for one key.
type CertOptions struct {
	Subject     pkix.Name
	DNSNames    []string
	IPAddresses []net.IP
	// NotBefore and NotAfter bound the validity; zero: an hour ago, and a
	// day from now.
	NotBefore, NotAfter time.Time
	// CA makes a CA certificate, which may sign others; Server a TLS
	// server certificate; neither a TLS client certificate.
	CA, Server bool
	// Parent signs the certificate; nil: it is self-signed.
	Parent *Cert
	// Key is the certificate's key; nil: a new ECDSA P-256 key.
	Key *ecdsa.PrivateKey
}

// NewCert makes the certificate o describes.
func NewCert(t testing.TB, o CertOptions) *Cert {
	t.Helper()
	key := o.Key
	if key == nil {
		var err error
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = time.Now().Add(24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: o.Subject, NotBefore: o.NotBefore, NotAfter: o.NotAfter,
		DNSNames: o.DNSNames, IPAddresses: o.IPAddresses, BasicConstraintsValid: true, IsCA: o.CA,
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	switch {
	case o.CA:
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	case o.Server:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	default:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	signer, signKey := tmpl, key
	if o.Parent != nil {
		signer, signKey = o.Parent.Cert, o.Parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &Cert{Cert: c, Key: key}
}

// CertPEM is the certificate in PEM.
func (c *Cert) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw})
}

// KeyPEM is the key in PEM (PKCS #8).
func (c *Cert) KeyPEM(t testing.TB) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// TLS is the certificate and key for a tls.Config.
func (c *Cert) TLS() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{c.Cert.Raw}, PrivateKey: c.Key, Leaf: c.Cert}
}

// Thumbprint is the certificate's SHA-256 thumbprint as in a cnf claim
// (x5t#S256, RFC 8705), computed here rather than by the code under test.
func (c *Cert) Thumbprint() string {
	sum := sha256.Sum256(c.Cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
