package login

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"
	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/clientauth"
	"github.com/idvauth/idvauth/authz/dpop"
	"github.com/idvauth/idvauth/authz/fapi"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/authz/login/internal/authreq"
	"github.com/idvauth/idvauth/authz/mfa"
	"github.com/idvauth/idvauth/authz/operators"
	"github.com/idvauth/idvauth/storage"
)

// maxReturnLen bounds the authorization request carried through the
// login and consent forms.
const maxReturnLen = 8 << 10

// flowState says what this request has just done, so that prompt=login
// and prompt=consent are satisfied by the page the person just completed.
type flowState struct {
	freshLogin   bool
	consentGiven bool
	// pushed is the request_uri of a started pushed request, used up when
	// its code is issued; empty for a request by value.
	pushed string
}

// signedInParam marks a pushed request (carried by reference) whose person
// has just signed in for it: withoutLoginPrompt for a request whose
// parameters are not in the page.
const signedInParam = "idvauth_signed_in"

// Pushed resolves pushed authorization requests (RFC 9126): Begin starts
// one at the authorization endpoint and returns the request_uri the pages
// carry instead; Resume returns the query that one stands for; Finish
// uses it up before its code is issued. Errors are fosite errors.
type Pushed interface {
	Begin(ctx context.Context, clientID, requestURI string) (string, error)
	Resume(ctx context.Context, clientID, requestURI string) (string, error)
	Finish(ctx context.Context, clientID, requestURI string) error
}

// GrantBinder is a grant session that can be bound to a DPoP key (the
// code of a request with dpop_jkt is redeemed only with a proof made with
// that key), and whose code's lifetime can be cut short.
type GrantBinder interface {
	BindDPoP(jkt string)
	LimitCodeLifetime(d time.Duration)
}

// Authorize serves /oauth2/authorize (GET, or POST with a form).
func (h *Handler) Authorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		h.errorPage(w, r, http.StatusMethodNotAllowed, "Method not allowed", "Open this page with GET or POST.")
		return
	}
	raw := r.URL.RawQuery
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxReturnLen)
		if err := r.ParseForm(); err != nil || r.URL.RawQuery != "" {
			h.errorPage(w, r, http.StatusBadRequest, "This sign-in link is not valid", "The authorization request must be a form of at most 8 KiB, without a query string.")
			return
		}
		raw = r.PostForm.Encode()
	}
	raw, ok := h.startPushed(w, r, raw)
	if !ok {
		return
	}
	h.authorize(w, r, raw, flowState{})
}

// startPushed turns an authorization request by reference (RFC 9126
// section 4) into the request the pages carry: the client_id and the
// started request's request_uri, every other parameter dropped. A request
// by value is returned as it is. If not ok, it has answered.
func (h *Handler) startPushed(w http.ResponseWriter, r *http.Request, raw string) (string, bool) {
	q, err := authorizeQuery(raw)
	if err != nil || h.cfg.Pushed == nil || !q.Has("request_uri") {
		return raw, true // parseAuthorize refuses what is wrong
	}
	id := q.Get("client_id")
	if q.Get(signedInParam) == "1" {
		// The way back of a sign-in the pages finished in the browser (a
		// passkey ceremony): the request was started already, and
		// parseAuthorize resumes it only as this client's started one.
		return url.Values{"client_id": {id}, "request_uri": {q.Get("request_uri")}, signedInParam: {"1"}}.Encode(), true
	}
	uri, err := h.cfg.Pushed.Begin(r.Context(), id, q.Get("request_uri"))
	if err != nil {
		h.writeAuthorizeError(w, r, nil, err)
		return "", false
	}
	return url.Values{"client_id": {id}, "request_uri": {uri}}.Encode(), true
}

// authorize parses the authorization request in raw (a query string) and
// takes it as far as it can: a login page, a consent page, or the redirect
// back to the client with a code or an error.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request, raw string, st flowState) {
	ctx := r.Context()
	ar, err := h.parseAuthorize(ctx, r, raw)
	if err != nil {
		h.writeAuthorizeError(w, r, ar, err)
		return
	}
	if q, _ := url.ParseQuery(raw); h.cfg.Pushed != nil {
		st.pushed = q.Get("request_uri")
	}
	c := ar.GetClient().(*clientauth.Client)
	prompts := strings.Fields(ar.GetRequestForm().Get("prompt"))
	bs, user, ok, err := h.browserSession(ctx, r)
	if err != nil {
		h.writeAuthorizeError(w, r, ar, fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error()))
		return
	}
	if !ok || !st.freshLogin && signInTooOld(ar.GetRequestForm(), prompts, bs.AuthTime, h.now()) {
		if slices.Contains(prompts, "none") {
			h.writeAuthorizeError(w, r, ar, fosite.ErrLoginRequired.WithHint("The person is not signed in, and prompt=none forbids asking them to."))
			return
		}
		h.loginPage(w, r, http.StatusOK, c, raw, "", "")
		return
	}
	need := h.second.required(c, ar.GetRequestForm())
	if mfa.LevelOf(bs.AMR) < mfa.MFA && need < mfa.MFA {
		// A session signed in with a password alone stands only for a
		// person who has no second factor now: one who has (set up since,
		// or a session some other page made) gives it first.
		totp, passkeys, err := h.second.factorsOf(ctx, user.ID)
		if err != nil {
			h.writeAuthorizeError(w, r, ar, fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error()))
			return
		}
		if totp || passkeys > 0 {
			need = mfa.MFA
		}
	}
	if mfa.LevelOf(bs.AMR) < need {
		// Signed in, but not as strongly as the request needs: the second
		// factor (or its setup) first.
		if slices.Contains(prompts, "none") {
			h.writeAuthorizeError(w, r, ar, fosite.ErrLoginRequired.WithHint("The request needs a second factor, and prompt=none forbids asking for it."))
			return
		}
		h.second.secondStep(w, r, ar, raw, user, pending{UserID: user.ID, AMR: mfa.AMR(bs.AMR), AuthTime: bs.AuthTime.Unix()})
		return
	}
	if st.freshLogin {
		// The person has just signed in: later pages of this request must
		// not ask again.
		raw = withoutLoginPrompt(raw)
	}
	if !st.consentGiven && !h.consented(w, r, ar, user, raw, prompts) {
		return
	}
	h.issueCode(w, r, ar, c, user, bs, st)
}

// signInTooOld reports whether a sign-in at authTime is too old for the
// request with form: it asks for prompt=login, or its max_age has passed.
func signInTooOld(form url.Values, prompts []string, authTime, now time.Time) bool {
	maxAge := int64(-1)
	if v := form.Get("max_age"); v != "" {
		maxAge, _ = strconv.ParseInt(v, 10, 64) // checked by parseAuthorize
	}
	return slices.Contains(prompts, "login") || maxAge == 0 || (maxAge > 0 && now.Sub(authTime) > time.Duration(maxAge)*time.Second)
}

// consented reports whether user's consent to ar's client covers the
// scopes ar requests; prompt=consent asks again regardless. If not, it
// answers itself (the consent page, or an error for prompt=none or a
// store failure) and returns false.
func (h *Handler) consented(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, user storage.User, raw string, prompts []string) bool {
	c := ar.GetClient().(*clientauth.Client)
	requested := ar.GetRequestedScopes()
	if !slices.Contains(prompts, "consent") {
		consent, err := h.store.GetConsent(r.Context(), user.ID, c.GetID())
		switch {
		case err == nil && isSubset(requested, consent.Scopes):
			return true
		case err != nil && !errors.Is(err, storage.ErrNotFound):
			h.writeAuthorizeError(w, r, ar, fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error()))
			return false
		}
	}
	if slices.Contains(prompts, "none") {
		h.writeAuthorizeError(w, r, ar, fosite.ErrConsentRequired.WithHint("The person has not consented to these scopes, and prompt=none forbids asking them to."))
		return false
	}
	h.consentPage(w, r, c, user, requested, raw)
	return false
}

// issueCode grants what was asked (the client may have it: checked by
// parseAuthorize; the person agreed: checked by authorize) and redirects
// back with a code and the RFC 9207 iss parameter.
func (h *Handler) issueCode(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, c *clientauth.Client, user storage.User, bs storage.BrowserSession, st flowState) {
	ctx := r.Context()
	if st.pushed != "" {
		if err := h.cfg.Pushed.Finish(ctx, c.GetID(), st.pushed); err != nil {
			h.writeAuthorizeError(w, r, ar, err)
			return
		}
	}
	for _, sc := range ar.GetRequestedScopes() {
		ar.GrantScope(sc)
	}
	aud := ar.GetRequestedAudience()
	if len(aud) == 0 {
		aud = c.GetAudience()
	}
	for _, a := range aud {
		ar.GrantAudience(a)
	}
	// The request counts from when it first reached us; a login made for
	// it (which re-parsed it afterwards) belongs to it.
	requestedAt := ar.GetRequestedAt()
	if st.freshLogin && bs.AuthTime.Before(requestedAt) {
		requestedAt = bs.AuthTime
	}
	sess := h.cfg.NewSession(user.ID, &jwt.IDTokenClaims{
		Subject:     user.ID,
		AuthTime:    bs.AuthTime,
		RequestedAt: requestedAt,
		Nonce:       ar.GetRequestForm().Get("nonce"),
		// What the browser session was authenticated with.
		AuthenticationMethodsReferences:     mfa.AMR(bs.AMR),
		AuthenticationContextClassReference: mfa.ACR(bs.AMR),
		// The browser session, for logout (Back-Channel Logout 1.0).
		Extra: map[string]any{"sid": h.cfg.Logout.SID(bs.ID)},
	})
	// Recorded first: logging the session out revokes what the grant
	// issues and tells the client.
	if err := h.cfg.Logout.Granted(ctx, bs.ID, c.GetID(), ar.GetID()); err != nil {
		h.writeAuthorizeError(w, r, ar, fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error()))
		return
	}
	if b, ok := sess.(GrantBinder); ok {
		if jkt := ar.GetRequestForm().Get("dpop_jkt"); jkt != "" {
			b.BindDPoP(jkt) // RFC 9449 section 10: the code is bound to the key
		}
		if fapi.Applies(h.cfg.Profile, c.Rec.Profile) {
			b.LimitCodeLifetime(fapi.MaxCodeTTL)
		}
	}
	resp, err := h.cfg.Provider.NewAuthorizeResponse(ctx, ar, sess)
	if err != nil {
		h.writeAuthorizeError(w, r, ar, err)
		return
	}
	resp.AddParameter("iss", h.cfg.Issuer)
	if ce := h.log.Check(zap.InfoLevel, "authorization code issued"); ce != nil {
		ce.Write(web.RequestField(ctx), clientField(c.GetID()), userField(user.ID))
	}
	h.cfg.Provider.WriteAuthorizeResponse(ctx, w, ar, resp)
}

// parseAuthorize parses raw as an authorization request with fosite and
// adds idvauth's rules; a started pushed request (client_id and
// request_uri) stands for the request stored for it. A returned requester
// whose redirect URI is not valid must not be redirected to.
func (h *Handler) parseAuthorize(ctx context.Context, r *http.Request, raw string) (fosite.AuthorizeRequester, error) {
	q, err := authorizeQuery(raw)
	if err != nil {
		return fosite.NewAuthorizeRequest(), err
	}
	pushed := h.cfg.Pushed != nil && q.Has("request_uri")
	if pushed {
		if raw, err = h.cfg.Pushed.Resume(ctx, q.Get("client_id"), q.Get("request_uri")); err != nil {
			return fosite.NewAuthorizeRequest(), err
		}
		if q.Get(signedInParam) == "1" {
			raw = withoutLoginPrompt(raw)
		}
		if q, err = authorizeQuery(raw); err != nil {
			return fosite.NewAuthorizeRequest(), err
		}
	}
	return h.checkAuthorize(ctx, r, raw, q, pushed)
}

// ValidatePushed checks raw, an authorization request pushed to the PAR
// endpoint, as the authorization endpoint would check it by value.
func (h *Handler) ValidatePushed(ctx context.Context, r *http.Request, raw string) error {
	q, err := authorizeQuery(raw)
	if err != nil {
		return err
	}
	_, err = h.checkAuthorize(ctx, r, raw, q, true)
	return err
}

// checkAuthorize has fosite parse raw, whose parameters are q, and checks
// idvauth's rules; pushed says whether it came through the PAR endpoint.
func (h *Handler) checkAuthorize(ctx context.Context, r *http.Request, raw string, q url.Values, pushed bool) (fosite.AuthorizeRequester, error) {
	ar, c, err := h.authorizeClient(ctx, r, raw, q.Get("redirect_uri"))
	if err != nil {
		return ar, err
	}
	// From here on the redirect URI is the client's: errors go back to it.
	form := ar.GetRequestForm()
	if !pushed && (h.cfg.RequirePAR || c.Rec.RequirePushedAuthorizationRequests) {
		return ar, fosite.ErrInvalidRequest.WithHint("Authorization requests must be pushed to the pushed_authorization_request_endpoint first (RFC 9126).")
	}
	if err := authreq.FAPI(h.cfg.Profile, c, form, pushed); err != nil {
		return ar, err
	}
	if err := authreq.SupportedRequest(c, ar); err != nil {
		return ar, err
	}
	if err := authreq.ValidPKCE(c, form); err != nil {
		return ar, err
	}
	if err := authreq.ValidSignInParams(form); err != nil {
		return ar, err
	}
	if form.Has("dpop_jkt") && !dpop.ValidJKT(form.Get("dpop_jkt")) {
		return ar, fosite.ErrInvalidRequest.WithHint("dpop_jkt must be the JWK SHA-256 thumbprint of the client's DPoP key: 43 base64url characters (RFC 9449 section 10).")
	}
	if _, err := mfa.RequestedACR(form); err != nil {
		return ar, fosite.ErrInvalidRequest.WithHintf("Malformed acr request: %s.", err)
	}
	if err := h.allowedTargets(c, ar); err != nil {
		return ar, err
	}
	return ar, nil
}

// authorizeQuery parses raw, the query string of an authorization
// request: at most maxReturnLen bytes, each parameter at most once.
func authorizeQuery(raw string) (url.Values, error) {
	if len(raw) > maxReturnLen {
		return nil, fosite.ErrInvalidRequest.WithHint("The authorization request is longer than 8 KiB.")
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, fosite.ErrInvalidRequest.WithHint("The authorization request is not a valid query string.")
	}
	for k, v := range q {
		if len(v) > 1 {
			return nil, fosite.ErrInvalidRequest.WithHintf("The parameter '%s' is included more than once.", web.SafeParam(k))
		}
	}
	return q, nil
}

// authorizeClient has fosite parse the request in raw and checks that
// redirectURI, the one requested, is registered for its client.
func (h *Handler) authorizeClient(ctx context.Context, r *http.Request, raw, redirectURI string) (fosite.AuthorizeRequester, *clientauth.Client, error) {
	ar, err := h.cfg.Provider.NewAuthorizeRequest(ctx, authorizeHTTPRequest(r, raw))
	c, ok := clientOf(ar)
	if ok && operators.IsBuiltin(c.GetID()) {
		// Operators sign in on the admin listener (authz/opsignin); a
		// person's sign-in must never give the admin plane's clients a
		// code, nor send anything to their redirect URIs.
		return invalidRedirect(ar), nil, fosite.ErrInvalidClient.WithHint("This client is served on the admin listener only.")
	}
	if err != nil && !ok && errors.Is(err, fosite.ErrTemporarilyUnavailable) {
		// The store could not be read (fosite calls every GetClient error
		// "client does not exist"): 503, a page.
		return invalidRedirect(ar), nil, fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error())
	}
	if err != nil {
		// fosite may have failed after taking the redirect URI by its own
		// rules (any port on loopback): only ours let an error go there.
		if !ok || !authreq.RedirectRegistered(c, redirectURI) {
			ar = invalidRedirect(ar)
		}
		return ar, nil, err
	}
	if !ok {
		return invalidRedirect(ar), nil, fosite.ErrServerError.WithDebug("unexpected client type")
	}
	if !authreq.RedirectRegistered(c, redirectURI) {
		// fosite matched loopback URIs on any port; only public (native)
		// clients may use that (RFC 8252 section 7.3). No redirect.
		return invalidRedirect(ar), nil, fosite.ErrInvalidRequest.WithHint("The 'redirect_uri' parameter does not match any of the client's registered redirect URIs.")
	}
	return ar, c, nil
}

// clientOf is ar's client, if fosite found one.
func clientOf(ar fosite.AuthorizeRequester) (*clientauth.Client, bool) {
	if ar == nil {
		return nil, false
	}
	c, ok := ar.GetClient().(*clientauth.Client)
	return c, ok && c != nil
}

// allowedTargets checks that the client may have the scopes and audience
// it asks for.
func (h *Handler) allowedTargets(c *clientauth.Client, ar fosite.AuthorizeRequester) error {
	for _, sc := range ar.GetRequestedScopes() {
		if !h.cfg.Scopes.Allowed(c.GetScopes(), sc) {
			return fosite.ErrInvalidScope.WithHintf("The client may not request scope '%s'.", web.SafeParam(sc))
		}
	}
	return h.cfg.AudienceAllowed(c.GetAudience(), ar.GetRequestedAudience())
}

// invalidRedirect marks ar so that errors are shown, never redirected.
func invalidRedirect(ar fosite.AuthorizeRequester) fosite.AuthorizeRequester {
	if req, ok := ar.(*fosite.AuthorizeRequest); ok {
		req.RedirectURI = nil
	}
	return unredirectable{ar}
}

// unredirectable is an authorization request whose redirect URI must not
// be used.
type unredirectable struct{ fosite.AuthorizeRequester }

func (unredirectable) IsRedirectURIValid() bool { return false }

// authorizeHTTPRequest is a GET request for raw, for fosite to parse.
// response_mode=query, the default of response_type=code that discovery
// advertises, is left out: fosite accepts an explicit response mode only
// from a client that lists its modes, which ours do not.
func authorizeHTTPRequest(r *http.Request, raw string) *http.Request {
	if q, err := url.ParseQuery(raw); err == nil && q.Get("response_mode") == string(fosite.ResponseModeQuery) {
		q.Del("response_mode")
		raw = q.Encode()
	}
	r2 := r.Clone(r.Context())
	r2.Method = http.MethodGet
	r2.URL = &url.URL{Path: "/oauth2/authorize", RawQuery: raw}
	r2.RequestURI = r2.URL.RequestURI()
	r2.Body, r2.ContentLength = http.NoBody, 0
	r2.Form, r2.PostForm, r2.MultipartForm = nil, nil, nil
	r2.Header = r.Header.Clone()
	r2.Header.Del("Content-Type")
	return r2
}

// withoutLoginPrompt drops prompt=login and max_age from a request that
// the person has just signed in for.
func withoutLoginPrompt(raw string) string {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return raw
	}
	if q.Has("request_uri") {
		// A pushed request: its parameters are not in raw.
		q.Set(signedInParam, "1")
		return q.Encode()
	}
	if p := q.Get("prompt"); p != "" {
		kept := slices.DeleteFunc(strings.Fields(p), func(v string) bool { return v == "login" })
		if len(kept) == 0 {
			q.Del("prompt")
		} else {
			q.Set("prompt", strings.Join(kept, " "))
		}
	}
	q.Del("max_age")
	return q.Encode()
}

func isSubset(sub, set []string) bool {
	for _, v := range sub {
		if !slices.Contains(set, v) {
			return false
		}
	}
	return true
}

// writeAuthorizeError answers a failed authorization request: to the
// client's redirect URI with error, state and iss when the client and its
// redirect URI are known, otherwise as an error page to the person.
func (h *Handler) writeAuthorizeError(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, err error) {
	h.logFosite(r.Context(), "authorize", err)
	rfc := fosite.ErrorToRFC6749Error(err)
	if ar == nil || !ar.IsRedirectURIValid() || ar.GetRedirectURI() == nil {
		status := rfc.CodeField
		if status < 400 || status >= 500 || status == http.StatusUnauthorized {
			// 401 would ask the browser for credentials it cannot give.
			status = http.StatusBadRequest
		}
		desc := rfc.GetDescription()
		if rfc.CodeField >= 500 {
			status, desc = http.StatusServiceUnavailable, "The server cannot complete the request right now. Try again in a moment."
		}
		h.errorPage(w, r, status, "This sign-in link is not valid", desc)
		return
	}
	u := *ar.GetRedirectURI()
	u.Fragment = ""
	q := u.Query()
	q.Set("error", rfc.ErrorField)
	desc := rfc.GetDescription()
	if rfc.CodeField >= 500 {
		desc = "The server met an unexpected condition."
	}
	q.Set("error_description", desc)
	if st := ar.GetState(); st != "" {
		q.Set("state", st)
	}
	q.Set("iss", h.cfg.Issuer)
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Location", u.String())
	w.WriteHeader(http.StatusSeeOther)
}
