// Package oauthclient is a client of idvauth's public OAuth endpoints, as
// a backend service or a resource server uses them: discovery, the
// client_credentials grant and introspection, with the client
// authenticating by secret (HTTP Basic), private key (private_key_jwt, RFC
// 7523) or TLS certificate (RFC 8705). The idvauth CLI's token and
// introspect commands are built on it; it imports no part of the server.
package oauthclient

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// MaxAnswerBytes bounds what is read of one answer.
const MaxAnswerBytes = 1 << 20

// JWTBearer is the client_assertion_type of private_key_jwt.
const JWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Config is what New needs. ClientID is required, and at most one of
// Secret, Key and TLS client certificates (in TLS) is set; none makes a
// public client.
type Config struct {
	// BaseURL is where discovery is fetched: the issuer, or the public
	// listener's URL where it differs.
	BaseURL  string
	ClientID string
	// Secret is the client secret, sent with HTTP Basic. It never
	// appears in an error.
	Secret string
	// Key signs client assertions (private_key_jwt); Alg is their
	// algorithm (from the key if empty: see ReadSigningKey).
	Key *jose.JSONWebKey
	Alg jose.SignatureAlgorithm
	// TLS configures HTTPS: RootCAs to trust, Certificates to present
	// (tls_client_auth). Nil means the system's defaults.
	TLS *tls.Config
	// Timeout bounds each call; 0 means 30 seconds.
	Timeout time.Duration
}

// Discovery is what Client uses of the discovery document.
type Discovery struct {
	Issuer                string `json:"issuer"`
	TokenEndpoint         string `json:"token_endpoint"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
	JWKSURI               string `json:"jwks_uri"`
}

// Client calls the public endpoints as one client. It is safe for
// concurrent use once New returned.
type Client struct {
	http      *http.Client
	id        string
	secret    string
	key       *jose.JSONWebKey
	alg       jose.SignatureAlgorithm
	mtls      bool
	Discovery Discovery
}

// New fetches the discovery document at cfg.BaseURL and returns a Client.
func New(ctx context.Context, cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http(s) URL of the server", cfg.BaseURL)
	}
	if cfg.ClientID == "" {
		return nil, errors.New("no client_id")
	}
	conf := cfg.TLS
	if conf == nil {
		conf = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	c := &Client{id: cfg.ClientID, secret: cfg.Secret, key: cfg.Key, alg: cfg.Alg, mtls: len(conf.Certificates) > 0,
		http: &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: conf, Proxy: http.ProxyFromEnvironment}}}
	d := strings.TrimSuffix(cfg.BaseURL, "/") + "/.well-known/openid-configuration"
	body, err := c.do(ctx, http.MethodGet, d, nil, http.StatusOK)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(body, &c.Discovery); err != nil || c.Discovery.TokenEndpoint == "" {
		return nil, fmt.Errorf("%s is not a discovery document", d)
	}
	return c, nil
}

// Token asks for a token with the client_credentials grant and returns
// the answer as sent and its access token.
func (c *Client) Token(ctx context.Context, scope string) (raw []byte, accessToken string, err error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	if err := c.authForm(form); err != nil {
		return nil, "", err
	}
	if raw, err = c.do(ctx, http.MethodPost, c.Discovery.TokenEndpoint, form, http.StatusOK); err != nil {
		return nil, "", err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if json.Unmarshal(raw, &tok) != nil || tok.AccessToken == "" {
		return nil, "", errors.New("the token endpoint answered without an access_token")
	}
	return raw, tok.AccessToken, nil
}

// Introspect asks whether token is active (RFC 7662) and returns the
// answer as sent.
func (c *Client) Introspect(ctx context.Context, token string) ([]byte, error) {
	if c.Discovery.IntrospectionEndpoint == "" {
		return nil, errors.New("the server's discovery document names no introspection_endpoint")
	}
	form := url.Values{"token": {token}}
	if err := c.authForm(form); err != nil {
		return nil, err
	}
	return c.do(ctx, http.MethodPost, c.Discovery.IntrospectionEndpoint, form, http.StatusOK)
}

// do sends a request and returns the body of an answer with status want;
// an OAuth error answer becomes an error that quotes it.
func (c *Client) do(ctx context.Context, method, target string, form url.Values, want int) ([]byte, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if c.secret != "" {
			req.SetBasicAuth(url.QueryEscape(c.id), url.QueryEscape(c.secret))
		}
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach %s: %w", target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswerBytes))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", target, err)
	}
	if resp.StatusCode != want {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("%s: %s: %s (HTTP %d)", target, e.Error, e.Description, resp.StatusCode)
		}
		return nil, fmt.Errorf("%s: HTTP %d", target, resp.StatusCode)
	}
	return b, nil
}

// authForm adds what authenticates the client to a form posted to the
// token or introspection endpoint: client_id for mTLS, a signed
// assertion for private_key_jwt (the secret goes in the Basic header).
func (c *Client) authForm(form url.Values) error {
	switch {
	case c.mtls:
		form.Set("client_id", c.id)
	case c.key != nil:
		a, err := c.assertion()
		if err != nil {
			return err
		}
		form.Set("client_assertion_type", JWTBearer)
		form.Set("client_assertion", a)
	case c.secret == "":
		form.Set("client_id", c.id) // a public client
	}
	return nil
}

// assertion signs a client assertion (RFC 7523) for the issuer: it lives
// a minute and is used once.
func (c *Client) assertion() (string, error) {
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if c.key.KeyID != "" {
		opts = opts.WithHeader("kid", c.key.KeyID)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: c.alg, Key: c.key.Key}, opts)
	if err != nil {
		return "", fmt.Errorf("client assertion: %w", err)
	}
	var jti [16]byte
	_, _ = rand.Read(jti[:])
	now := time.Now()
	return jwt.Signed(sig).Claims(jwt.Claims{
		Issuer: c.id, Subject: c.id, Audience: jwt.Audience{c.Discovery.Issuer},
		ID: base64.RawURLEncoding.EncodeToString(jti[:]), IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute)),
	}).Serialize()
}

// ReadSigningKey reads a private key from a PEM (PKCS #8, EC or PKCS #1)
// or JWK file and picks its algorithm: the JWK's alg, else ES256 for an EC
// key, RS256 for RSA, EdDSA for Ed25519.
func ReadSigningKey(path string) (*jose.JSONWebKey, jose.SignatureAlgorithm, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	k := &jose.JSONWebKey{}
	if blk, _ := pem.Decode(b); blk != nil {
		if k.Key, err = parsePrivateKey(blk.Bytes); err != nil {
			return nil, "", err
		}
	} else if err := json.Unmarshal(b, k); err != nil {
		return nil, "", errors.New("neither a PEM private key nor a JWK")
	}
	if k.IsPublic() {
		return nil, "", errors.New("a public key: private_key_jwt signs with the private key")
	}
	if k.Algorithm != "" {
		return k, jose.SignatureAlgorithm(k.Algorithm), nil
	}
	switch k.Key.(type) {
	case *ecdsa.PrivateKey:
		return k, jose.ES256, nil
	case *rsa.PrivateKey:
		return k, jose.RS256, nil
	case ed25519.PrivateKey:
		return k, jose.EdDSA, nil
	}
	return nil, "", fmt.Errorf("a %T key: want EC, RSA or Ed25519", k.Key)
}

func parsePrivateKey(der []byte) (crypto.PrivateKey, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("a PEM block that is no private key (PKCS #8, EC or PKCS #1)")
}

// Verify checks the signature of token, a JWS, with a key of the server's
// JWKS and returns its header and claims as JSON.
func (c *Client) Verify(ctx context.Context, token string) (header, claims json.RawMessage, err error) {
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.PS256, jose.EdDSA})
	if err != nil {
		return nil, nil, fmt.Errorf("the access token is not a JWS: %w", err)
	}
	b, err := c.do(ctx, http.MethodGet, c.Discovery.JWKSURI, nil, http.StatusOK)
	if err != nil {
		return nil, nil, err
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, nil, fmt.Errorf("%s is not a JWK Set", c.Discovery.JWKSURI)
	}
	kid := jws.Signatures[0].Header.KeyID
	for _, k := range set.Key(kid) {
		if payload, err := jws.Verify(k); err == nil {
			seg := strings.SplitN(token, ".", 2)[0]
			h, err := base64.RawURLEncoding.DecodeString(seg)
			if err != nil {
				return nil, nil, err
			}
			return h, payload, nil
		}
	}
	return nil, nil, fmt.Errorf("no key of %s (kid %q) verifies the access token", c.Discovery.JWKSURI, kid)
}

// WriteIntrospection prints an introspection answer, a claim a line, in
// the order of its keys, times as RFC 3339.
func WriteIntrospection(w io.Writer, raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return fmt.Errorf("introspection answer: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "active\t%v\n", m["active"])
	keys := sortedClaimKeys(m)
	for _, k := range keys {
		v := m[k]
		switch k {
		case "exp", "iat", "nbf":
			if n, ok := v.(json.Number); ok {
				if sec, err := n.Int64(); err == nil {
					v = time.Unix(sec, 0).UTC().Format(time.RFC3339)
				}
			}
		}
		if s, ok := v.(string); ok {
			fmt.Fprintf(tw, "%s\t%s\n", k, s)
			continue
		}
		b, _ := json.Marshal(v)
		fmt.Fprintf(tw, "%s\t%s\n", k, b)
	}
	return tw.Flush()
}

// sortedClaimKeys is the keys of m but active, sorted.
func sortedClaimKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "active" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// WriteToken prints a token response to w: the access token alone, or,
// with decode, its header and claims (signature checked with Verify)
// instead; with asJSON the response as sent, with "header" and "claims"
// added under decode.
func (c *Client) WriteToken(ctx context.Context, w io.Writer, raw []byte, token string, decode, asJSON bool) error {
	if decode {
		header, claims, err := c.Verify(ctx, token)
		if err != nil {
			return err
		}
		if !asJSON {
			_, err := fmt.Fprintf(w, "header\n%s\nclaims\n%s\n", indentJSON(header), indentJSON(claims))
			return err
		}
		var resp map[string]json.RawMessage
		if err := json.Unmarshal(raw, &resp); err != nil {
			return fmt.Errorf("token response: %w", err)
		}
		resp["header"], resp["claims"] = header, claims
		if raw, err = json.Marshal(resp); err != nil {
			return err
		}
	}
	if asJSON {
		_, err := fmt.Fprintf(w, "%s\n", bytes.TrimSpace(raw))
		return err
	}
	_, err := fmt.Fprintln(w, token)
	return err
}

// indentJSON is b indented for a person to read.
func indentJSON(b []byte) string {
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") != nil {
		return string(b)
	}
	return out.String()
}
