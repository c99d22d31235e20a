package login

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"
	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/clientauth"
	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/clientip"
	"github.com/idvauth/idvauth/authz/internal/password"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/storage"
)

// throttleKeys are the failure counters of one login attempt: the account
// and the source address (an IPv6 address by its /64, as the rate limits
// count it, so that rotating addresses inside it does not reset the count).
func (h *Handler) throttleKeys(username string, r *http.Request) (account, ip string) {
	return AccountKey(h.cfg.ThrottleSecret, username), "login:ip:" + clientip.LimitKey(h.cfg.IPs.Addr(r))
}

// AccountKey is the failure counter of the account username: a keyed hash
// of the username under secret, so the store holds no usernames.
func AccountKey(secret []byte, username string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(username))
	return "login:user:" + hex.EncodeToString(m.Sum(nil)[:16])
}

// readPageRequest reads a login or consent form post and the
// authorization request it carries, parsed and checked again from
// scratch. It answers any error itself and returns false.
func (h *Handler) readPageRequest(w http.ResponseWriter, r *http.Request) (string, fosite.AuthorizeRequester, bool) {
	if !h.readPageForm(w, r) {
		return "", nil, false
	}
	raw := r.PostForm.Get("return")
	ar, err := h.parseAuthorize(r.Context(), r, raw)
	if err != nil {
		h.writeAuthorizeError(w, r, ar, err)
		return "", nil, false
	}
	return raw, ar, true
}

// Login serves the login form's post.
func (h *Handler) Login(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if h.postsLimited(w, r) {
		return
	}
	raw, ar, ok := h.readPageRequest(w, r)
	if !ok {
		return
	}
	p := loginPost{raw: raw, ar: ar, c: ar.GetClient().(*clientauth.Client), username: NormalizeUsername(r.PostForm.Get("username"))}
	pw := r.PostForm.Get("password")
	if p.username == "" || pw == "" || len(p.username) > MaxUsernameLen || len(pw) > password.MaxLen {
		h.loginPage(w, r, http.StatusBadRequest, p.c, raw, "", "Enter your username and password.")
		return
	}
	p.now = h.now()
	p.accountKey, p.ipKey = h.throttleKeys(p.username, r)
	// The attempt is counted before the password is checked, so that N
	// concurrent attempts never check more than the limit; one that
	// succeeds, or is not checked after all, is taken back.
	if until, limited, err := h.reserveAttempt(ctx, p); err != nil {
		h.writeAuthorizeError(w, r, ar, fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error()))
		return
	} else if limited {
		h.refuseThrottled(w, r, p, max(until.Sub(p.now), time.Second))
		return
	}
	user, known, match, err := h.checkPassword(ctx, p.username, pw)
	if err != nil {
		h.release(ctx, p.now, p.accountKey, p.ipKey)
		if errors.Is(err, password.ErrBusy) {
			h.hashBusy(w, r, p)
			return
		}
		h.writeAuthorizeError(w, r, ar, fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error()))
		return
	}
	if !match {
		h.refuseLogin(w, r, p, user, known)
		return
	}
	// Only this attempt is taken back, not the account's earlier
	// failures: clearing them would also clear the reservations of
	// attempts running at the same time, which could then check more
	// passwords than the limit.
	h.release(ctx, p.now, p.accountKey, p.ipKey)
	h.second.afterPassword(w, r, p, user)
}

// loginPost is a post of the login form, with the authorization request
// it carries, that passed the form checks.
type loginPost struct {
	// raw is the authorization request, ar its parsed form, c its client.
	raw string
	ar  fosite.AuthorizeRequester
	c   *clientauth.Client
	// username is normalized.
	username string
	now      time.Time
	// accountKey and ipKey are the failure counters of the attempt.
	accountKey, ipKey string
}

// postsLimited reports whether the address of r has posted the login form
// too often; if so, it answers r.
func (h *Handler) postsLimited(w http.ResponseWriter, r *http.Request) bool {
	ok, wait := h.cfg.LoginLimiter.Allow(clientip.LimitKey(h.cfg.IPs.Addr(r)), h.now())
	if ok {
		return false
	}
	// A page, not JSON: a person reads this one.
	h.cfg.OnLimited(r, "ip")
	w.Header().Set("Retry-After", web.RetryAfter(wait))
	h.messagePage(w, r, http.StatusTooManyRequests, "Too many attempts",
		"Too many sign-in attempts come from your network. Try again in "+humanDuration(max(wait, time.Second))+".")
	return true
}

// hashBusy answers a login attempt that the password hashing budget has
// no room for: nothing was hashed or counted, and the person may simply
// try again.
func (h *Handler) hashBusy(w http.ResponseWriter, r *http.Request, p loginPost) {
	h.log.Info("login refused: password hashing at capacity", web.RequestField(r.Context()), clientField(p.c.GetID()))
	w.Header().Set("Retry-After", "1")
	h.messagePage(w, r, http.StatusServiceUnavailable, "Please try again",
		"The server is busy right now. Try signing in again in a moment.")
}

// refuseThrottled answers a login attempt on an account or from an
// address that has used up its failures, for wait more.
func (h *Handler) refuseThrottled(w http.ResponseWriter, r *http.Request, p loginPost, wait time.Duration) {
	ctx := r.Context()
	w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
	h.log.Info("login refused: too many failures", web.RequestField(ctx), clientField(p.c.GetID()))
	if h.cfg.Audit.Append(ctx, storage.AuditEntry{Type: adminapi.EventLoginFailed, Actor: audit.Anonymous, ClientID: p.c.GetID(), IP: h.cfg.IPs.String(r),
		Outcome: "throttled"}) != nil {
		h.writeAuthorizeError(w, r, p.ar, fosite.ErrTemporarilyUnavailable)
		return
	}
	h.messagePage(w, r, http.StatusTooManyRequests, "Too many attempts",
		"There were too many failed sign-in attempts. For your safety, signing in is paused; try again in "+humanDuration(wait)+".")
}

// checkPassword looks username up and checks pw against its password
// hash. It returns the person, whether username is known, and whether
// pw is theirs; err is the store's failure.
func (h *Handler) checkPassword(ctx context.Context, username, pw string) (user storage.User, known, match bool, err error) {
	user, err = h.store.GetUserByUsername(ctx, username)
	hash := h.dummyHash
	switch {
	case err == nil:
		hash = user.PasswordHash
	case !errors.Is(err, storage.ErrNotFound):
		return user, false, false, err
	}
	// An unknown username costs the same hash as a wrong password.
	match, herr := h.cfg.Hasher.Check(hash, pw)
	if errors.Is(herr, password.ErrBusy) {
		return user, false, false, herr
	}
	if herr != nil && err == nil {
		h.log.Error("stored password hash is malformed", web.RequestField(ctx), userField(user.ID))
	}
	return user, err == nil, err == nil && herr == nil && match, nil
}

// refuseLogin counts a failed login against the account and the address,
// audits it, and shows the login page again. known says whether the
// username is user's.
func (h *Handler) refuseLogin(w http.ResponseWriter, r *http.Request, p loginPost, user storage.User, known bool) {
	ctx := r.Context()
	// The attempt was counted when it was reserved: it stays counted.
	h.log.Info("login failed", web.RequestField(ctx), clientField(p.c.GetID()))
	e := storage.AuditEntry{Type: adminapi.EventLoginFailed, Actor: audit.Anonymous, ClientID: p.c.GetID(), IP: h.cfg.IPs.String(r),
		Outcome: "unknown_user"}
	if known {
		e.Subject, e.Outcome = user.ID, "wrong_password"
	}
	if h.cfg.Audit.Append(ctx, e) != nil {
		h.writeAuthorizeError(w, r, p.ar, fosite.ErrTemporarilyUnavailable)
		return
	}
	h.loginPage(w, r, http.StatusOK, p.c, p.raw, p.username, "The username or password is not correct.")
}

// startSession signs user in with the methods amr (createSession); then
// the authorization request goes on.
func (h *Handler) startSession(w http.ResponseWriter, r *http.Request, p loginPost, user storage.User, amr []string) {
	value, ok := h.createSession(w, r, p, user, amr)
	if !ok {
		return
	}
	h.authorize(w, withSessionCookie(r, h.cookies.Name(sessionCookie), value), p.raw, flowState{freshLogin: true})
}

// createSession signs user in with the methods amr: a new browser session
// (replacing the one r's cookie names), audited, in a new cookie, whose
// value it returns. It answers itself and returns false on failure.
func (h *Handler) createSession(w http.ResponseWriter, r *http.Request, p loginPost, user storage.User, amr []string) (string, bool) {
	ctx := r.Context()
	// A new session ID at every login: an old cookie (perhaps planted)
	// stops working; the session it named hands its grants on (same
	// person) or is logged out (another person).
	value := web.RandomToken()
	bs := storage.BrowserSession{ID: sessionID(value), UserID: user.ID, AuthTime: p.now, ExpiresAt: p.now.Add(h.cfg.SessionTTL), AMR: amr,
		Device: web.Device(r.UserAgent())}
	undo, err := h.cfg.Logout.Replace(ctx, sessionOf(h.cookies, r), bs, h.cfg.IPs.String(r))
	if err != nil {
		h.writeAuthorizeError(w, r, p.ar, fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error()))
		return "", false
	}
	if h.cfg.Audit.Append(ctx, storage.AuditEntry{Type: adminapi.EventLoginSucceeded, Actor: audit.User(user.ID), ClientID: p.c.GetID(), Subject: user.ID,
		IP: h.cfg.IPs.String(r), Details: map[string]string{"amr": strings.Join(amr, " ")}}) != nil {
		undo(context.WithoutCancel(ctx))
		h.writeAuthorizeError(w, r, p.ar, fosite.ErrTemporarilyUnavailable)
		return "", false
	}
	h.cookies.Set(w, sessionCookie, value, h.cfg.SessionTTL)
	h.log.Info("login succeeded", web.RequestField(ctx), clientField(p.c.GetID()), userField(user.ID))
	return value, true
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

// reserveAttempt counts the attempt p against its account and its
// address, each only while under its limit (an atomic step in the store,
// shared by every replica). If either is at its limit it counts nothing
// and reports until when.
func (h *Handler) reserveAttempt(ctx context.Context, p loginPost) (until time.Time, limited bool, err error) {
	var reserved []string
	for _, k := range []struct {
		key   string
		limit int
	}{{p.accountKey, h.cfg.LoginMaxFailures}, {p.ipKey, h.cfg.LoginMaxFailuresPerIP}} {
		ok, _, end, err := h.store.ReserveAttempt(ctx, k.key, p.now, h.cfg.LoginWindow, k.limit)
		if err != nil || !ok {
			h.release(ctx, p.now, reserved...)
			return end, err == nil, err
		}
		reserved = append(reserved, k.key)
	}
	return time.Time{}, false, nil
}

// release takes back the attempts reserved under keys.
func (h *Handler) release(ctx context.Context, now time.Time, keys ...string) {
	for _, k := range keys {
		if err := h.store.ReleaseAttempt(context.WithoutCancel(ctx), k, now); err != nil {
			h.log.Warn("release a login attempt", web.RequestField(ctx), zap.Error(err))
		}
	}
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

// Consent serves the consent form's post.
func (h *Handler) Consent(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	raw, ar, ok := h.readPageRequest(w, r)
	if !ok {
		return
	}
	_, user, ok, err := h.browserSession(ctx, r)
	if err != nil {
		h.writeAuthorizeError(w, r, ar, fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error()))
		return
	}
	if !ok {
		// Signed out (or the session ended) while the page was open.
		h.authorize(w, r, raw, flowState{})
		return
	}
	c := ar.GetClient().(*clientauth.Client)
	switch r.PostForm.Get("decision") {
	case "allow":
	case "deny":
		h.log.Info("consent refused", web.RequestField(ctx), clientField(c.GetID()), userField(user.ID))
		if h.cfg.Audit.Append(ctx, storage.AuditEntry{Type: adminapi.EventConsentGiven, Actor: audit.User(user.ID), ClientID: c.GetID(), Subject: user.ID,
			IP: h.cfg.IPs.String(r), Outcome: "access_denied"}) != nil {
			h.writeAuthorizeError(w, r, ar, fosite.ErrTemporarilyUnavailable)
			return
		}
		h.writeAuthorizeError(w, r, ar, fosite.ErrAccessDenied.WithHint("The person refused the request."))
		return
	default:
		h.errorPage(w, r, http.StatusBadRequest, "The form could not be read", "Choose Allow or Deny.")
		return
	}
	granted := ar.GetRequestedScopes()
	if old, err := h.store.GetConsent(ctx, user.ID, c.GetID()); err == nil {
		for _, sc := range old.Scopes {
			if !slices.Contains(granted, sc) && h.cfg.Scopes.Known(sc) {
				granted = append(granted, sc)
			}
		}
	}
	if err := h.store.SaveConsent(ctx, storage.Consent{UserID: user.ID, ClientID: c.GetID(), Scopes: granted, GrantedAt: h.now()}); err != nil {
		h.writeAuthorizeError(w, r, ar, fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error()))
		return
	}
	if h.cfg.Audit.Append(ctx, storage.AuditEntry{Type: adminapi.EventConsentGiven, Actor: audit.User(user.ID), ClientID: c.GetID(), Subject: user.ID,
		IP: h.cfg.IPs.String(r), Details: map[string]string{"scope": strings.Join(granted, " ")}}) != nil {
		h.writeAuthorizeError(w, r, ar, fosite.ErrTemporarilyUnavailable)
		return
	}
	h.log.Info("consent given", web.RequestField(ctx), clientField(c.GetID()), userField(user.ID))
	h.authorize(w, r, raw, flowState{consentGiven: true})
}
