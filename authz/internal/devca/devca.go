// Package devca makes a local test CA and TLS server and client certificates
// for trying mutual TLS on one machine (`idvauth certs`). It is for
// development only: its CA has no revocation and its keys are plain files.
package devca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/idvauth/idvauth/authz/internal/certs"
)

// Kind is what Issue makes.
type Kind int

// Certificate kinds.
const (
	// CA is a self-signed CA.
	CA Kind = iota
	// Server is a TLS server certificate for Request.Hosts.
	Server
	// Client is a TLS client certificate.
	Client
)

// Request describes a certificate for Issue.
type Request struct {
	Kind    Kind
	Subject pkix.Name
	// Hosts are DNS names or IP addresses: the server's names, or a
	// client's subjectAltName DNS entries.
	Hosts []string
	// Days is the validity, 1 to 3650.
	Days int
	// CACert and CAKey (PEM, from an earlier CA) sign the certificate;
	// without them a server or client certificate is self-signed.
	CACert, CAKey []byte
}

// Issued is what Issue made: PEM certificate and PKCS #8 key, and
// for a client the JWK Set of its public key (for
// self_signed_tls_client_auth).
type Issued struct {
	CertPEM, KeyPEM, JWKS []byte
	SubjectDN             string
	Thumbprint            string // x5t#S256
	NotAfter              time.Time
}

// Issue makes an ECDSA P-256 key and a certificate for trying TLS and
// mutual TLS locally ('idvauth certs'). It is no PKI: no revocation, no
// policy, and the CA key is handled as a file by the caller.
func Issue(req Request) (Issued, error) {
	var out Issued
	if req.Days < 1 || req.Days > 3650 {
		return out, errors.New("the validity must be between 1 and 3650 days")
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return out, err
	}
	start := time.Now().Add(-5 * time.Minute) // allow for clock differences
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: req.Subject, NotBefore: start,
		NotAfter: start.Add(time.Duration(req.Days) * 24 * time.Hour), BasicConstraintsValid: true}
	for _, h := range req.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	switch req.Kind {
	case CA:
		tmpl.IsCA, tmpl.MaxPathLenZero, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign|x509.KeyUsageCRLSign
	case Server:
		tmpl.KeyUsage, tmpl.ExtKeyUsage = x509.KeyUsageDigitalSignature, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	case Client:
		tmpl.KeyUsage, tmpl.ExtKeyUsage = x509.KeyUsageDigitalSignature, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	default:
		return out, errors.New("unknown certificate kind")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return out, err
	}
	parent, signer := tmpl, key
	if req.Kind != CA && (req.CACert != nil || req.CAKey != nil) {
		if parent, signer, err = parseCA(req.CACert, req.CAKey); err != nil {
			return out, err
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		return out, fmt.Errorf("create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return out, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return out, err
	}
	out = Issued{
		CertPEM:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:    pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		SubjectDN: c.Subject.String(), Thumbprint: certs.Thumbprint(c), NotAfter: c.NotAfter,
	}
	if req.Kind == Client {
		set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, Use: "sig", Algorithm: string(jose.ES256)}}}
		if out.JWKS, err = json.MarshalIndent(set, "", "  "); err != nil {
			return out, err
		}
		out.JWKS = append(out.JWKS, '\n')
	}
	return out, nil
}

func parseCA(certPEM, keyPEM []byte) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cp, _ := pem.Decode(certPEM)
	kp, _ := pem.Decode(keyPEM)
	if cp == nil || kp == nil {
		return nil, nil, errors.New("the CA certificate and key must be PEM")
	}
	cert, err := x509.ParseCertificate(cp.Bytes)
	if err != nil || !cert.IsCA {
		return nil, nil, errors.New("the CA certificate is not a CA certificate")
	}
	k, err := x509.ParsePKCS8PrivateKey(kp.Bytes)
	key, ok := k.(*ecdsa.PrivateKey)
	if err != nil || !ok {
		return nil, nil, errors.New("the CA key is not an ECDSA key in PKCS #8")
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, nil, errors.New("the CA key does not belong to the CA certificate")
	}
	return cert, key, nil
}
