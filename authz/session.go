package authz

import (
	"maps"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"
)

// session is the fosite session of one grant. It holds no personal data:
// the subject is an opaque identifier (a client ID for client credentials,
// a user ID for a person). It is stored, as JSON, with authorization codes
// and refresh tokens, so that the grant can resume on any replica.
type session struct {
	Subject    string    `json:"sub"`
	AccessExp  time.Time `json:"access_exp"`
	RefreshExp time.Time `json:"refresh_exp"`
	CodeExp    time.Time `json:"code_exp"`
	// GrantStart is when the grant's code was redeemed: its refresh
	// tokens, however often rotated, expire RefreshTokenMaxLifetime
	// after it. Zero until then (and in refresh tokens stored before it
	// was kept: their chain's bound starts at their next rotation).
	GrantStart time.Time `json:"grant_start,omitzero"`
	// CertThumbprint is the x5t#S256 of the client certificate the
	// grant's tokens are bound to (RFC 8705 section 3); empty if none.
	CertThumbprint string `json:"x5t_s256,omitempty"`
	// DPoPJKT is the thumbprint of the DPoP key the grant's access
	// tokens are bound to (RFC 9449 cnf.jkt); empty if none.
	DPoPJKT string `json:"jkt,omitempty"`
	// KeyID and JTI are set by the access-token strategy when it signs.
	KeyID string `json:"-"`
	JTI   string `json:"-"`
	// Claims are the ID token claims of an OpenID Connect grant: subject,
	// auth_time, the time of the request, the nonce.
	Claims *jwt.IDTokenClaims `json:"id_token_claims,omitempty"`
	// Headers are the ID token's extra JOSE headers (none today).
	Headers *jwt.Headers `json:"-"`

	// grantScope is the scope of the grant when the access token of a
	// refresh was narrowed to fewer (see tokenreq.NarrowScope): the new refresh
	// token keeps it. Never stored apart from that record's scope.
	grantScope []string
	// grantAudience is grantScope's twin for the audience (tokenreq.NarrowAudience).
	grantAudience []string
	// storedBound: the refresh token presented was stored bound to a DPoP
	// key or a certificate (see refresh.Bindable); never stored.
	storedBound bool
	// codeLimit, if set, bounds the code's lifetime (a FAPI 2.0 client's
	// under a longer server setting); never stored.
	codeLimit time.Duration

	// Facts for the audit trail that travel with the request through
	// fosite; never stored. issuance is set by the token endpoint for a
	// token whose entry the store appends with it; introspected by the
	// introspector once a token's signature verified.
	issuance     *issuance
	introspected *introspectedToken
}

// issuance is what the audit entry of a client_credentials token needs
// besides the request fosite hands the store; audited says that the store
// appended the entry with the token, sig is the token's signature (set
// when it was handed to the store).
type issuance struct {
	grant, ip, sig string
	audited        bool
}

// introspectedToken is what the introspector learnt of a token whose
// signature verified, for the audit entry of an inactive answer.
type introspectedToken struct{ jti, clientID string }

var (
	_ fosite.Session = (*session)(nil)
	_ openid.Session = (*session)(nil)
)

func (s *session) SetExpiresAt(t fosite.TokenType, exp time.Time) {
	switch t {
	case fosite.AccessToken:
		s.AccessExp = exp
	case fosite.RefreshToken:
		s.RefreshExp = exp
	case fosite.AuthorizeCode:
		// fosite sets it from its own clock: bound it by the same.
		if limit := time.Now().UTC().Add(s.codeLimit); s.codeLimit > 0 && exp.After(limit) {
			exp = limit
		}
		s.CodeExp = exp
	}
}

func (s *session) GetExpiresAt(t fosite.TokenType) time.Time {
	switch t {
	case fosite.AccessToken:
		return s.AccessExp
	case fosite.RefreshToken:
		return s.RefreshExp
	case fosite.AuthorizeCode:
		return s.CodeExp
	}
	return time.Time{}
}

func (s *session) GetUsername() string { return "" }
func (s *session) GetSubject() string  { return s.Subject }

// IDTokenClaims implements openid.Session.
func (s *session) IDTokenClaims() *jwt.IDTokenClaims {
	if s.Claims == nil {
		s.Claims = &jwt.IDTokenClaims{Subject: s.Subject}
	}
	return s.Claims
}

// IDTokenHeaders implements openid.Session.
func (s *session) IDTokenHeaders() *jwt.Headers {
	if s.Headers == nil {
		s.Headers = &jwt.Headers{}
	}
	return s.Headers
}

func (s *session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	c := *s
	if s.Claims != nil {
		cl := *s.Claims
		cl.Audience = append([]string(nil), s.Claims.Audience...)
		cl.AuthenticationMethodsReferences = append([]string(nil), s.Claims.AuthenticationMethodsReferences...)
		cl.Extra = maps.Clone(s.Claims.Extra)
		c.Claims = &cl
	}
	if s.Headers != nil {
		c.Headers = &jwt.Headers{Extra: maps.Clone(s.Headers.Extra)}
	}
	return &c
}

// BindDPoP binds the grant to the DPoP key whose thumbprint is jkt.
func (s *session) BindDPoP(jkt string) { s.DPoPJKT = jkt }

// StoredBound implements refresh.Bindable.
func (s *session) StoredBound() bool { return s.storedBound }

// LimitCodeLifetime makes the grant's code live at most d.
func (s *session) LimitCodeLifetime(d time.Duration) { s.codeLimit = d }

// newGrantSession is the session of a person's grant, for the login pages.
func newGrantSession(userID string, claims *jwt.IDTokenClaims) fosite.Session {
	return &session{Subject: userID, Claims: claims}
}
