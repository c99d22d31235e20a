package authz

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"

	"github.com/idvauth/idvauth/authz/internal/hotpath"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/keys"
)

// jwtStrategy issues RFC 9068 JWT access tokens signed by the key ring's
// active key, and identifies them by their JWS signature.
type jwtStrategy struct {
	s *Server
	// verified holds the tokens whose signature verified (see
	// verifyAccessToken); nil means none are kept.
	verified *hotpath.Cache[verifiedToken]
}

// verifiedTokens bounds the cache of verified access tokens: a few hundred
// bytes an entry.
const verifiedTokens = 4096

// verifiedToken is what verifying a token found: its claims and the key
// that signed it. It holds neither the token nor its signature, from which
// with the claims the token could be rebuilt. The claims are shared: read
// only.
type verifiedToken struct {
	claims accessClaims
	key    *keys.Key
}

var _ oauth2.AccessTokenStrategy = (*jwtStrategy)(nil)

// AccessTokenSignature returns the token's key in storage
// (keys.RecordKey: a digest of its signature, never the signature).
func (j *jwtStrategy) AccessTokenSignature(_ context.Context, token string) string {
	return keys.RecordKey(token)
}

// bufPool recycles claim buffers: the hot path builds claims by appending.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// GenerateAccessToken signs the access token. Claims: iss, sub, aud, exp,
// iat, jti, client_id, scope; header typ at+jwt and kid.
func (j *jwtStrategy) GenerateAccessToken(_ context.Context, req fosite.Requester) (string, string, error) {
	sess, ok := req.GetSession().(*session)
	if !ok {
		return "", "", fosite.ErrServerError.WithDebug("unexpected session type")
	}
	key, err := j.s.ring.Active(j.s.cfg.AccessTokenAlg)
	if err != nil {
		return "", "", fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	now := j.s.now()
	exp := sess.AccessExp
	if exp.IsZero() {
		exp = now.Add(j.s.cfg.AccessTokenTTL)
	}
	jti := web.Random(16)

	bp := bufPool.Get().(*[]byte)
	b := (*bp)[:0]
	b = append(b, `{"iss":`...)
	b = appendJSONString(b, j.s.cfg.Issuer)
	b = append(b, `,"sub":`...)
	b = appendJSONString(b, sess.Subject)
	b = append(b, `,"aud":[`...)
	for i, a := range req.GetGrantedAudience() {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, a)
	}
	b = append(b, `],"exp":`...)
	b = strconv.AppendInt(b, exp.Unix(), 10)
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, now.Unix(), 10)
	b = append(b, `,"jti":"`...)
	b = append(b, jti...)
	b = append(b, `","client_id":`...)
	b = appendJSONString(b, req.GetClient().GetID())
	if sc := req.GetGrantedScopes(); len(sc) > 0 {
		b = append(b, `,"scope":`...)
		b = appendJSONString(b, strings.Join(sc, " "))
	}
	b = appendCnf(b, sess)
	b = append(b, '}')
	token, _, err := key.SignJWT(keys.TypeAccessToken, b)
	*bp = b
	bufPool.Put(bp)
	if err != nil {
		return "", "", fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	sess.KeyID, sess.JTI, sess.AccessExp = key.ID, jti, exp
	return token, keys.RecordKey(token), nil
}

// accessClaims are the claims of our access tokens.
type accessClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience []string `json:"aud"`
	Expiry   int64    `json:"exp"`
	IssuedAt int64    `json:"iat"`
	JTI      string   `json:"jti"`
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope"`
	Cnf      *cnf     `json:"cnf,omitempty"`
}

// cnf is the RFC 7800 confirmation claim of a certificate-bound token
// (RFC 8705 section 3.1).
type cnf struct {
	X5tS256 string `json:"x5t#S256,omitempty"`
	// JKT: RFC 9449 section 6.1, a DPoP-bound token.
	JKT string `json:"jkt,omitempty"`
}

// appendCnf appends the cnf claim of sess's bindings, if any, to b.
func appendCnf(b []byte, sess *session) []byte {
	if sess.CertThumbprint == "" && sess.DPoPJKT == "" {
		return b
	}
	b = append(b, `,"cnf":{`...)
	if sess.CertThumbprint != "" {
		b = append(b, `"x5t#S256":`...)
		b = appendJSONString(b, sess.CertThumbprint)
	}
	if sess.DPoPJKT != "" {
		if sess.CertThumbprint != "" {
			b = append(b, ',')
		}
		b = append(b, `"jkt":`...)
		b = appendJSONString(b, sess.DPoPJKT)
	}
	return append(b, '}')
}

var errTokenInvalid = errors.New("token is not valid")

// verifyAccessToken checks a JWT access token's signature against the
// published keys, its typ, issuer and expiry. It does not consult the
// store.
//
// A token verified before, byte for byte, whose key is still published, is
// not verified again (the signature over the same bytes with the same key
// gives the same answer); its issuer and expiry are checked as for any
// other. The claims it returns are shared: the caller must not modify them.
func (j *jwtStrategy) verifyAccessToken(token string) (accessClaims, *keys.Key, string, error) {
	if j.verified != nil {
		if v, ok := j.verified.Get(token); ok && j.s.ring.Publishes(v.key.ID) {
			if j.s.now().Unix() >= v.claims.Expiry {
				j.verified.Delete(token)
				return v.claims, nil, "", errTokenInvalid
			}
			return v.claims, v.key, keys.RecordKey(token), nil
		}
	}
	var c accessClaims
	payload, key, _, err := j.s.ring.Verify(token, keys.TypeAccessToken)
	if err != nil {
		return c, nil, "", err
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return c, nil, "", errTokenInvalid
	}
	if c.Issuer != j.s.cfg.Issuer || c.ClientID == "" || c.JTI == "" || j.s.now().Unix() >= c.Expiry {
		return c, nil, "", errTokenInvalid
	}
	if j.verified != nil {
		j.verified.Put(token, verifiedToken{claims: c, key: key})
	}
	return c, key, keys.RecordKey(token), nil
}

// ValidateAccessToken implements oauth2.AccessTokenStrategy.
func (j *jwtStrategy) ValidateAccessToken(_ context.Context, _ fosite.Requester, token string) error {
	if _, _, _, err := j.verifyAccessToken(token); err != nil {
		return fosite.ErrTokenExpired.WithWrap(err)
	}
	return nil
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD; <, > and & are escaped as encoding/json does.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
