package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/url"
	"testing"
	"time"
)

// FuzzParseForwardedCert: the forwarded-certificate header parser never
// panics, and what it accepts is 1 to MaxChain certificates.
func FuzzParseForwardedCert(f *testing.F) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "c"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<31, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		f.Fatal(err)
	}
	p := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	for _, s := range []string{url.PathEscape(p), url.QueryEscape(p), p, p + p, "", "%", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
		"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", url.PathEscape(p) + "trailing"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		chain, err := ParseForwarded(v)
		if err != nil {
			return
		}
		if len(chain) == 0 || len(chain) > MaxChain {
			t.Fatalf("ParseForwarded accepted %d certificates", len(chain))
		}
		for _, c := range chain {
			if c == nil || len(c.Raw) == 0 {
				t.Fatalf("ParseForwarded returned an empty certificate")
			}
		}
	})
}
