package certs

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"
)

func TestParseDN(t *testing.T) {
	tests := []struct {
		in, want string // want "" = refused
	}{
		{"CN=backend,O=Example,C=DE", "CN=backend,O=Example,C=DE"},
		{" cn = KYC  backend , o=Example\\, Inc. ", `CN=KYC  backend,O=Example\, Inc.`},
		{"2.5.4.3=x+2.5.4.10=y", "CN=x+O=y"},
		{"CN=a\\2Cb", `CN=a\,b`},
		{"E=ops@example.com", "EMAILADDRESS=ops@example.com"},
		{`CN=\#hash`, `CN=\#hash`},
		{"CN=", ""},
		{"just text", ""},
		{"CN=#0403", ""},
		{"CN=a\\", ""},
		{"CN=a\\zz", ""},
		{"CN=a;O=b", ""},
		{"1.02=x", ""},
		{"C N=x", ""},
		{"CN=a\\00", ""},
		{"", ""},
	}
	for _, tt := range tests {
		d, err := ParseDN(tt.in)
		got := ""
		if err == nil {
			got = d.String()
		}
		if got != tt.want {
			t.Errorf("ParseDN(%q) = %q (%v), want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestCertDNEqual(t *testing.T) {
	name := pkix.Name{CommonName: "KYC backend", Organization: []string{"Example"}, Country: []string{"DE"}}
	raw, err := asn1.Marshal(name.ToRDNSequence())
	if err != nil {
		t.Fatal(err)
	}
	cd, err := SubjectDN(raw)
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]bool{
		"CN=KYC backend,O=Example,C=DE":      true,
		"cn=kyc  BACKEND,o=example,c=de":     true,
		"CN=KYC backend,O=Example":           false,
		"O=Example,CN=KYC backend,C=DE":      false,
		"CN=KYC backend,O=Example,C=FR":      false,
		"CN=KYC backend+O=Example,C=DE":      false,
		"CN=KYC backendX,O=Example,C=DE":     false,
		"CN=KYC backend,O=Example,C=DE,L":    false,
		"CN=KYC bac\u212Aend,O=Example,C=DE": false, // Kelvin sign, not K
		"CN=KYC\u00a0backend,O=Example,C=DE": false, // no-break space
	} {
		d, err := ParseDN(in)
		got := err == nil && d.Equal(cd)
		if got != want {
			t.Errorf("ParseDN(%q).Equal(cert %q) = %v, want %v", in, cd, got, want)
		}
	}
}

// FuzzParseDN: no panic, and a parsed name round-trips through String.
func FuzzParseDN(f *testing.F) {
	for _, s := range []string{"CN=a,O=b", `CN=a\,b+OU=c`, "2.5.4.3=x", `CN=\41`, "CN= a ", "=", ",", "CN=a\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDN(s)
		if err != nil {
			return
		}
		again, err := ParseDN(d.String())
		if err != nil {
			t.Fatalf("ParseDN(%q) = %q, which does not parse again: %v", s, d.String(), err)
		}
		if !again.Equal(d) || again.String() != d.String() {
			t.Fatalf("ParseDN(%q).String() = %q, parses again to %q", s, d.String(), again.String())
		}
	})
}
