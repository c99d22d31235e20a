package authz

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"
	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/clientauth"
	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/clientip"
	"github.com/idvauth/idvauth/authz/internal/password"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/templates"
)

// The person-facing side of the authorization-code flow: /oauth2/authorize
// decides whether the person must sign in or consent, and the login and
// consent forms post back here with the original request, which is parsed
// and checked again from scratch (a form field is as untrusted as the
// first request). Nothing about the pending request is kept on the server
// or in cookies; the browser session is.

// Paths of the person-facing pages.
const (
	loginPath   = "/login"
	consentPath = "/consent"
	logoutPath  = "/logout"
)

// maxReturnLen bounds the authorization request carried through the
// login and consent forms.
const maxReturnLen = 8 << 10

// flowState says what this request has just done, so that prompt=login
// and prompt=consent are satisfied by the page the person just completed.
type flowState struct {
	freshLogin   bool
	consentGiven bool
}

var pkceChallengePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// handleAuthorize serves /oauth2/authorize (GET, or POST with a form).
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		s.errorPage(w, r, http.StatusMethodNotAllowed, "Method not allowed", "Open this page with GET or POST.")
		return
	}
	raw := r.URL.RawQuery
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxReturnLen)
		if err := r.ParseForm(); err != nil || r.URL.RawQuery != "" {
			s.errorPage(w, r, http.StatusBadRequest, "This sign-in link is not valid", "The authorization request must be a form of at most 8 KiB, without a query string.")
			return
		}
		raw = r.PostForm.Encode()
	}
	s.authorize(w, r, raw, flowState{})
}

// authorize parses the authorization request in raw (a query string) and
// takes it as far as it can: a login page, a consent page, or the redirect
// back to the client with a code or an error.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, raw string, st flowState) {
	ctx := r.Context()
	ar, err := s.parseAuthorize(ctx, r, raw)
	if err != nil {
		s.writeAuthorizeError(w, r, ar, err)
		return
	}
	c := ar.GetClient().(*clientauth.Client)
	form := ar.GetRequestForm()
	prompts := strings.Fields(form.Get("prompt"))
	maxAge := int64(-1)
	if v := form.Get("max_age"); v != "" {
		maxAge, _ = strconv.ParseInt(v, 10, 64) // checked by parseAuthorize
	}

	bs, user, ok, err := s.browserSession(ctx, r)
	if err != nil {
		s.writeAuthorizeError(w, r, ar, fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error()))
		return
	}
	now := s.now()
	needLogin := !ok
	if ok && !st.freshLogin {
		if slices.Contains(prompts, "login") || maxAge == 0 || (maxAge > 0 && now.Sub(bs.AuthTime) > time.Duration(maxAge)*time.Second) {
			needLogin = true
		}
	}
	if needLogin {
		if slices.Contains(prompts, "none") {
			s.writeAuthorizeError(w, r, ar, fosite.ErrLoginRequired.WithHint("The person is not signed in, and prompt=none forbids asking them to."))
			return
		}
		s.loginPage(w, r, http.StatusOK, c, raw, "", "")
		return
	}
	if st.freshLogin {
		// The person has just signed in: later pages of this request must
		// not ask again.
		raw = withoutLoginPrompt(raw)
	}

	requested := ar.GetRequestedScopes()
	if !st.consentGiven {
		covered := false
		if !slices.Contains(prompts, "consent") {
			consent, err := s.store.GetConsent(ctx, user.ID, c.GetID())
			switch {
			case err == nil:
				covered = isSubset(requested, consent.Scopes)
			case !isNotFound(err):
				s.writeAuthorizeError(w, r, ar, fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error()))
				return
			}
		}
		if !covered {
			if slices.Contains(prompts, "none") {
				s.writeAuthorizeError(w, r, ar, fosite.ErrConsentRequired.WithHint("The person has not consented to these scopes, and prompt=none forbids asking them to."))
				return
			}
			s.consentPage(w, r, c, user, requested, raw)
			return
		}
	}
	s.issueCode(w, r, ar, c, user, bs, st)
}

// issueCode grants what was asked (the client may have it: checked by
// parseAuthorize; the person agreed: checked by authorize) and redirects
// back with a code and the RFC 9207 iss parameter.
func (s *Server) issueCode(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, c *clientauth.Client, user storage.User, bs storage.BrowserSession, st flowState) {
	ctx := r.Context()
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
	sess := &session{Subject: user.ID, Claims: &jwt.IDTokenClaims{
		Subject:     user.ID,
		AuthTime:    bs.AuthTime,
		RequestedAt: requestedAt,
		Nonce:       ar.GetRequestForm().Get("nonce"),
	}}
	resp, err := s.provider.NewAuthorizeResponse(ctx, ar, sess)
	if err != nil {
		s.writeAuthorizeError(w, r, ar, err)
		return
	}
	resp.AddParameter("iss", s.cfg.Issuer)
	if ce := s.log.Check(zap.InfoLevel, "authorization code issued"); ce != nil {
		ce.Write(web.RequestField(ctx), clientField(c.GetID()), userField(user.ID))
	}
	s.provider.WriteAuthorizeResponse(ctx, w, ar, resp)
}

// parseAuthorize parses raw as an authorization request with fosite and
// adds idvauth's rules. A returned requester whose redirect URI is not
// valid must not be redirected to.
func (s *Server) parseAuthorize(ctx context.Context, r *http.Request, raw string) (fosite.AuthorizeRequester, error) {
	if len(raw) > maxReturnLen {
		return fosite.NewAuthorizeRequest(), fosite.ErrInvalidRequest.WithHint("The authorization request is longer than 8 KiB.")
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return fosite.NewAuthorizeRequest(), fosite.ErrInvalidRequest.WithHint("The authorization request is not a valid query string.")
	}
	for k, v := range q {
		if len(v) > 1 {
			return fosite.NewAuthorizeRequest(), fosite.ErrInvalidRequest.WithHintf("The parameter '%s' is included more than once.", web.SafeParam(k))
		}
	}
	ar, err := s.provider.NewAuthorizeRequest(ctx, authorizeHTTPRequest(r, raw))
	if err != nil {
		return ar, err
	}
	c, ok := ar.GetClient().(*clientauth.Client)
	if !ok {
		return ar, fosite.ErrServerError.WithDebug("unexpected client type")
	}
	if !redirectRegistered(c, q.Get("redirect_uri")) {
		// fosite matched loopback URIs on any port; only public (native)
		// clients may use that (RFC 8252 section 7.3). No redirect.
		return invalidRedirect(ar), fosite.ErrInvalidRequest.WithHint("The 'redirect_uri' parameter does not match any of the client's registered redirect URIs.")
	}
	form := ar.GetRequestForm()
	switch {
	case !c.GetGrantTypes().Has("authorization_code"):
		return ar, fosite.ErrUnauthorizedClient.WithHint("The client is not registered for the authorization_code grant.")
	case !ar.GetResponseTypes().ExactOne("code"):
		return ar, fosite.ErrUnsupportedResponseType.WithHint("Only response_type=code is supported.")
	case form.Has("response_mode") && form.Get("response_mode") != "query":
		return ar, fosite.ErrInvalidRequest.WithHint("Only response_mode=query is supported.")
	case form.Has("request"):
		return ar, fosite.ErrRequestNotSupported.WithHint("Request objects are not supported.")
	case form.Has("request_uri"):
		return ar, fosite.ErrRequestURINotSupported.WithHint("request_uri is not supported.")
	}
	challenge, method := form.Get("code_challenge"), form.Get("code_challenge_method")
	switch {
	case method != "" && method != "S256":
		return ar, fosite.ErrInvalidRequest.WithHint("The PKCE code_challenge_method must be S256.")
	case challenge != "" && method == "":
		return ar, fosite.ErrInvalidRequest.WithHint("The PKCE code_challenge_method must be given, and S256.")
	case challenge == "" && method != "":
		return ar, fosite.ErrInvalidRequest.WithHint("The PKCE code_challenge is missing.")
	case challenge == "" && c.IsPublic():
		return ar, fosite.ErrInvalidRequest.WithHint("Public clients must use PKCE (code_challenge with code_challenge_method=S256).")
	case challenge != "" && !pkceChallengePattern.MatchString(challenge):
		return ar, fosite.ErrInvalidRequest.WithHint("The PKCE code_challenge must be 43 base64url characters (the SHA-256 of the verifier).")
	}
	prompts := strings.Fields(form.Get("prompt"))
	for _, p := range prompts {
		if p != "none" && p != "login" && p != "consent" {
			return ar, fosite.ErrInvalidRequest.WithHint("prompt may hold none, login and consent only.")
		}
	}
	if slices.Contains(prompts, "none") && len(prompts) > 1 {
		return ar, fosite.ErrInvalidRequest.WithHint("prompt=none cannot be combined with other values.")
	}
	if v := form.Get("max_age"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err != nil || n < 0 {
			return ar, fosite.ErrInvalidRequest.WithHint("max_age must be a non-negative number of seconds.")
		}
	}
	if len(form.Get("nonce")) > 512 || len(form.Get("state")) > 1024 {
		return ar, fosite.ErrInvalidRequest.WithHint("nonce and state are limited to 512 and 1024 characters.")
	}
	for _, sc := range ar.GetRequestedScopes() {
		if !s.scopes.Allowed(c.GetScopes(), sc) {
			return ar, fosite.ErrInvalidScope.WithHintf("The client may not request scope '%s'.", web.SafeParam(sc))
		}
	}
	if err := s.audienceAllowed(c.GetAudience(), ar.GetRequestedAudience()); err != nil {
		return ar, err
	}
	return ar, nil
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

// redirectRegistered applies exact matching: the redirect URI must be one
// of the client's, character for character. A public client's loopback
// URI may differ in port only (RFC 8252 section 7.3). An absent
// redirect_uri is allowed when exactly one is registered (RFC 6749 section
// 3.1.2.3).
func redirectRegistered(c *clientauth.Client, requested string) bool {
	uris := c.Rec.RedirectURIs
	if requested == "" {
		return len(uris) == 1
	}
	if slices.Contains(uris, requested) {
		return true
	}
	if !c.IsPublic() {
		return false
	}
	ru, err := url.Parse(requested)
	if err != nil || ru.Scheme != "http" || ru.User != nil || ru.Fragment != "" {
		return false
	}
	if ip := net.ParseIP(ru.Hostname()); ip == nil || !ip.IsLoopback() {
		return false
	}
	for _, reg := range uris {
		gu, err := url.Parse(reg)
		if err == nil && gu.Scheme == "http" && gu.Hostname() == ru.Hostname() && gu.EscapedPath() == ru.EscapedPath() && gu.RawQuery == ru.RawQuery {
			return true
		}
	}
	return false
}

// authorizeHTTPRequest is a GET request for raw, for fosite to parse.
func authorizeHTTPRequest(r *http.Request, raw string) *http.Request {
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
func (s *Server) writeAuthorizeError(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, err error) {
	s.logFosite(r.Context(), "authorize", err)
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
		s.errorPage(w, r, status, "This sign-in link is not valid", desc)
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
	q.Set("iss", s.cfg.Issuer)
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Location", u.String())
	w.WriteHeader(http.StatusSeeOther)
}

// --- browser session, cookies and CSRF ---

// cookie names: the __Host- prefix (secure, host-only, path /) when the
// issuer is https.
func (s *Server) cookieName(base string) string {
	if s.secureCookies {
		return "__Host-" + base
	}
	return base
}

func (s *Server) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name: s.cookieName(name), Value: value, Path: "/", MaxAge: int(maxAge / time.Second),
		HttpOnly: true, Secure: s.secureCookies, SameSite: http.SameSiteLaxMode,
	})
}

func (s *Server) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(name), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secureCookies, SameSite: http.SameSiteLaxMode})
}

const (
	sessionCookie = "idvauth_session"
	csrfCookie    = "idvauth_csrf"
)

// sessionID is the stored ID of a session cookie value: its SHA-256.
func sessionID(cookie string) string {
	sum := sha256.Sum256([]byte(cookie))
	return hex.EncodeToString(sum[:])
}

// browserSession returns the signed-in person of r, if any. A cookie
// without a live record (expired, logged out, user deleted) is no session.
func (s *Server) browserSession(ctx context.Context, r *http.Request) (storage.BrowserSession, storage.User, bool, error) {
	ck, err := r.Cookie(s.cookieName(sessionCookie))
	if err != nil || len(ck.Value) != 43 {
		return storage.BrowserSession{}, storage.User{}, false, nil
	}
	bs, err := s.store.GetBrowserSession(ctx, sessionID(ck.Value))
	if err != nil {
		if isNotFound(err) {
			return bs, storage.User{}, false, nil
		}
		return bs, storage.User{}, false, err
	}
	if !bs.ExpiresAt.After(s.now()) {
		return bs, storage.User{}, false, nil
	}
	u, err := s.store.GetUser(ctx, bs.UserID)
	if err != nil {
		if isNotFound(err) {
			return bs, u, false, nil
		}
		return bs, u, false, err
	}
	return bs, u, true, nil
}

// csrfToken returns the browser's CSRF token, setting a new one if it has
// none. Forms carry it in a hidden field; posts must match the cookie.
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if ck, err := r.Cookie(s.cookieName(csrfCookie)); err == nil && len(ck.Value) == 43 {
		return ck.Value
	}
	tok := randomToken()
	s.setCookie(w, csrfCookie, tok, 0)
	return tok
}

// checkCSRF reports whether a post carries the browser's CSRF token.
func (s *Server) checkCSRF(r *http.Request) bool {
	ck, err := r.Cookie(s.cookieName(csrfCookie))
	if err != nil || len(ck.Value) != 43 {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(ck.Value), []byte(r.PostForm.Get("csrf"))) == 1
}

// randomToken returns 256 random bits, base64url (43 characters).
func randomToken() string {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never returns an error on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

// readPageForm parses a person-facing form post: POST only, form-encoded,
// at most maxReturnLen*2 bytes, CSRF token checked. It answers the error
// itself and returns false.
func (s *Server) readPageForm(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.errorPage(w, r, http.StatusMethodNotAllowed, "Method not allowed", "This page only takes form submissions.")
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, 2*maxReturnLen)
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "The form could not be read", "Go back to the application and start again.")
		return false
	}
	if !s.checkCSRF(r) {
		s.errorPage(w, r, http.StatusForbidden, "The form has expired", "For your safety this form can only be sent from the page that showed it. Go back to the application and start again.")
		return false
	}
	return true
}

// --- pages ---

// pageHeaders are the headers of every HTML page.
func (s *Server) pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", s.pages.CSP())
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
}

// renderPage renders a page into a buffer, then writes it with status.
func (s *Server) renderPage(w http.ResponseWriter, r *http.Request, status int, render func(*bytes.Buffer) error) {
	var buf bytes.Buffer
	if err := render(&buf); err != nil {
		s.log.Error("render page", web.RequestField(r.Context()), zap.Error(err))
		s.pageHeaders(w)
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("<!doctype html><title>Error</title><p>The server met an unexpected condition.</p>\n"))
		return
	}
	s.pageHeaders(w)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	s.renderPage(w, r, status, func(b *bytes.Buffer) error {
		return s.pages.Error(b, templates.ErrorData{Title: title, Message: msg, Status: status})
	})
}

func (s *Server) messagePage(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	s.renderPage(w, r, status, func(b *bytes.Buffer) error {
		return s.pages.Message(b, templates.MessageData{Title: title, Message: msg})
	})
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request, status int, c *clientauth.Client, raw, username, msg string) {
	csrf := s.csrfToken(w, r)
	s.renderPage(w, r, status, func(b *bytes.Buffer) error {
		return s.pages.Login(b, templates.LoginData{Action: loginPath, CSRF: csrf, Return: raw, ClientName: c.Rec.Name, Username: username, Error: msg})
	})
}

func (s *Server) consentPage(w http.ResponseWriter, r *http.Request, c *clientauth.Client, u storage.User, requested []string, raw string) {
	csrf := s.csrfToken(w, r)
	list := make([]templates.Scope, 0, len(requested))
	for _, name := range requested {
		sc, _ := s.scopes.Get(name)
		list = append(list, templates.Scope{Name: sc.Name, Description: sc.Description})
	}
	name := u.Name
	if name == "" {
		name = u.Username
	}
	s.renderPage(w, r, http.StatusOK, func(b *bytes.Buffer) error {
		return s.pages.Consent(b, templates.ConsentData{Action: consentPath, CSRF: csrf, Return: raw, ClientName: c.Rec.Name, ClientID: c.GetID(), UserName: name, Scopes: list})
	})
}

// --- login ---

// throttleKeys are the failure counters of one login attempt: the account
// (by a keyed hash of the username, so the store holds no usernames) and
// the source address.
// A nil r gives the account key alone.
func (s *Server) throttleKeys(username string, r *http.Request) (account, ip string) {
	m := hmac.New(sha256.New, s.throttleSecret)
	m.Write([]byte(username))
	account = "login:user:" + hex.EncodeToString(m.Sum(nil)[:16])
	if r == nil {
		return account, ""
	}
	return account, "login:ip:" + s.ips.String(r)
}

// readPageRequest reads a login or consent form post and the
// authorization request it carries, parsed and checked again from
// scratch. It answers any error itself and returns false.
func (s *Server) readPageRequest(w http.ResponseWriter, r *http.Request) (string, fosite.AuthorizeRequester, bool) {
	if !s.readPageForm(w, r) {
		return "", nil, false
	}
	raw := r.PostForm.Get("return")
	ar, err := s.parseAuthorize(r.Context(), r, raw)
	if err != nil {
		s.writeAuthorizeError(w, r, ar, err)
		return "", nil, false
	}
	return raw, ar, true
}

// handleLogin serves the login form's post.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if ok, wait := s.limits.login.Allow(clientip.LimitKey(s.ips.Addr(r)), s.now()); !ok {
		// A page, not JSON: a person reads this one.
		s.rateLimited(r, "ip")
		w.Header().Set("Retry-After", web.RetryAfter(wait))
		s.messagePage(w, r, http.StatusTooManyRequests, "Too many attempts",
			"Too many sign-in attempts come from your network. Try again in "+humanDuration(max(wait, time.Second))+".")
		return
	}
	raw, ar, ok := s.readPageRequest(w, r)
	if !ok {
		return
	}
	c := ar.GetClient().(*clientauth.Client)
	username := normalizeUsername(r.PostForm.Get("username"))
	pw := r.PostForm.Get("password")
	if username == "" || pw == "" || len(username) > maxUsernameLen || len(pw) > password.MaxLen {
		s.loginPage(w, r, http.StatusBadRequest, c, raw, "", "Enter your username and password.")
		return
	}
	now := s.now()
	accountKey, ipKey := s.throttleKeys(username, r)
	if until, limited, err := s.loginLimited(ctx, accountKey, ipKey, now); err != nil {
		s.writeAuthorizeError(w, r, ar, fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error()))
		return
	} else if limited {
		wait := max(until.Sub(now), time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
		s.log.Info("login refused: too many failures", web.RequestField(ctx), clientField(c.GetID()))
		if s.trail.Append(ctx, storage.AuditEntry{Type: EventLoginFailed, Actor: audit.Anonymous, ClientID: c.GetID(), IP: s.ips.String(r),
			Outcome: "throttled"}) != nil {
			s.writeAuthorizeError(w, r, ar, fosite.ErrTemporarilyUnavailable)
			return
		}
		s.messagePage(w, r, http.StatusTooManyRequests, "Too many attempts",
			"There were too many failed sign-in attempts. For your safety, signing in is paused; try again in "+humanDuration(wait)+".")
		return
	}
	user, err := s.store.GetUserByUsername(ctx, username)
	hash := s.dummyHash
	switch {
	case err == nil:
		hash = user.PasswordHash
	case !isNotFound(err):
		s.writeAuthorizeError(w, r, ar, fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error()))
		return
	}
	// An unknown username costs the same hash as a wrong password.
	match, herr := password.Check(hash, pw)
	if err != nil || herr != nil || !match {
		if herr != nil && err == nil {
			s.log.Error("stored password hash is malformed", web.RequestField(ctx), userField(user.ID))
		}
		for _, k := range []string{accountKey, ipKey} {
			if _, ferr := s.store.AddFailure(ctx, k, now, s.cfg.LoginWindow); ferr != nil {
				s.log.Warn("count failed login", web.RequestField(ctx), zap.Error(ferr))
			}
		}
		s.log.Info("login failed", web.RequestField(ctx), clientField(c.GetID()))
		e := storage.AuditEntry{Type: EventLoginFailed, Actor: audit.Anonymous, ClientID: c.GetID(), IP: s.ips.String(r),
			Outcome: "unknown_user"}
		if err == nil {
			e.Subject, e.Outcome = user.ID, "wrong_password"
		}
		if s.trail.Append(ctx, e) != nil {
			s.writeAuthorizeError(w, r, ar, fosite.ErrTemporarilyUnavailable)
			return
		}
		s.loginPage(w, r, http.StatusOK, c, raw, username, "The username or password is not correct.")
		return
	}
	if err := s.store.ClearFailures(ctx, accountKey); err != nil {
		s.log.Warn("clear login failures", web.RequestField(ctx), zap.Error(err))
	}
	// A new session ID at every login: an old cookie (perhaps planted)
	// stops working.
	if ck, err := r.Cookie(s.cookieName(sessionCookie)); err == nil {
		_ = s.store.DeleteBrowserSession(ctx, sessionID(ck.Value))
	}
	value := randomToken()
	bs := storage.BrowserSession{ID: sessionID(value), UserID: user.ID, AuthTime: now, ExpiresAt: now.Add(s.cfg.SessionTTL)}
	if err := s.store.CreateBrowserSession(ctx, bs); err != nil {
		s.writeAuthorizeError(w, r, ar, fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error()))
		return
	}
	if s.trail.Append(ctx, storage.AuditEntry{Type: EventLoginSucceeded, Actor: audit.User(user.ID), ClientID: c.GetID(), Subject: user.ID,
		IP: s.ips.String(r)}) != nil {
		_ = s.store.DeleteBrowserSession(context.WithoutCancel(ctx), bs.ID)
		s.writeAuthorizeError(w, r, ar, fosite.ErrTemporarilyUnavailable)
		return
	}
	s.setCookie(w, sessionCookie, value, s.cfg.SessionTTL)
	s.log.Info("login succeeded", web.RequestField(ctx), clientField(c.GetID()), userField(user.ID))
	s.authorize(w, withSessionCookie(r, s.cookieName(sessionCookie), value), raw, flowState{freshLogin: true})
}

// withSessionCookie returns r as if the browser had sent the new session
// cookie.
func withSessionCookie(r *http.Request, name, value string) *http.Request {
	r2 := r.Clone(r.Context())
	r2.Header = r.Header.Clone()
	var kept []string
	for _, ck := range r.Cookies() {
		if ck.Name != name {
			kept = append(kept, ck.String())
		}
	}
	kept = append(kept, (&http.Cookie{Name: name, Value: value}).String())
	r2.Header.Set("Cookie", strings.Join(kept, "; "))
	return r2
}

// loginLimited reports whether the account or the address has used up its
// failures, and until when.
func (s *Server) loginLimited(ctx context.Context, accountKey, ipKey string, now time.Time) (time.Time, bool, error) {
	var until time.Time
	limited := false
	for _, k := range []struct {
		key   string
		limit int
	}{{accountKey, s.cfg.LoginMaxFailures}, {ipKey, s.cfg.LoginMaxFailuresPerIP}} {
		n, end, err := s.store.Failures(ctx, k.key, now)
		if err != nil {
			return until, false, err
		}
		if n >= k.limit {
			limited = true
			if end.After(until) {
				until = end
			}
		}
	}
	return until, limited, nil
}

// humanDuration says d in words a person reads at a glance.
func humanDuration(d time.Duration) string {
	switch m := int((d + time.Minute - 1) / time.Minute); {
	case d < time.Minute:
		return "a minute"
	case m == 1:
		return "1 minute"
	default:
		return strconv.Itoa(m) + " minutes"
	}
}

// --- consent ---

// handleConsent serves the consent form's post.
func (s *Server) handleConsent(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	raw, ar, ok := s.readPageRequest(w, r)
	if !ok {
		return
	}
	_, user, ok, err := s.browserSession(ctx, r)
	if err != nil {
		s.writeAuthorizeError(w, r, ar, fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error()))
		return
	}
	if !ok {
		// Signed out (or the session ended) while the page was open.
		s.authorize(w, r, raw, flowState{})
		return
	}
	c := ar.GetClient().(*clientauth.Client)
	switch r.PostForm.Get("decision") {
	case "allow":
	case "deny":
		s.log.Info("consent refused", web.RequestField(ctx), clientField(c.GetID()), userField(user.ID))
		if s.trail.Append(ctx, storage.AuditEntry{Type: EventConsentGiven, Actor: audit.User(user.ID), ClientID: c.GetID(), Subject: user.ID,
			IP: s.ips.String(r), Outcome: "access_denied"}) != nil {
			s.writeAuthorizeError(w, r, ar, fosite.ErrTemporarilyUnavailable)
			return
		}
		s.writeAuthorizeError(w, r, ar, fosite.ErrAccessDenied.WithHint("The person refused the request."))
		return
	default:
		s.errorPage(w, r, http.StatusBadRequest, "The form could not be read", "Choose Allow or Deny.")
		return
	}
	granted := ar.GetRequestedScopes()
	if old, err := s.store.GetConsent(ctx, user.ID, c.GetID()); err == nil {
		for _, sc := range old.Scopes {
			if !slices.Contains(granted, sc) && s.scopes.Known(sc) {
				granted = append(granted, sc)
			}
		}
	}
	if err := s.store.SaveConsent(ctx, storage.Consent{UserID: user.ID, ClientID: c.GetID(), Scopes: granted, GrantedAt: s.now()}); err != nil {
		s.writeAuthorizeError(w, r, ar, fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error()))
		return
	}
	if s.trail.Append(ctx, storage.AuditEntry{Type: EventConsentGiven, Actor: audit.User(user.ID), ClientID: c.GetID(), Subject: user.ID,
		IP: s.ips.String(r), Details: map[string]string{"scope": strings.Join(granted, " ")}}) != nil {
		s.writeAuthorizeError(w, r, ar, fosite.ErrTemporarilyUnavailable)
		return
	}
	s.log.Info("consent given", web.RequestField(ctx), clientField(c.GetID()), userField(user.ID))
	s.authorize(w, r, raw, flowState{consentGiven: true})
}

// --- logout ---

// handleLogout shows a sign-out button (GET) and ends the browser session
// (POST with the CSRF token).
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		csrf := s.csrfToken(w, r)
		s.renderPage(w, r, http.StatusOK, func(b *bytes.Buffer) error {
			return s.pages.Logout(b, templates.LogoutData{Action: logoutPath, CSRF: csrf})
		})
		return
	}
	if !s.readPageForm(w, r) {
		return
	}
	if ck, err := r.Cookie(s.cookieName(sessionCookie)); err == nil {
		if err := s.store.DeleteBrowserSession(ctx, sessionID(ck.Value)); err != nil && !isNotFound(err) {
			s.log.Error("end browser session", web.RequestField(ctx), zap.Error(err))
			s.errorPage(w, r, http.StatusServiceUnavailable, "Could not sign you out", "The server cannot complete the request right now. Try again in a moment.")
			return
		}
	}
	s.clearCookie(w, sessionCookie)
	s.messagePage(w, r, http.StatusOK, "You are signed out", "You can close this window.")
}
