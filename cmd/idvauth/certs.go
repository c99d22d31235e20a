package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/spf13/cobra"
)

// The certs commands make a local test CA and certificates for trying
// mutual TLS. They are operator tooling for a laptop, not a PKI: keys are
// ECDSA P-256, written once (never overwritten) with mode 0600.

func newCertsCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "certs",
		Short: "Make a local test CA and TLS certificates for trying mutual TLS",
		Long: `Make a local test CA, a server certificate for the public listener and
client certificates, to try tls_client_auth, self_signed_tls_client_auth and
certificate-bound tokens on one machine. For production use your own PKI.

Keys are ECDSA P-256 and written with mode 0600; no file is ever overwritten.`,
		Example: `  idvauth certs ca --out ./pki/ca
  idvauth certs server --ca ./pki/ca --host 127.0.0.1 --host localhost --out ./pki/server
  idvauth certs client --ca ./pki/ca --cn kyc-backend --out ./pki/kyc-backend -o json`,
	})
	ca := &cobra.Command{
		Use:     "ca",
		Short:   "Make a test CA (ca.crt, ca.key)",
		Long:    "Make a self-signed test CA in --out: ca.crt (give it to idvauth as IDVAUTH_TLS_CLIENT_CA, and to clients to trust the server) and ca.key.",
		Example: "  idvauth certs ca --out ./pki/ca\n  idvauth certs ca --out ./pki/ca --cn 'Example test CA' -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, _ := cmd.Flags().GetString("out")
			cn, _ := cmd.Flags().GetString("cn")
			days, _ := cmd.Flags().GetInt("days")
			tmpl, err := certTemplate(pkix.Name{CommonName: cn}, days)
			if err != nil {
				return err
			}
			tmpl.IsCA, tmpl.KeyUsage = true, x509.KeyUsageCertSign|x509.KeyUsageCRLSign
			tmpl.MaxPathLenZero = true
			return issue(cmd, out, "ca", tmpl, nil, nil)
		},
	}
	ca.Flags().String("cn", "idvauth test CA", "the CA's common name")
	server := &cobra.Command{
		Use:   "server",
		Short: "Make a server certificate for the public listener (server.crt, server.key)",
		Long: `Make a certificate for the public listener, signed by the test CA in --ca,
for each --host (DNS name or IP address). Use it with IDVAUTH_TLS_CERT and
IDVAUTH_TLS_KEY.`,
		Example: "  idvauth certs server --ca ./pki/ca --host 127.0.0.1 --host localhost --out ./pki/server -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, _ := cmd.Flags().GetString("out")
			hosts, _ := cmd.Flags().GetStringArray("host")
			days, _ := cmd.Flags().GetInt("days")
			if len(hosts) == 0 {
				return errors.New("give at least one --host (e.g. --host 127.0.0.1 --host localhost)")
			}
			tmpl, err := certTemplate(pkix.Name{CommonName: hosts[0]}, days)
			if err != nil {
				return err
			}
			for _, h := range hosts {
				if ip := net.ParseIP(h); ip != nil {
					tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
				} else {
					tmpl.DNSNames = append(tmpl.DNSNames, h)
				}
			}
			tmpl.KeyUsage, tmpl.ExtKeyUsage = x509.KeyUsageDigitalSignature, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			caDir, _ := cmd.Flags().GetString("ca")
			caCert, caKey, err := loadCA(caDir)
			if err != nil {
				return err
			}
			return issue(cmd, out, "server", tmpl, caCert, caKey)
		},
	}
	server.Flags().StringArray("host", nil, "DNS name or IP address the server is reached at (repeatable)")
	client := &cobra.Command{
		Use:   "client",
		Short: "Make a client certificate (client.crt, client.key, client.jwks.json)",
		Long: `Make a client certificate with subject CN=--cn (and O=--org), signed by the
test CA in --ca, or self-signed with --self-signed. It prints the subject DN
to register with --tls-subject-dn (tls_client_auth) and writes
client.jwks.json, the public key to register with --jwks-file
(self_signed_tls_client_auth).`,
		Example: `  idvauth certs client --ca ./pki/ca --cn kyc-backend --out ./pki/kyc-backend
  idvauth certs client --self-signed --cn kyc-self --out ./pki/kyc-self -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, _ := cmd.Flags().GetString("out")
			cn, _ := cmd.Flags().GetString("cn")
			org, _ := cmd.Flags().GetString("org")
			days, _ := cmd.Flags().GetInt("days")
			dns, _ := cmd.Flags().GetStringArray("dns")
			self, _ := cmd.Flags().GetBool("self-signed")
			caDir, _ := cmd.Flags().GetString("ca")
			if cn == "" {
				return errors.New("give the client's --cn")
			}
			name := pkix.Name{CommonName: cn}
			if org != "" {
				name.Organization = []string{org}
			}
			tmpl, err := certTemplate(name, days)
			if err != nil {
				return err
			}
			tmpl.DNSNames = dns
			tmpl.KeyUsage, tmpl.ExtKeyUsage = x509.KeyUsageDigitalSignature, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
			switch {
			case self && caDir != "":
				return errors.New("--self-signed and --ca exclude each other")
			case self:
				return issue(cmd, out, "client", tmpl, nil, nil)
			case caDir == "":
				return errors.New("give the test CA with --ca DIR, or --self-signed")
			}
			caCert, caKey, err := loadCA(caDir)
			if err != nil {
				return err
			}
			return issue(cmd, out, "client", tmpl, caCert, caKey)
		},
	}
	client.Flags().String("cn", "", "the client's common name, e.g. its client_id")
	client.Flags().String("org", "", "organization (O) in the subject")
	client.Flags().StringArray("dns", nil, "DNS name in the subjectAltName (repeatable), for --tls-san-dns")
	client.Flags().Bool("self-signed", false, "self-signed, for self_signed_tls_client_auth")
	for _, c := range []*cobra.Command{ca, server, client} {
		c.Flags().String("out", "", "directory to write into (created; existing files are never overwritten)")
		c.Flags().Int("days", 30, "validity in days")
		if c != ca {
			c.Flags().String("ca", "", "directory holding ca.crt and ca.key (from 'idvauth certs ca')")
		}
		_ = c.MarkFlagRequired("out")
		addOutputFlag(c)
		cmd.AddCommand(c)
	}
	return cmd
}

func certTemplate(name pkix.Name, days int) (*x509.Certificate, error) {
	if days < 1 || days > 3650 {
		return nil, errors.New("--days must be between 1 and 3650")
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := time.Now().Add(-5 * time.Minute) // allow for clock differences
	return &x509.Certificate{SerialNumber: serial, Subject: name, NotBefore: now, NotAfter: now.Add(time.Duration(days) * 24 * time.Hour),
		BasicConstraintsValid: true}, nil
}

func loadCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cb, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return nil, nil, fmt.Errorf("--ca: %w", err)
	}
	kb, err := os.ReadFile(filepath.Join(dir, "ca.key"))
	if err != nil {
		return nil, nil, fmt.Errorf("--ca: %w", err)
	}
	cp, _ := pem.Decode(cb)
	kp, _ := pem.Decode(kb)
	if cp == nil || kp == nil {
		return nil, nil, fmt.Errorf("--ca: %s does not hold ca.crt and ca.key in PEM", dir)
	}
	cert, err := x509.ParseCertificate(cp.Bytes)
	if err != nil || !cert.IsCA {
		return nil, nil, fmt.Errorf("--ca: %s/ca.crt is not a CA certificate", dir)
	}
	k, err := x509.ParsePKCS8PrivateKey(kp.Bytes)
	key, ok := k.(*ecdsa.PrivateKey)
	if err != nil || !ok {
		return nil, nil, fmt.Errorf("--ca: %s/ca.key is not an ECDSA key in PKCS #8", dir)
	}
	return cert, key, nil
}

// issued is what the certs commands print with -o json.
type issued struct {
	Certificate string `json:"certificate"`
	Key         string `json:"key"`
	JWKS        string `json:"jwks,omitempty"`
	SubjectDN   string `json:"subject_dn"`
	Thumbprint  string `json:"x5t#S256"`
	NotAfter    string `json:"not_after"`
}

// issue makes a key, signs tmpl with caKey (self-signed when caCert is
// nil) and writes base.crt and base.key (and base.jwks.json for clients)
// into dir.
func issue(cmd *cobra.Command, dir, base string, tmpl, caCert *x509.Certificate, caKey *ecdsa.PrivateKey) error {
	asJSON, err := outputJSON(cmd)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	parent, signer := tmpl, key
	if caCert != nil {
		parent, signer = caCert, caKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		return fmt.Errorf("create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	out := issued{
		Certificate: filepath.Join(dir, base+".crt"), Key: filepath.Join(dir, base+".key"),
		SubjectDN: tmpl.Subject.String(), NotAfter: tmpl.NotAfter.UTC().Format(time.RFC3339),
	}
	sum := sha256.Sum256(der)
	out.Thumbprint = base64.RawURLEncoding.EncodeToString(sum[:])
	files := []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{out.Key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600},
		{out.Certificate, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644},
	}
	if base == "client" {
		set, err := json.MarshalIndent(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, Use: "sig", Algorithm: string(jose.ES256)}}}, "", "  ")
		if err != nil {
			return err
		}
		out.JWKS = filepath.Join(dir, base+".jwks.json")
		files = append(files, struct {
			path string
			data []byte
			mode os.FileMode
		}{out.JWKS, append(set, '\n'), 0o644})
	}
	for _, f := range files {
		if _, err := os.Stat(f.path); err == nil {
			return fmt.Errorf("%s exists: not overwritten (choose another --out)", f.path)
		}
	}
	for _, f := range files {
		if err := writeNew(f.path, f.data, f.mode); err != nil {
			return err
		}
	}
	w := cmd.OutOrStdout()
	if asJSON {
		b, _ := json.MarshalIndent(out, "", "  ")
		_, err := fmt.Fprintf(w, "%s\n", b)
		return err
	}
	fmt.Fprintf(w, "certificate  %s\nkey          %s   (mode 0600: keep it private)\n", out.Certificate, out.Key)
	if out.JWKS != "" {
		fmt.Fprintf(w, "public key   %s   (for --jwks-file with self_signed_tls_client_auth)\n", out.JWKS)
	}
	fmt.Fprintf(w, "subject DN   %s\nx5t#S256     %s\nnot after    %s\n", out.SubjectDN, out.Thumbprint, out.NotAfter)
	return nil
}

// writeNew creates path with mode, failing if it exists.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
