// Package certscmd is `idvauth certs`: a local test CA and certificates
// for trying mutual TLS.
package certscmd

import (
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/idvauth/idvauth/authz/devkit"
	"github.com/idvauth/idvauth/cmd/idvauth/internal/clikit"
)

// New returns the certs command: a local test CA and certificates for
// trying mutual TLS. devkit.IssueCert makes them; this writes the files
// (keys 0600, never overwriting) and prints where they are.
func New() *cobra.Command {
	cmd := clikit.Group(&cobra.Command{
		Use:   "certs",
		Short: "Make a local test CA and TLS certificates for trying mutual TLS",
		Long: `Make a local test CA, a server certificate for the public listener and
client certificates, to try tls_client_auth, self_signed_tls_client_auth and
certificate-bound tokens on one machine. For production use your own PKI.

Keys are ECDSA P-256 and written with mode 0600; no file is ever overwritten.`,
		Example: `  # pki/ is git-ignored in idvauth's repository; elsewhere, certs warns
  # when it writes keys into a git repository that does not ignore them.
  idvauth certs ca --out ./pki/ca
  idvauth certs server --ca ./pki/ca --host 127.0.0.1 --host localhost --out ./pki/server
  idvauth certs client --ca ./pki/ca --cn kyc-backend --out ./pki/kyc-backend -o json`,
	})
	ca := certsCACmd()
	for _, c := range []*cobra.Command{ca, certsServerCmd(), certsClientCmd()} {
		c.Flags().String("out", "", "directory to write into (created; existing files are never overwritten)")
		c.Flags().Int("days", 30, "validity in days")
		if c != ca {
			c.Flags().String("ca", "", "directory holding ca.crt and ca.key (from 'idvauth certs ca')")
		}
		_ = c.MarkFlagRequired("out")
		clikit.AddLocalOutputFlag(c)
		cmd.AddCommand(c)
	}
	return cmd
}

func certsCACmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "ca",
		Short:   "Make a test CA (ca.crt, ca.key)",
		Long:    "Make a self-signed test CA in --out: ca.crt (give it to idvauth as IDVAUTH_TLS_CLIENT_CA, and to clients to trust the server) and ca.key.",
		Example: "  idvauth certs ca --out ./pki/ca\n  idvauth certs ca --out ./pki/ca --cn 'Example test CA' -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cn, _ := cmd.Flags().GetString("cn")
			return issue(cmd, "ca", devkit.CertRequest{Kind: devkit.CertCA, Subject: pkix.Name{CommonName: cn}})
		},
	}
	cmd.Flags().String("cn", "idvauth test CA", "the CA's common name")
	return cmd
}

func certsServerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Make a server certificate for the public listener (server.crt, server.key)",
		Long: `Make a certificate for the public listener, signed by the test CA in --ca,
for each --host (DNS name or IP address). Use it with IDVAUTH_TLS_CERT and
IDVAUTH_TLS_KEY.`,
		Example: "  idvauth certs server --ca ./pki/ca --host 127.0.0.1 --host localhost --out ./pki/server -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			hosts, _ := cmd.Flags().GetStringArray("host")
			if len(hosts) == 0 {
				return clikit.UsageErrorf("give at least one --host (e.g. --host 127.0.0.1 --host localhost)")
			}
			if caDir, _ := cmd.Flags().GetString("ca"); caDir == "" {
				return clikit.UsageErrorf("give the test CA with --ca DIR")
			}
			return issue(cmd, "server", devkit.CertRequest{Kind: devkit.CertServer, Subject: pkix.Name{CommonName: hosts[0]}, Hosts: hosts})
		},
	}
	cmd.Flags().StringArray("host", nil, "DNS name or IP address the server is reached at (repeatable)")
	return cmd
}

func certsClientCmd() *cobra.Command {
	cmd := &cobra.Command{
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
			cn, _ := cmd.Flags().GetString("cn")
			org, _ := cmd.Flags().GetString("org")
			dns, _ := cmd.Flags().GetStringArray("dns")
			self, _ := cmd.Flags().GetBool("self-signed")
			caDir, _ := cmd.Flags().GetString("ca")
			switch {
			case cn == "":
				return clikit.UsageErrorf("give the client's --cn")
			case self && caDir != "":
				return clikit.UsageErrorf("--self-signed and --ca exclude each other")
			case !self && caDir == "":
				return clikit.UsageErrorf("give the test CA with --ca DIR, or --self-signed")
			}
			name := pkix.Name{CommonName: cn}
			if org != "" {
				name.Organization = []string{org}
			}
			return issue(cmd, "client", devkit.CertRequest{Kind: devkit.CertClient, Subject: name, Hosts: dns})
		},
	}
	cmd.Flags().String("cn", "", "the client's common name, e.g. its client_id")
	cmd.Flags().String("org", "", "organization (O) in the subject")
	cmd.Flags().StringArray("dns", nil, "DNS name in the subjectAltName (repeatable), for --tls-san-dns")
	cmd.Flags().Bool("self-signed", false, "self-signed, for self_signed_tls_client_auth")
	return cmd
}

// Issued is what the certs commands print with -o json.
type Issued struct {
	Certificate string `json:"certificate"`
	Key         string `json:"key"`
	JWKS        string `json:"jwks,omitempty"`
	SubjectDN   string `json:"subject_dn"`
	Thumbprint  string `json:"x5t#S256"`
	NotAfter    string `json:"not_after"`
}

// issue makes the certificate of req (signed by --ca when given) and
// writes base.crt, base.key and, for clients, base.jwks.json into --out.
func issue(cmd *cobra.Command, base string, req devkit.CertRequest) error {
	asJSON, err := clikit.OutputJSON(cmd)
	if err != nil {
		return err
	}
	dir, _ := cmd.Flags().GetString("out")
	req.Days, _ = cmd.Flags().GetInt("days")
	if f := cmd.Flags().Lookup("ca"); f != nil && f.Value.String() != "" {
		caDir := f.Value.String()
		if req.CACert, err = os.ReadFile(filepath.Join(caDir, "ca.crt")); err != nil {
			return fmt.Errorf("--ca: %w", err)
		}
		if req.CAKey, err = os.ReadFile(filepath.Join(caDir, "ca.key")); err != nil {
			return fmt.Errorf("--ca: %w", err)
		}
	}
	c, err := devkit.IssueCert(req)
	if err != nil {
		return err
	}
	files, err := devkit.WriteCert(dir, base, c.CertPEM, c.KeyPEM, c.JWKS)
	if err != nil {
		return err
	}
	out := Issued{Certificate: files.Certificate, Key: files.Key, JWKS: files.JWKS,
		SubjectDN: c.SubjectDN, Thumbprint: c.Thumbprint, NotAfter: c.NotAfter.UTC().Format(time.RFC3339)}
	if repo := devkit.UnignoredInRepo(dir); repo != "" {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s is inside the git repository %s and not git-ignored: keep the private keys out of version control "+
			"(add it to .gitignore, or write them outside the repository)\n", dir, repo)
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
