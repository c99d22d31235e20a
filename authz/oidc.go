package authz

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/clientauth"
	"github.com/idvauth/idvauth/authz/dpop"
	"github.com/idvauth/idvauth/authz/fapi"
	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/certs"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/authz/mfa"
	"github.com/idvauth/idvauth/keys"
	"github.com/idvauth/idvauth/scopes"
	"github.com/idvauth/idvauth/storage"
)

// idTokenStrategy signs OpenID Connect ID tokens with the key ring: the
// client's id_token_signed_response_alg, or the server's default (RS256).
// The checks of prompt and max_age happen before a code is issued (see
// authorize.go); by the time an ID token is signed the person has
// authenticated as the request asked.
type idTokenStrategy struct {
	s *Server
}

var _ openid.OpenIDConnectTokenStrategy = (*idTokenStrategy)(nil)

// idClaims are the claims of our ID tokens. No personal data: profile and
// email claims are released only at the userinfo endpoint.
type idClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience []string `json:"aud"`
	// AuthorizedParty is the client the token was issued to.
	AuthorizedParty string   `json:"azp"`
	Expiry          int64    `json:"exp"`
	IssuedAt        int64    `json:"iat"`
	AuthTime        int64    `json:"auth_time"`
	Nonce           string   `json:"nonce,omitempty"`
	AccessTokenHash string   `json:"at_hash,omitempty"`
	JTI             string   `json:"jti"`
	AMR             []string `json:"amr,omitempty"`
	ACR             string   `json:"acr,omitempty"`
	// SID is the browser session (OpenID Connect Back-Channel Logout
	// 1.0 section 2.1).
	SID string `json:"sid,omitempty"`
}

// GenerateIDToken implements openid.OpenIDConnectTokenStrategy.
func (t *idTokenStrategy) GenerateIDToken(_ context.Context, lifespan time.Duration, req fosite.Requester) (string, error) {
	sess, ok := req.GetSession().(*session)
	if !ok {
		return "", fosite.ErrServerError.WithDebug("unexpected session type")
	}
	c := sess.IDTokenClaims()
	if c.Subject == "" || c.AuthTime.IsZero() {
		return "", fosite.ErrServerError.WithDebug("ID token without subject or auth_time")
	}
	if lifespan <= 0 {
		lifespan = t.s.cfg.IDTokenTTL
	}
	alg := t.s.cfg.IDTokenAlg
	if cl, ok := req.GetClient().(*clientauth.Client); ok && cl.Rec.IDTokenSignedResponseAlg != "" {
		alg = cl.Rec.IDTokenSignedResponseAlg
	}
	if fapi.Binds(t.s.cfg.Profile, req.GetClient()) {
		alg = fapi.IDTokenAlgOf(alg)
	}
	key, err := t.s.ring.Active(alg)
	if err != nil {
		return "", fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	jti := web.Random(16)
	now := t.s.now()
	id := req.GetClient().GetID()
	payload, err := json.Marshal(idClaims{
		Issuer: t.s.cfg.Issuer, Subject: c.Subject, Audience: []string{id}, AuthorizedParty: id,
		Expiry: now.Add(lifespan).Unix(), IssuedAt: now.Unix(), AuthTime: c.AuthTime.Unix(),
		Nonce: c.Nonce, AccessTokenHash: c.AccessTokenHash, JTI: jti, AMR: amrOf(c), ACR: acrOf(c), SID: sidOf(c),
	})
	if err != nil {
		return "", fosite.ErrServerError.WithWrap(err)
	}
	token, _, err := key.SignJWT(keys.TypeJWT, payload)
	if err != nil {
		return "", fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	return token, nil
}

// amrOf and acrOf are the amr and acr of a grant's sign-in; a grant made
// before they were kept was signed in with a password.
func amrOf(c *jwt.IDTokenClaims) []string {
	if len(c.AuthenticationMethodsReferences) == 0 {
		return []string{mfa.AMRPassword}
	}
	return c.AuthenticationMethodsReferences
}

func sidOf(c *jwt.IDTokenClaims) string {
	sid, _ := c.Extra["sid"].(string)
	return sid
}

func acrOf(c *jwt.IDTokenClaims) string {
	if c.AuthenticationContextClassReference == "" {
		return mfa.ACRPassword
	}
	return c.AuthenticationContextClassReference
}

// hintDecoder lets fosite's OpenID Connect validator read an id_token_hint:
// an ID token of ours, verified with the published keys; an expired one is
// still a valid hint. It signs nothing.
type hintDecoder struct {
	s *Server
}

var _ jwt.Signer = hintDecoder{}

var errNotASigner = errors.New("the id_token_hint decoder does not sign")

func (h hintDecoder) Decode(_ context.Context, token string) (*jwt.Token, error) {
	payload, _, _, err := h.s.ring.Verify(token, keys.TypeJWT)
	if err != nil {
		return nil, err
	}
	var claims jwt.MapClaims
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, err
	}
	if iss, _ := claims["iss"].(string); iss != h.s.cfg.Issuer {
		return nil, errors.New("id_token_hint from another issuer")
	}
	return &jwt.Token{Claims: claims}, nil
}

func (hintDecoder) Generate(context.Context, jwt.MapClaims, jwt.Mapper) (string, string, error) {
	return "", "", errNotASigner
}
func (hintDecoder) Validate(context.Context, string) (string, error) { return "", errNotASigner }
func (hintDecoder) Hash(context.Context, []byte) ([]byte, error)     { return nil, errNotASigner }
func (hintDecoder) GetSignature(context.Context, string) (string, error) {
	return "", errNotASigner
}
func (hintDecoder) GetSigningMethodLength(context.Context) int { return 0 }

// userInfo is the answer of /userinfo: sub always, the rest per granted
// scope.
type userInfo struct {
	Subject           string `json:"sub"`
	Name              string `json:"name,omitempty"`
	PreferredUsername string `json:"preferred_username,omitempty"`
	UpdatedAt         int64  `json:"updated_at,omitempty"`
	Email             string `json:"email,omitempty"`
}

// handleUserinfo serves /userinfo (OpenID Connect Core 5.3): GET or POST
// with a bearer access token that was granted openid. Errors follow RFC
// 6750 in the WWW-Authenticate header.
func (s *Server) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		web.WriteError(w, http.StatusMethodNotAllowed, "invalid_request", "The request method must be GET or POST.")
		return
	}
	scheme, token, ok := dpop.ReadAccessToken(w, r)
	if !ok {
		return
	}
	bearerError := func(status int, code, desc string) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="idvauth", error="`+code+`", error_description="`+desc+`"`)
		if scheme == dpop.SchemeDPoP {
			w.Header().Set("WWW-Authenticate", dpop.Challenge(code, desc))
		}
		web.WriteError(w, status, code, desc)
	}
	if len(token) > maxTokenLen {
		bearerError(http.StatusUnauthorized, "invalid_token", "The access token is not active.")
		return
	}
	_, ar, err := s.provider.IntrospectToken(ctx, token, fosite.AccessToken, &session{})
	if err != nil {
		if errors.Is(err, fosite.ErrTemporarilyUnavailable) || fosite.ErrorToRFC6749Error(err).CodeField >= 500 {
			web.LogFosite(ctx, s.log, "userinfo", err)
			web.WriteError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The token could not be checked; retry.")
			return
		}
		bearerError(http.StatusUnauthorized, "invalid_token", "The access token is not active.")
		return
	}
	// RFC 8705 section 3: a certificate-bound token is good only with
	// its certificate.
	if sess, ok := ar.GetSession().(*session); ok && sess.CertThumbprint != "" {
		chain, err := s.clients.PeerCertificates(r)
		if err != nil || len(chain) == 0 || subtle.ConstantTimeCompare([]byte(certs.Thumbprint(chain[0])), []byte(sess.CertThumbprint)) != 1 {
			bearerError(http.StatusUnauthorized, "invalid_token", "The access token is bound to a client certificate that this request did not present.")
			return
		}
	}
	if !s.dpop.Access(w, r, s.cfg.Issuer+"/userinfo", scheme, token, boundKey(ar)) {
		return
	}
	granted := ar.GetGrantedScopes()
	if !granted.Has(scopes.OpenID) {
		bearerError(http.StatusForbidden, "insufficient_scope", "The access token was not granted the openid scope.")
		return
	}
	u, err := s.store.GetUser(ctx, ar.GetSession().GetSubject())
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			// The person was deleted, or the token is a client's own.
			bearerError(http.StatusUnauthorized, "invalid_token", "The access token is not active.")
			return
		}
		web.LogFosite(ctx, s.log, "userinfo", fosite.ErrServerError.WithWrap(err).WithDebug(err.Error()))
		web.WriteError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The user could not be read; retry.")
		return
	}
	out := userInfo{Subject: u.ID}
	if granted.Has(scopes.Profile) {
		out.Name, out.PreferredUsername, out.UpdatedAt = u.Name, u.Username, u.UpdatedAt.Unix()
	}
	if granted.Has(scopes.Email) {
		out.Email = u.Email
	}
	cid := ar.GetClient().GetID()
	if s.trail.AppendRead(ctx, storage.AuditEntry{Type: adminapi.EventUserinfoRead, Actor: audit.Client(cid), ClientID: cid, Subject: u.ID,
		IP: s.ips.String(r), Details: map[string]string{"scope": strings.Join(granted, " ")}}) != nil {
		web.WriteError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The request could not be recorded; retry.")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
