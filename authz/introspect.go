package authz

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/apikeys"
	"github.com/idvauth/idvauth/authz/clientauth"
	"github.com/idvauth/idvauth/authz/dpop"
	"github.com/idvauth/idvauth/authz/fapi"
	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/storage"
)

// introspector is the fosite token introspector for our JWT access tokens.
// It verifies the signature first, so garbage and forged tokens cost no
// store read, then reads the token's record: a revoked token, or one of a
// deleted client, has none.
type introspector struct {
	s *Server
}

var _ fosite.TokenIntrospector = (*introspector)(nil)

// errStoreUnavailable marks a store failure during introspection: the
// answer is 503, never a guess.
var errStoreUnavailable = fosite.ErrTemporarilyUnavailable

// IntrospectToken implements fosite.TokenIntrospector.
func (in *introspector) IntrospectToken(ctx context.Context, token string, _ fosite.TokenUse, ar fosite.AccessRequester, scopes []string) (fosite.TokenUse, error) {
	if age := in.s.keeper.SinceLoad(); age > 3*in.s.cfg.KeyCheckInterval {
		// The ring may not know another replica's new key (its tokens
		// would look forged) nor a key taken out: neither answer would
		// be certain.
		return "", errStoreUnavailable.WithDebugf("signing keys last loaded %v ago", age.Round(time.Second))
	}
	claims, _, sig, err := in.s.strategy.verifyAccessToken(token)
	if err != nil {
		return "", fosite.ErrInactiveToken.WithWrap(err)
	}
	sess, _ := ar.GetSession().(*session)
	if sess != nil {
		sess.introspected = &introspectedToken{jti: claims.JTI, clientID: claims.ClientID} // signed by us: safe to record
	}
	rec, err := in.s.store.GetToken(ctx, storage.AccessToken, sig)
	if err != nil {
		if isNotFound(err) {
			return "", fosite.ErrInactiveToken
		}
		return "", errStoreUnavailable.WithWrap(err).WithDebug(err.Error())
	}
	if rec.ClientID != claims.ClientID || rec.JTI != claims.JTI || !rec.ExpiresAt.After(in.s.now()) {
		return "", fosite.ErrInactiveToken
	}
	for _, sc := range scopes {
		if !slices.Contains(rec.Scopes, sc) {
			return "", fosite.ErrInactiveToken
		}
	}
	ar.Merge(requesterOf(rec))
	if sess, ok := ar.GetSession().(*session); ok && claims.Cnf != nil { // merged: the stored grant's session
		sess.CertThumbprint, sess.DPoPJKT = claims.Cnf.X5tS256, claims.Cnf.JKT
	}
	return fosite.AccessToken, nil
}

// introspection is the RFC 7662 answer for an active token.
type introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id"`
	Subject   string   `json:"sub"`
	Audience  []string `json:"aud"`
	Issuer    string   `json:"iss"`
	Expiry    int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	JTI       string   `json:"jti"`
	TokenType string   `json:"token_type"`
	Cnf       *cnf     `json:"cnf,omitempty"`
}

// maxTokenLen bounds the token parameter; our tokens are far shorter.
const maxTokenLen = 8 << 10

// handleIntrospect serves /oauth2/introspect (RFC 7662). The caller must
// authenticate as a client with introspection_allowed. Any token that is
// not an active token of ours for one of the caller's introspection
// audiences is {"active": false} and nothing more.
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if oe := web.ReadForm(w, r); oe != nil {
		oe.Write(w)
		return
	}
	if !s.dpop.CheckEndpoint(w, r, s.cfg.Issuer+"/oauth2/introspect") {
		return
	}
	e := storage.AuditEntry{Type: adminapi.EventTokenIntrospected, Actor: audit.Anonymous, ClientID: clientauth.ClaimedID(r), IP: s.ips.String(r)}
	caller := s.introspectionCaller(w, r, &e)
	if caller == nil {
		return
	}
	if !r.PostForm.Has("token") {
		web.WriteError(w, http.StatusBadRequest, "invalid_request", "The 'token' parameter is missing.")
		return
	}
	token := r.PostForm.Get("token")
	var scopes []string
	if sc := r.PostForm.Get("scope"); sc != "" {
		scopes = strings.Fields(sc)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	sess := &session{}
	e.Details = map[string]string{"active": "false"}
	answerInactive := func() {
		if t := sess.introspected; t != nil {
			e.Details["jti"], e.Details["token_client_id"] = t.jti, t.clientID
		}
		if s.trail.AppendRead(ctx, e) != nil {
			web.WriteUnavailable(w, "The request could not be recorded; retry.")
			return
		}
		_, _ = w.Write(inactive)
		s.metrics.Introspected(false)
	}
	if len(token) > maxTokenLen || token == "" {
		answerInactive()
		return
	}
	if apikeys.Looks(token) {
		if !s.introspectAPIKey(ctx, w, r, caller, token, scopes, &e) {
			answerInactive()
		}
		return
	}
	_, ar, err := s.provider.IntrospectToken(ctx, token, fosite.AccessToken, sess, scopes...)
	if err != nil {
		if errors.Is(err, fosite.ErrTemporarilyUnavailable) || fosite.ErrorToRFC6749Error(err).CodeField >= 500 {
			web.LogFosite(ctx, s.log, "introspect", err)
			web.WriteUnavailable(w, "The token could not be checked; retry.")
			return
		}
		answerInactive()
		return
	}
	if !slices.ContainsFunc(ar.GetGrantedAudience(), func(a string) bool { return slices.Contains(caller.IntrospectionAudiences(), a) }) {
		e.Details["reason"] = "audience" // a token for another resource server
		answerInactive()
		return
	}
	sess = ar.GetSession().(*session)
	resp := introspectionOf(s.cfg.Issuer, ar, sess)
	e.Subject = sess.Subject
	e.Details = map[string]string{"active": "true", "jti": sess.JTI, "token_client_id": resp.ClientID}
	if s.trail.AppendRead(ctx, e) != nil {
		web.WriteUnavailable(w, "The request could not be recorded; retry.")
		return
	}
	_ = json.NewEncoder(w).Encode(resp)
	s.metrics.Introspected(true)
}

var inactive = []byte(`{"active":false}` + "\n")

// introspectionCaller authenticates the caller of introspection, which
// must be allowed to introspect, and completes its audit entry e. On a
// refusal it answers (after auditing it) and returns nil.
func (s *Server) introspectionCaller(w http.ResponseWriter, r *http.Request, e *storage.AuditEntry) *clientauth.Client {
	ctx := r.Context()
	caller, err := fapi.Authenticate(s.cfg.Profile, s.clients.Authenticate)(ctx, r, r.PostForm)
	if err != nil {
		web.LogFosite(ctx, s.log, "introspect", err)
		e.Outcome = fosite.ErrorToRFC6749Error(err).ErrorField
		if e.Outcome != "too_many_requests" && s.trail.Append(ctx, *e) != nil {
			web.WriteUnavailable(w, "The request could not be recorded; retry.")
			return nil
		}
		writeFositeJSON(w, err)
		return nil
	}
	e.ClientID, e.Actor = caller.GetID(), audit.Client(caller.GetID())
	c := caller.(*clientauth.Client)
	if !c.Rec.IntrospectionAllowed {
		e.Outcome = "unauthorized_client"
		if s.trail.Append(ctx, *e) != nil {
			web.WriteUnavailable(w, "The request could not be recorded; retry.")
			return nil
		}
		web.WriteError(w, http.StatusUnauthorized, "unauthorized_client", "This client may not call the introspection endpoint.")
		return nil
	}
	return c
}

// introspectionOf is the answer of the server issuer for the active token
// ar, of session sess.
func introspectionOf(issuer string, ar fosite.AccessRequester, sess *session) introspection {
	resp := introspection{
		Active:    true,
		Scope:     strings.Join(ar.GetGrantedScopes(), " "),
		ClientID:  ar.GetClient().GetID(),
		Subject:   sess.Subject,
		Audience:  ar.GetGrantedAudience(),
		Issuer:    issuer,
		Expiry:    sess.AccessExp.Unix(),
		IssuedAt:  ar.GetRequestedAt().Unix(),
		JTI:       sess.JTI,
		TokenType: "Bearer",
	}
	if sess.CertThumbprint != "" || sess.DPoPJKT != "" {
		resp.Cnf = &cnf{X5tS256: sess.CertThumbprint, JKT: sess.DPoPJKT}
	}
	if sess.DPoPJKT != "" {
		resp.TokenType = dpop.TokenType
	}
	return resp
}
