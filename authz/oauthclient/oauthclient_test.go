package oauthclient

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

func TestReadSigningKey(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(ec)
	ecDER, _ := x509.MarshalECPrivateKey(ec)
	jwk, _ := json.Marshal(jose.JSONWebKey{Key: ec, KeyID: "k1", Algorithm: "ES256"})
	pub, _ := json.Marshal(jose.JSONWebKey{Key: &ec.PublicKey})
	for _, tt := range []struct {
		name, path string
		alg        jose.SignatureAlgorithm
		kid        string
		wantErr    string
	}{
		{"PKCS #8 EC", write("a.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})), jose.ES256, "", ""},
		{"SEC 1 EC", write("b.key", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})), jose.ES256, "", ""},
		{"PKCS #1 RSA", write("c.key", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)})), jose.RS256, "", ""},
		{"JWK", write("d.jwk", jwk), jose.ES256, "k1", ""},
		{"public JWK", write("e.jwk", pub), "", "", "a public key"},
		{"certificate", write("f.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}})), "", "", "no private key"},
		{"garbage", write("g", []byte("hello")), "", "", "neither a PEM private key nor a JWK"},
	} {
		k, alg, err := ReadSigningKey(tt.path)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ReadSigningKey(%s) = %v, want an error with %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil || alg != tt.alg || k.KeyID != tt.kid || k.IsPublic() {
			t.Errorf("ReadSigningKey(%s) = kid %q, %s, %v; want kid %q, %s", tt.name, k.KeyID, alg, err, tt.kid, tt.alg)
		}
	}
}

func TestNewRefusesBadURL(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "127.0.0.1:8080", "http://"} {
		if _, err := New(t.Context(), Config{BaseURL: u, ClientID: "c"}); err == nil || !strings.Contains(err.Error(), "not an http(s) URL") {
			t.Errorf("New(%q) = %v, want refused", u, err)
		}
	}
}
