package clientauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/ory/fosite"

	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/storage"
)

// JWTBearerAssertion is the client_assertion_type of RFC 7523 section 2.2.
const JWTBearerAssertion = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionAlgs are the JWS algorithms a client assertion may use. "none"
// and the HMAC algorithms are not among them: go-jose refuses them before
// any key is looked at, so a public key can never serve as an HMAC secret.
var assertionAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.PS256, jose.EdDSA}

// Limits of client assertions.
const (
	maxAssertionLen = 8 << 10
	maxJTILen       = 256
	// maxAssertionLifetime: an assertion must expire at most this long
	// after it is used, so that the used-jti records stay few and short.
	maxAssertionLifetime = 5 * time.Minute
	// assertionLeeway allows for clock differences with the client.
	assertionLeeway = 30 * time.Second
)

// assertionClaims are the claims of RFC 7523 section 3 that are checked.
type assertionClaims struct {
	jwt.Claims
}

// parsedAssertion is a client assertion read but not yet verified.
type parsedAssertion struct {
	tok    *jwt.JSONWebToken
	claims assertionClaims // unverified until verify succeeds
	alg    string
	kid    string
}

// parseAssertion reads a client assertion without verifying it: the JWS
// must be compact, one signature, an allowed algorithm; iss and sub must
// both be the client ID.
func parseAssertion(raw string) (*parsedAssertion, error) {
	if raw == "" || len(raw) > maxAssertionLen {
		return nil, fmt.Errorf("the assertion must be 1 to %d bytes", maxAssertionLen)
	}
	tok, err := jwt.ParseSigned(raw, assertionAlgs)
	if err != nil {
		return nil, errors.New("the assertion is not a compact JWS signed with ES256, RS256, PS256 or EdDSA")
	}
	if len(tok.Headers) != 1 {
		return nil, errors.New("the assertion must have one signature")
	}
	p := &parsedAssertion{tok: tok, alg: tok.Headers[0].Algorithm, kid: tok.Headers[0].KeyID}
	if err := tok.UnsafeClaimsWithoutVerification(&p.claims); err != nil {
		return nil, errors.New("the assertion's claims are not valid JSON")
	}
	c := p.claims
	switch {
	case c.Issuer == "" || c.Subject == "":
		return nil, errors.New("the assertion needs iss and sub, both the client_id")
	case c.Issuer != c.Subject:
		return nil, errors.New("the assertion's iss and sub differ: both must be the client_id")
	case c.ID == "" || len(c.ID) > maxJTILen:
		return nil, fmt.Errorf("the assertion needs a jti of at most %d characters", maxJTILen)
	case c.Expiry == nil:
		return nil, errors.New("the assertion needs exp")
	}
	return p, nil
}

// authenticateAssertion is private_key_jwt client authentication (RFC
// 7523 section 2.2 and 3, OpenID Connect Core section 9).
func (a *Authenticator) authenticateAssertion(ctx context.Context, r *http.Request, form url.Values, basic bool, ip string) (*Client, error) {
	if basic || form.Has("client_secret") {
		return nil, fosite.ErrInvalidRequest.WithHint("Use one client authentication method, not a client assertion and a secret.")
	}
	if form.Get("client_assertion_type") != JWTBearerAssertion || len(form["client_assertion"]) != 1 {
		return nil, fosite.ErrInvalidRequest.WithHintf("client_assertion_type must be %s, with one client_assertion.", JWTBearerAssertion)
	}
	p, err := parseAssertion(form.Get("client_assertion"))
	if err != nil {
		a.debugAuthFailure(ctx, form.Get("client_id"), "bad assertion", err)
		return nil, fosite.ErrInvalidClient
	}
	id := p.claims.Subject
	if fid := form.Get("client_id"); fid != "" && fid != id {
		return nil, fosite.ErrInvalidRequest.WithHint("The client_id in the body differs from the assertion's sub.")
	}
	c, err := a.loadUnlocked(ctx, r, id, ip)
	if err != nil {
		a.spendVerify(p)
		return nil, err
	}
	fail := func(reason string, err error) (*Client, error) { return nil, a.fail(ctx, id, ip, reason, err) }
	if c.Rec.TokenEndpointAuthMethod != MethodPrivateKeyJWT {
		a.spendVerify(p)
		return fail("wrong authentication method "+MethodPrivateKeyJWT, nil)
	}
	keys, err := a.clientKeys(ctx, c, p.kid)
	if err != nil {
		// The client's keys are unreachable: not the caller's fault, so
		// not counted against it.
		a.debugAuthFailure(ctx, id, "client keys unavailable", err)
		return nil, fosite.ErrInvalidClient
	}
	claims, err := a.verifyAssertion(p, keys)
	if err != nil {
		return fail("assertion signature", err)
	}
	if err := a.checkAssertionClaims(claims, c.Rec.TokenEndpointAudienceAllowed); err != nil {
		return fail("assertion claims", err)
	}
	// The jti is kept past the assertion's end by more than the leeway:
	// replicas' clocks differ from the janitor's too.
	if err := a.store.UseAssertion(ctx, id, claims.ID, claims.Expiry.Time().Add(assertionLeeway+a.cfg.ClockSkew)); err != nil {
		if errors.Is(err, storage.ErrAlreadyExists) {
			return fail("assertion replayed", nil)
		}
		return nil, fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error())
	}
	return c, nil
}

// verify checks the signature with the key named by kid, or with each
// key of the set that fits the algorithm when there is no kid, and
// returns the verified claims.
func (p *parsedAssertion) verify(set *jose.JSONWebKeySet) (assertionClaims, error) {
	var claims assertionClaims
	for _, k := range set.Keys {
		if p.kid != "" && k.KeyID != p.kid {
			continue
		}
		if !keyFitsAlg(k, p.alg) {
			continue
		}
		if err := p.tok.Claims(k.Key, &claims); err == nil {
			return claims, nil
		}
	}
	return claims, errors.New("no registered key verifies the assertion")
}

// dummyKeysJSON are public keys of each type, their private halves thrown
// away. An assertion of an unknown client, or of a client of another
// method, is checked against the one that fits its alg (spendVerify), so
// that its failure costs a signature verification, as a forged assertion
// for a private_key_jwt client does: the time must not tell which client
// IDs exist (issue 17 item 10).
const dummyKeysJSON = `{"keys":[{"kty":"EC","crv":"P-256","x":"mmx6iqKg1SZvE_obYrC2OlYskX6T68JMCdT_rVTBXhs","y":"UFCHzWHlPqa_uwnEVIK2JFECexDv_Q3KiSTX0xhW-6A"},{"kty":"RSA","n":"toHiwHkQ6bH0xYgjA3kxtgP51reVc2vs5mULlI68d5c5SJeFgmkmy8uWO5ezjHWHLgIWJ59oldshvbrWP65ukoXt5Uz0RZt8skETj76TJRCPTxOmzFSIwLgUzAfzm_LI6tsW_XQhJ5KfFVEOdomrOGsRxoWG6u7d9EFocUBDtAWp7T5L23rjJwZq-44R_bSUfJH10Bgs7Qs7dF2LIdFBZWyblRUCl-ZbTvOJM1SfXXL4ffQnt4-N__4aR6xBr16bYcCxd_pG8V6NV8V3H_kbEY8jL-SgMGPKPTitlfr8H4F45eDI2LnHhT-FOOb-kLiO8nDzYOP4eO4sL61u-zpQZw","e":"AQAB"},{"kty":"OKP","crv":"Ed25519","x":"jUZdXWwWoQo8eRhaLcq9sRITsWv2e4efkF2OJWknVNI"}]}`

// spendVerify verifies p with the dummy key that fits its alg, ignoring
// its kid, for the time it takes.
func (a *Authenticator) spendVerify(p *parsedAssertion) {
	q := *p
	q.kid = ""
	_, _ = a.verifyAssertion(&q, a.dummyKeys)
}

// keyFitsAlg reports whether k may verify alg: the key type fits, and
// the key's own alg, if it names one, is alg.
func keyFitsAlg(k jose.JSONWebKey, alg string) bool {
	if k.Algorithm != "" && k.Algorithm != alg {
		return false
	}
	switch k.Key.(type) {
	case *ecdsa.PublicKey:
		return alg == string(jose.ES256)
	case *rsa.PublicKey:
		return alg == string(jose.RS256) || alg == string(jose.PS256)
	case ed25519.PublicKey:
		return alg == string(jose.EdDSA)
	}
	return false
}

// checkAssertionClaims checks the verified claims: aud is exactly this
// server's issuer identifier, one value, as draft-ietf-oauth-rfc7523bis
// asks (an assertion a client made for another server's token endpoint,
// or any endpoint, cannot be replayed here: the audience injection of
// CVE-2025-27370); the token endpoint URL, as RFC 7523 and OpenID
// Connect Core section 9 allowed, only when tokenEndpointAud (the
// client's compatibility switch) is set; and the assertion is current
// and short-lived.
func (a *Authenticator) checkAssertionClaims(c assertionClaims, tokenEndpointAud bool) error {
	now := a.now()
	if len(c.Audience) != 1 {
		return errors.New("aud must be one value: the issuer identifier")
	}
	switch aud := c.Audience[0]; {
	case aud == a.cfg.Issuer:
	case tokenEndpointAud && aud == a.cfg.Issuer+"/oauth2/token":
	default:
		return fmt.Errorf("aud %q is not the issuer identifier", web.Truncate(aud, 100))
	}
	exp := c.Expiry.Time()
	switch {
	case !now.Before(exp.Add(assertionLeeway)):
		return errors.New("the assertion has expired")
	case exp.After(now.Add(maxAssertionLifetime + assertionLeeway)):
		return fmt.Errorf("the assertion expires more than %s from now", maxAssertionLifetime)
	case c.NotBefore != nil && now.Add(assertionLeeway).Before(c.NotBefore.Time()):
		return errors.New("the assertion is not valid yet (nbf)")
	case c.IssuedAt != nil && now.Add(assertionLeeway).Before(c.IssuedAt.Time()):
		return errors.New("the assertion was issued in the future (iat)")
	case c.IssuedAt != nil && exp.Sub(c.IssuedAt.Time()) > maxAssertionLifetime+assertionLeeway:
		return fmt.Errorf("the assertion lives longer than %s (exp - iat)", maxAssertionLifetime)
	}
	return nil
}

// clientKeys returns the client's public keys: its registered jwks
// (parsed once per client record), or what its jwks_uri publishes
// (fetched, cached, refetched when kid is unknown).
func (a *Authenticator) clientKeys(ctx context.Context, c *Client, kid string) (*jose.JSONWebKeySet, error) {
	if c.Rec.JWKSURI != "" {
		return a.jwksFetch.Get(ctx, c.Rec.JWKSURI, kid)
	}
	if len(c.Rec.JWKS) == 0 {
		return nil, errors.New("the client has no keys")
	}
	return a.parsedJWKS.Get(c.Rec.ID, c.Rec.JWKS)
}

// AssertionAlgs names the JWS algorithms a client assertion may use, for
// discovery.
func AssertionAlgs() []string {
	out := make([]string, len(assertionAlgs))
	for i, a := range assertionAlgs {
		out[i] = string(a)
	}
	return out
}
