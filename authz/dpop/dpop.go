// Package dpop checks DPoP proofs (RFC 9449): a JWT the client signs with
// a key of its own for each request, whose public key (the embedded jwk)
// the tokens issued are then bound to by its thumbprint (cnf.jkt).
//
// Check runs the checks of RFC 9449 section 4.3 in order: one DPoP
// header, a compact JWS, typ dpop+jwt, an asymmetric alg of Algs, a
// public jwk that verifies the signature, jti, htm, htu and iat present,
// htm and htu matching the request, iat within Window, and the jti not
// seen before for that key (through Replay, so on every replica). Proofs
// are parsed before anything is looked up: a malformed one costs no store
// round trip.
package dpop

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/ory/fosite"
	"go.uber.org/zap"

	"github.com/idvauth/idvauth/storage"
)

// Header is the request header that carries a proof.
const Header = "DPoP"

// TokenType is the token_type of DPoP-bound access tokens (RFC 9449
// section 5).
const TokenType = "DPoP"

// Limits of a proof.
const (
	// MaxProofLen bounds a proof: an RSA-4096 key and signature fit.
	MaxProofLen = 8 << 10
	maxJTILen   = 256
	// DefaultWindow is how far iat may be from now, either way.
	DefaultWindow = time.Minute
)

// Algs are the proof algorithms accepted (dpop_signing_alg_values_supported).
func Algs() []string { return []string{"ES256", "EdDSA", "PS256", "RS256"} }

// ErrInvalidProof is the answer to a request whose proof is refused
// (RFC 9449 section 5: invalid_dpop_proof, 400).
var ErrInvalidProof = &fosite.RFC6749Error{
	ErrorField:       "invalid_dpop_proof",
	DescriptionField: "The DPoP proof is invalid.",
	CodeField:        http.StatusBadRequest,
}

// Proof is a parsed proof whose signature verified.
type Proof struct {
	// JKT is the base64url SHA-256 thumbprint (RFC 7638) of the proof's
	// key: the cnf.jkt of the tokens bound to it.
	JKT string
	JTI string
	HTM string
	HTU string
	IAT time.Time
	// Ath is the access token hash a proof to a resource carries; Nonce
	// the server nonce it repeats; each "" if absent.
	Ath   string
	Nonce string
}

// claims are a proof's claims as sent.
type claims struct {
	JTI string       `json:"jti"`
	HTM string       `json:"htm"`
	HTU string       `json:"htu"`
	IAT *json.Number `json:"iat"`
	Ath string       `json:"ath"`
	// Nonce is a string when present: a proof with another type is refused.
	Nonce *string `json:"nonce"`
}

// Parse parses proof and verifies its signature with its embedded key:
// checks 2 to 7 of RFC 9449 section 4.3, and the presence of jti, htm,
// htu and iat. It reads no clock and no store.
func Parse(proof string) (*Proof, error) {
	if proof == "" || len(proof) > MaxProofLen {
		return nil, ErrInvalidProof.WithHint("The DPoP proof is missing or too long.")
	}
	algs := make([]jose.SignatureAlgorithm, 0, 4)
	for _, a := range Algs() {
		algs = append(algs, jose.SignatureAlgorithm(a))
	}
	jws, err := jose.ParseSignedCompact(proof, algs)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, ErrInvalidProof.WithHint("The DPoP proof is not a compact JWS of an accepted algorithm (ES256, EdDSA, PS256, RS256).")
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders["typ"].(string); typ != "dpop+jwt" {
		return nil, ErrInvalidProof.WithHint("The DPoP proof's typ must be dpop+jwt.")
	}
	jwk := h.JSONWebKey
	if jwk == nil || !jwk.Valid() || !jwk.IsPublic() {
		return nil, ErrInvalidProof.WithHint("The DPoP proof must carry its public key in the jwk header.")
	}
	if _, sym := jwk.Key.([]byte); sym {
		return nil, ErrInvalidProof.WithHint("The DPoP proof must carry its public key in the jwk header.")
	}
	payload, err := jws.Verify(jwk)
	if err != nil {
		return nil, ErrInvalidProof.WithHint("The DPoP proof's signature does not verify with its jwk.")
	}
	var c claims
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil {
		return nil, ErrInvalidProof.WithHint("The DPoP proof's claims are not a JSON object.")
	}
	if c.JTI == "" || len(c.JTI) > maxJTILen || c.HTM == "" || c.HTU == "" || c.IAT == nil {
		return nil, ErrInvalidProof.WithHint("The DPoP proof must have jti (at most 256 characters), htm, htu and iat.")
	}
	iat, err := c.IAT.Int64()
	if err != nil {
		return nil, ErrInvalidProof.WithHint("The DPoP proof's iat must be a number of seconds.")
	}
	thumb, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, ErrInvalidProof.WithHint("The DPoP proof's jwk has no thumbprint.")
	}
	p := &Proof{JKT: base64.RawURLEncoding.EncodeToString(thumb), JTI: c.JTI, HTM: c.HTM, HTU: c.HTU, IAT: time.Unix(iat, 0), Ath: c.Ath}
	if c.Nonce != nil {
		p.Nonce = *c.Nonce
	}
	return p, nil
}

// Replay records that the key jkt used the proof jti, which may be
// accepted until expires; storage.ErrAlreadyExists if it did before.
type Replay func(ctx context.Context, jkt, jti string, expires time.Time) error

// Config configures a Verifier.
type Config struct {
	// Replay remembers used proofs; required.
	Replay Replay
	// Window is how far a proof's iat may be from now, either way;
	// DefaultWindow if zero.
	Window time.Duration
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// Nonces, if set, makes every proof carry a current server nonce
	// (RFC 9449 section 8).
	Nonces *Nonces
	// Log receives store failures; zap.NewNop if nil.
	Log *zap.Logger
}

// Verifier checks proofs. Build it with New; it is safe for concurrent
// use.
type Verifier struct {
	cfg Config
}

// New returns a Verifier with cfg.
func New(cfg Config) (*Verifier, error) {
	if cfg.Replay == nil {
		return nil, errors.New("dpop: Replay is required")
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	return &Verifier{cfg: cfg}, nil
}

// Nonce returns the server nonce to hand out now; "" when nonces are off.
func (v *Verifier) Nonce() string {
	if v.cfg.Nonces == nil {
		return ""
	}
	return v.cfg.Nonces.At(v.cfg.Now())
}

// Present reports whether r carries a DPoP header.
func Present(r *http.Request) bool { return len(r.Header.Values(Header)) > 0 }

// Check checks the proof of r, a request to the URL htu (without query or
// fragment), and returns it. Errors are ErrInvalidProof with a hint, or
// temporarily_unavailable when the store cannot say whether the proof was
// used.
func (v *Verifier) Check(ctx context.Context, r *http.Request, htu string) (*Proof, error) {
	values := r.Header.Values(Header)
	if len(values) != 1 {
		return nil, ErrInvalidProof.WithHint("Send exactly one DPoP header.")
	}
	p, err := Parse(values[0])
	if err != nil {
		return nil, err
	}
	if p.HTM != r.Method {
		return nil, ErrInvalidProof.WithHint("The DPoP proof's htm is not the request's method.")
	}
	if !sameURI(p.HTU, htu) {
		return nil, ErrInvalidProof.WithHint("The DPoP proof's htu is not the request's URI.")
	}
	now := v.cfg.Now()
	if p.IAT.Before(now.Add(-v.cfg.Window)) || p.IAT.After(now.Add(v.cfg.Window)) {
		return nil, ErrInvalidProof.WithHint("The DPoP proof's iat is too far from the server's time.")
	}
	if v.cfg.Nonces != nil && !v.cfg.Nonces.Valid(p.Nonce, now) {
		return nil, ErrUseNonce.WithHint("Repeat the nonce of the DPoP-Nonce header in the proof.")
	}
	err = v.cfg.Replay(ctx, p.JKT, p.JTI, p.IAT.Add(v.cfg.Window))
	switch {
	case errors.Is(err, storage.ErrAlreadyExists):
		return nil, ErrInvalidProof.WithHint("The DPoP proof has been used before.")
	case err != nil:
		return nil, fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error())
	}
	return p, nil
}

// sameURI compares a proof's htu with the request's URI as RFC 9449
// section 4.3 asks: query and fragment ignored, scheme and host without
// regard to case, a default port the same as none.
func sameURI(htu, want string) bool {
	a, err := url.Parse(htu)
	if err != nil || !a.IsAbs() {
		return false
	}
	b, err := url.Parse(want)
	if err != nil {
		return false
	}
	norm := func(u *url.URL) string {
		host := strings.ToLower(u.Host)
		scheme := strings.ToLower(u.Scheme)
		host = strings.TrimSuffix(host, map[string]string{"https": ":443", "http": ":80"}[scheme])
		path := u.EscapedPath()
		if path == "" {
			path = "/"
		}
		return scheme + "://" + host + path
	}
	return a.User == nil && norm(a) == norm(b)
}

// Grant is what Bind needs to know of a token request besides its proof.
type Grant struct {
	// Type is the grant_type.
	Type string
	// Bound is the thumbprint of the key the grant is bound to, if any:
	// the dpop_jkt of the authorization request behind a code (RFC 9449
	// section 10), or the key of the grant a refresh token belongs to.
	Bound string
	// Public: the client has no credentials, so its refresh tokens are
	// bound to its DPoP key (RFC 9449 section 5).
	Public bool
	// Kept: the grant's refresh token is not rotated (a FAPI 2.0
	// client's, see authz/internal/refresh), so it stays bound to the key
	// it was issued with, as a public client's does.
	Kept bool
	// Required: the client registered dpop_bound_access_tokens (RFC 9449
	// section 5.2).
	Required bool
}

// Bind checks the proof of the token request r, sent to htu, against g,
// and returns the thumbprint the access token is to be bound to; "" for
// a bearer token. A request without a proof is refused when the client
// must send one, or when its grant is bound to a key: a bound grant
// never turns into bearer tokens. The key of the proof must be the
// grant's for a code bound with dpop_jkt and for a public client's
// refresh token, or a kept one; a confidential client's rotated refresh
// token is bound to the client instead, which may move to a new key (RFC
// 9449 section 5).
func (v *Verifier) Bind(ctx context.Context, r *http.Request, htu string, g Grant) (string, error) {
	if !Present(r) {
		switch {
		case g.Required:
			return "", ErrInvalidProof.WithHint("This client's access tokens are DPoP-bound (dpop_bound_access_tokens): send a DPoP proof.")
		case g.Bound != "":
			return "", ErrInvalidProof.WithHint("The grant is bound to a DPoP key: send a DPoP proof made with it.")
		}
		return "", nil
	}
	p, err := v.Check(ctx, r, htu)
	if err != nil {
		return "", err
	}
	if g.Bound != "" && p.JKT != g.Bound && (g.Type == "authorization_code" || g.Public || g.Kept) {
		return "", ErrInvalidProof.WithHint("The DPoP proof's key is not the one the grant is bound to.")
	}
	return p.JKT, nil
}

// ValidJKT reports whether s has the form of a JWK SHA-256 thumbprint:
// 43 base64url characters (the dpop_jkt parameter of RFC 9449 section
// 10).
func ValidJKT(s string) bool {
	if len(s) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}
