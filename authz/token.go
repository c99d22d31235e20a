package authz

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ory/fosite"
	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/admin"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/clientauth"
	"github.com/idvauth/idvauth/authz/dpop"
	"github.com/idvauth/idvauth/authz/fapi"
	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/granterr"
	"github.com/idvauth/idvauth/authz/internal/tokenreq"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/authz/operators"
	"github.com/idvauth/idvauth/authz/opsignin"
	"github.com/idvauth/idvauth/storage"
)

// Grant types.
const (
	grantClientCredentials = adminapi.GrantClientCredentials
	grantAuthorizationCode = adminapi.GrantAuthorizationCode
	grantRefreshToken      = adminapi.GrantRefreshToken
)

// handleToken serves /oauth2/token.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if oe := web.ReadForm(w, r, "audience", "resource"); oe != nil {
		oe.Write(w)
		return
	}
	form := r.PostForm
	if err := tokenreq.CheckForm(form, tokenreq.SupportedGrant, admin.ValidAudience); err != nil {
		s.writeTokenError(w, r, nil, err)
		return
	}
	gt := form.Get("grant_type")
	sess := &session{}
	ar, err := s.provider.NewAccessRequest(ctx, r, sess)
	if err != nil {
		err = granterr.Spent(gt, granterr.OwnCause(err))
		if fosite.ErrorToRFC6749Error(err).ErrorField == fosite.ErrInvalidGrant.ErrorField {
			switch gt {
			case grantAuthorizationCode:
				s.burnCode(ctx, form.Get("code"))
			case grantRefreshToken:
				s.burnStolenRefresh(ctx, form.Get("refresh_token"), ar)
			}
		}
		s.writeTokenError(w, r, ar, err)
		return
	}
	if operators.IsBuiltin(ar.GetClient().GetID()) != (r.URL.Path == opsignin.TokenPath) {
		// The admin plane's clients are served on the admin listener
		// alone, and nothing else is there.
		s.writeTokenError(w, r, ar, fosite.ErrInvalidClient.WithHint("This client is not served at this endpoint."))
		return
	}
	if err := s.prepareGrant(ar, sess, gt); err != nil {
		s.writeTokenError(w, r, ar, err)
		return
	}
	if err := s.bindProof(ctx, w, r, ar, gt); err != nil {
		s.writeTokenError(w, r, ar, err)
		return
	}
	// A client_credentials token is stored with its entry, in one commit
	// (see fositeStore.createToken).
	var iss *issuance
	if gt == grantClientCredentials && s.trail.Enabled() {
		iss = &issuance{grant: gt, ip: s.ips.String(r)}
		sess.issuance = iss
	}
	resp, err := s.provider.NewAccessResponse(ctx, ar)
	if err != nil {
		err = granterr.Spent(gt, granterr.OwnCause(err))
		if iss != nil && errors.Is(err, fosite.ErrTemporarilyUnavailable) {
			go s.takeBack(context.WithoutCancel(ctx), ar, iss.sig)
		}
		s.writeTokenError(w, r, ar, err)
		return
	}
	// fosite writes "bearer"; introspection and RFC 6750 say "Bearer".
	resp.SetTokenType("Bearer")
	if sess, ok := ar.GetSession().(*session); ok && sess.DPoPJKT != "" {
		resp.SetTokenType(dpop.TokenType)
	}
	if err := s.checkGrantStands(ctx, gt, form, ar); err != nil {
		s.writeTokenError(w, r, ar, err)
		return
	}
	if iss == nil || !iss.audited {
		if err := s.trail.Append(ctx, issuedEntry(s.ips.String(r), gt, ar, resp)); err != nil {
			// No token leaves without its entry: take back what was stored;
			// not a kept refresh token (none new issued), for the retry.
			s.revokeIssued(ctx, ar.GetID(), gt == grantRefreshToken && resp.GetExtra("refresh_token") == nil)
			s.writeTokenError(w, r, ar, fosite.ErrTemporarilyUnavailable.WithHint("The token could not be recorded; retry."))
			return
		}
	}
	s.provider.WriteAccessResponse(ctx, w, ar, resp)
	s.metrics.Issued(gt)
}

// burnCode uses up the authorization code of a refused redemption: one
// that fosite refused as invalid_grant once the client had authenticated
// (a wrong or missing PKCE verifier, another redirect_uri, a code of
// another client). A failed attempt must end the code (RFC 9700 section
// 4.8; RFC 7636 section 4.6), or whoever holds a stolen code could try
// verifiers until one fits, or wait for the client's own redemption. If
// another request redeemed the code meanwhile, what it issued is revoked
// as for any reuse. A failed client authentication burns nothing: it
// never reaches the code.
func (s *Server) burnCode(ctx context.Context, code string) {
	if code == "" {
		return
	}
	sig := s.codes.AuthorizeCodeSignature(ctx, code)
	t, err := s.store.ConsumeToken(ctx, storage.AuthorizeCode, sig, s.now())
	switch {
	case err == nil, isNotFound(err):
	case errors.Is(err, storage.ErrConflict):
		s.revokeGrant(ctx, storage.AuthorizeCode, sig, t.RequestID)
	default:
		s.log.Error("refused authorization code not used up", web.RequestField(ctx), zap.Error(err))
	}
}

// burnStolenRefresh ends the grant of a refresh token that another client
// presented (and authenticated as itself to do so): the token has left
// the client it was issued to, so whoever holds it, the thief or the
// client, may not use it again (RFC 9700 section 4.14.2). A client that
// failed to authenticate never reaches this.
func (s *Server) burnStolenRefresh(ctx context.Context, token string, ar fosite.AccessRequester) {
	if token == "" || ar == nil || ar.GetClient() == nil {
		return
	}
	sig := s.codes.RefreshTokenSignature(ctx, token)
	t, err := s.store.GetToken(ctx, storage.RefreshToken, sig)
	if err != nil || t.ClientID == ar.GetClient().GetID() {
		return
	}
	s.revokeGrant(ctx, storage.RefreshToken, sig, t.RequestID)
}

// prepareGrant readies the grant of access request ar before fosite issues
// its tokens: their times from the server's clock (fosite's grant handlers
// use time.Now), their certificate binding, and for client_credentials
// the subject, scopes and audience. sess is the session the request began
// with; a code or refresh token grant resumes a stored one instead.
func (s *Server) prepareGrant(ar fosite.AccessRequester, sess *session, gt string) error {
	if grant, ok := ar.GetSession().(*session); ok {
		now := s.now().Truncate(time.Second)
		grant.AccessExp = now.Add(fosite.GetEffectiveLifespan(ar.GetClient(), fosite.GrantType(gt), fosite.AccessToken, s.cfg.AccessTokenTTL))
		if !grant.RefreshExp.IsZero() {
			if err := s.refreshLifetime(grant, gt, now, operators.GrantLifetime(ar.GetClient().GetID(), s.cfg.RefreshTokenMaxLifetime)); err != nil {
				return err
			}
		}
		grant.storedBound = grant.CertThumbprint != "" || grant.DPoPJKT != ""
		var err error
		if grant.CertThumbprint, err = clientauth.BindCertificate(ar, grant.CertThumbprint, gt == grantRefreshToken, fapi.Binds(s.cfg.Profile, ar.GetClient())); err != nil {
			return err
		}
		if gt == grantRefreshToken {
			if kept, err := tokenreq.NarrowScope(ar); err != nil {
				return err
			} else if kept != nil {
				grant.grantScope = kept
			}
			if kept, err := tokenreq.NarrowAudience(ar); err != nil {
				return err
			} else if kept != nil {
				grant.grantAudience = kept
			}
		}
	}
	if gt != grantClientCredentials {
		return nil
	}
	if err := operators.CheckGrant(ar); err != nil {
		return err
	}
	c := ar.GetClient()
	sess.Subject = c.GetID()
	for _, sc := range ar.GetRequestedScopes() {
		ar.GrantScope(sc) // each was checked against the client by the grant handler
	}
	aud := ar.GetRequestedAudience()
	if len(aud) == 0 {
		aud = c.GetAudience()
	}
	for _, a := range aud {
		ar.GrantAudience(a)
	}
	return nil
}

// refreshLifetime sets when the refresh token that grant gets at now
// expires: RefreshTokenTTL from now, but no later than
// RefreshTokenMaxLifetime after the grant started (its code's
// redemption), so that rotation cannot keep a grant alive for ever. A
// refresh past that bound is invalid_grant.
func (s *Server) refreshLifetime(grant *session, gt string, now time.Time, maxLifetime time.Duration) error {
	if grant.GrantStart.IsZero() {
		grant.GrantStart = now
	}
	end := grant.GrantStart.Add(maxLifetime)
	if gt == grantRefreshToken && !now.Before(end) {
		return fosite.ErrInvalidGrant.WithHint("The refresh token expired: its grant reached the longest lifetime allowed; sign in again.")
	}
	grant.RefreshExp = now.Add(s.cfg.RefreshTokenTTL)
	if grant.RefreshExp.After(end) {
		grant.RefreshExp = end
	}
	return nil
}

// issuedEntry is the audit entry of a token response.
func issuedEntry(ip, gt string, ar fosite.AccessRequester, resp fosite.AccessResponder) storage.AuditEntry {
	e := issuedEntryOf(gt, ip, ar)
	if resp.GetExtra("refresh_token") != nil {
		e.Details["refresh_token"] = "issued"
	}
	if resp.GetExtra("id_token") != nil {
		e.Details["id_token"] = "issued"
	}
	return e
}

// issuedEntryOf is the audit entry of the access token of req, of grant
// gt, asked for from ip.
func issuedEntryOf(gt, ip string, req fosite.Requester) storage.AuditEntry {
	sess, _ := req.GetSession().(*session)
	cid := req.GetClient().GetID()
	d := map[string]string{
		"grant": gt, "scope": strings.Join(req.GetGrantedScopes(), " "), "aud": strings.Join(req.GetGrantedAudience(), " "),
	}
	e := storage.AuditEntry{Type: adminapi.EventTokenIssued, Actor: audit.Client(cid), ClientID: cid, IP: ip, Details: d}
	if c, ok := req.GetClient().(*clientauth.Client); ok && c.APIKeyID != "" {
		d["api_key_id"] = c.APIKeyID
	}
	if sess != nil {
		e.Subject = sess.Subject
		d["jti"], d["kid"], d["exp"] = sess.JTI, sess.KeyID, audit.Time(sess.AccessExp)
	}
	return e
}

// takeBack deletes the token (signature sig) of a client_credentials
// request that is answered 503 because storing it with its entry failed,
// and records token.revoked (reason "unanswered") after its
// token.issued. Mostly nothing was stored, and then it records nothing: a
// store that is down stores nothing, and one that gets the statement
// after the request's deadline stores nothing either (the postgres
// backend guards it). But a commit whose answer was lost stored the token
// and its entry; the token never left, so nobody can use it, and the
// entry that follows says so. It runs after the answer, within
// DatabaseTimeout of its own; if it fails, the log names the request.
func (s *Server) takeBack(ctx context.Context, ar fosite.AccessRequester, sig string) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DatabaseTimeout)
	defer cancel()
	cid, jti := ar.GetClient().GetID(), ""
	if sess, ok := ar.GetSession().(*session); ok {
		jti = sess.JTI
	}
	if sig == "" {
		return // it never reached the store
	}
	err := s.store.DeleteToken(ctx, storage.AccessToken, sig)
	if isNotFound(err) {
		return
	}
	if err == nil {
		err = s.trail.Append(ctx, storage.AuditEntry{Type: adminapi.EventTokenRevoked, Actor: audit.System, ClientID: cid,
			Details: map[string]string{"jti": jti, "reason": "unanswered"}})
	}
	if err != nil {
		s.log.Error("token of a request answered 503 not taken back; if it was stored, nobody received it",
			web.RequestField(ctx), zap.String("client_id", cid), zap.String("jti", jti), zap.Error(err))
	}
}

// revokeIssued removes the tokens a grant request just stored, within
// DatabaseTimeout of its own (the request's may have passed); with kept,
// its access token alone: its refresh token is the one presented.
func (s *Server) revokeIssued(ctx context.Context, requestID string, kept bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.DatabaseTimeout)
	defer cancel()
	kinds := []storage.TokenKind{storage.AccessToken, storage.RefreshToken}
	if kept {
		kinds = kinds[:1]
	}
	for _, kind := range kinds {
		if err := s.store.RevokeRequest(ctx, kind, requestID); err != nil {
			s.log.Error("tokens of an unrecorded response not revoked", web.RequestField(ctx), zap.Error(err))
		}
	}
}

// checkGrantStands runs after a code or refresh token was redeemed and its
// tokens stored. It closes two races: with a reuse of the same code or
// refresh token (the reuse deletes the used record before it revokes the
// grant, so a redemption that finds its record gone lost, and revokes what
// it stored itself), and with the deletion of the person (whose tokens
// must not outlive them).
func (s *Server) checkGrantStands(ctx context.Context, gt string, form url.Values, ar fosite.AccessRequester) error {
	requestID := ar.GetID()
	var kind storage.TokenKind
	var sig string
	switch gt {
	case grantAuthorizationCode:
		kind, sig = storage.AuthorizeCode, s.codes.AuthorizeCodeSignature(ctx, form.Get("code"))
	case grantRefreshToken:
		kind, sig = storage.RefreshToken, s.codes.RefreshTokenSignature(ctx, form.Get("refresh_token"))
	default:
		return nil
	}
	_, err := s.store.GetToken(ctx, kind, sig)
	if isNotFound(err) {
		s.revokeGrant(ctx, kind, sig, requestID)
		return fosite.ErrInvalidGrant.WithHint("The grant was used twice at once and has been revoked.").WithWrap(granterr.ErrReused)
	}
	if err == nil {
		err = operators.SubjectStands(ctx, s.store, ar.GetClient().GetID(), ar.GetSession().GetSubject())
		if isNotFound(err) {
			s.revokeGrant(ctx, kind, sig, requestID)
			return fosite.ErrInvalidGrant.WithHint("The person or operator this grant was for no longer exists or was disabled.")
		}
	}
	if err != nil {
		return fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error())
	}
	return nil
}

func (s *Server) writeTokenError(w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, err error) {
	web.LogFosite(r.Context(), s.log, "token", err)
	cid, actor := clientauth.ClaimedID(r), audit.Anonymous
	if ar != nil && ar.GetClient() != nil && ar.GetClient().GetID() != "" {
		cid = ar.GetClient().GetID()
		actor = audit.Client(cid)
	}
	gt := r.PostForm.Get("grant_type")
	if !tokenreq.SupportedGrant(gt) {
		gt = "unsupported"
	}
	e := storage.AuditEntry{
		Type: adminapi.EventTokenRefused, Actor: actor, ClientID: cid, IP: s.ips.String(r),
		Outcome: fosite.ErrorToRFC6749Error(err).ErrorField, Details: map[string]string{"grant": gt},
	}
	// A 429 (rate limit, lock-out) is counted in the metrics, not audited:
	// a flood must not occupy the shared audit trail.
	if e.Outcome == "too_many_requests" {
		clientauth.SetRetryAfter(w, err)
		s.provider.WriteAccessError(r.Context(), w, ar, err)
		return
	}
	if aerr := s.trail.Append(r.Context(), e); aerr != nil && !errors.Is(err, fosite.ErrTemporarilyUnavailable) {
		err = fosite.ErrTemporarilyUnavailable.WithHint("The request could not be recorded; retry.")
	}
	clientauth.SetRetryAfter(w, err)
	if fosite.ErrorToRFC6749Error(err).CodeField == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="idvauth"`)
	}
	s.provider.WriteAccessError(r.Context(), w, ar, err)
}
