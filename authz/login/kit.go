package login

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/password"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/authz/mfa"
	"github.com/idvauth/idvauth/keys"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/templates"
)

// Paths of the first-party sign-in (Kit.SignIn, Kit.SignInMFA).
const (
	KitSignInPath    = "/account/signin"
	KitSignInMFAPath = "/account/signin/mfa"
)

// Kit lends the machinery of the person-facing pages to the other pages
// of the public listener (the account page): the browser session, CSRF
// tokens, rendering under the pages' headers, password checks within the
// hashing budget and the sign-in throttles, and a first-party sign-in with
// the same login and second-factor pages, checks and audit entries as an
// authorization request's. Get one with KitOf; it is safe for concurrent
// use.
type Kit struct {
	h *Handler
	// back maps the untrusted return parameter of a sign-in to the local
	// path to go back to.
	back func(raw string) string
}

// KitOf returns the kit of h. back maps the return parameter of a
// sign-in (untrusted) to the local path the browser goes back to after
// it: only the caller knows its paths, and it must return one of them
// whatever raw is, so that the sign-in is no open redirect.
func KitOf(h *Handler, back func(raw string) string) *Kit { return &Kit{h: h, back: back} }

// Session returns the signed-in person of r, if any (see the browser
// session rules of Authorize).
func (k *Kit) Session(ctx context.Context, r *http.Request) (storage.BrowserSession, storage.User, bool, error) {
	return k.h.browserSession(ctx, r)
}

// CSRF returns the browser's CSRF token, setting one if it has none.
func (k *Kit) CSRF(w http.ResponseWriter, r *http.Request) string { return k.h.cookies.CSRFToken(w, r) }

// ReadForm parses a page's form post (POST, form-encoded, at most 16
// KiB, CSRF token checked); if not ok it has answered.
func (k *Kit) ReadForm(w http.ResponseWriter, r *http.Request) bool { return k.h.readPageForm(w, r) }

// Render renders a page into a buffer, then writes it with status and the
// pages' headers (CSP, no framing, no caching).
func (k *Kit) Render(w http.ResponseWriter, r *http.Request, status int, render func(*bytes.Buffer) error) {
	k.h.renderPage(w, r, status, render)
}

// ErrorPage answers with the error page.
func (k *Kit) ErrorPage(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	k.h.errorPage(w, r, status, title, msg)
}

// MessagePage answers with the message page.
func (k *Kit) MessagePage(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	k.h.messagePage(w, r, status, title, msg)
}

// Pages are the page templates.
func (k *Kit) Pages() *templates.Pages { return k.h.cfg.Pages }

// Sealer seals state the pages hand to the browser.
func (k *Kit) Sealer() *keys.Sealer { return k.h.cfg.Sealer }

// Now is the clock, in UTC.
func (k *Kit) Now() time.Time { return k.h.now() }

// IssuerLabel names this server in authenticator apps.
func (k *Kit) IssuerLabel() string { return k.h.second.issuerLabel() }

// MFARequired reports whether every person must have a second factor.
func (k *Kit) MFARequired() bool { return k.h.cfg.MFARequired }

// IP is the client address of r as audit entries record it.
func (k *Kit) IP(r *http.Request) string { return k.h.cfg.IPs.String(r) }

// Hash hashes a new password within the hashing budget
// (password.ErrBusy past it).
func (k *Kit) Hash(pw string) (string, error) { return k.h.cfg.Hasher.Hash(pw) }

// CheckPassword checks pw against user's password under the sign-in
// throttle of their account: limited says the account has used up its
// failures (nothing was checked). A wrong password counts as a failure.
func (k *Kit) CheckPassword(ctx context.Context, r *http.Request, user storage.User, pw string) (match, limited bool, err error) {
	h := k.h
	now := h.now()
	p := loginPost{now: now}
	p.accountKey, p.ipKey = h.throttleKeys(user.Username, r)
	if _, limited, err := h.reserveAttempt(ctx, p); err != nil || limited {
		return false, limited, err
	}
	if len(pw) > password.MaxLen {
		return false, false, nil
	}
	match, err = h.cfg.Hasher.Check(user.PasswordHash, pw)
	if err != nil || match {
		h.release(ctx, now, p.accountKey, p.ipKey)
	}
	return match && err == nil, false, err
}

// SignIn serves the first-party sign-in page: GET shows the login form,
// POST checks the password as Login does (throttles, audit), then asks
// for the second factor if the person has one (SignInMFA), else signs
// them in. Then the browser goes back to the path back gives for the
// form's return field.
func (k *Kit) SignIn(w http.ResponseWriter, r *http.Request) {
	h := k.h
	ctx := r.Context()
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		username := ""
		if _, u, ok, _ := h.browserSession(ctx, r); ok {
			username = u.Username
		}
		k.loginPage(w, r, http.StatusOK, r.URL.Query().Get("return"), username, "")
		return
	}
	if h.postsLimited(w, r) || !h.readPageForm(w, r) {
		return
	}
	ret := r.PostForm.Get("return")
	p := loginPost{username: NormalizeUsername(r.PostForm.Get("username")), now: h.now()}
	pw := r.PostForm.Get("password")
	if p.username == "" || pw == "" || len(p.username) > MaxUsernameLen || len(pw) > password.MaxLen {
		k.loginPage(w, r, http.StatusBadRequest, ret, "", "Enter your username and password.")
		return
	}
	p.accountKey, p.ipKey = h.throttleKeys(p.username, r)
	if until, limited, err := h.reserveAttempt(ctx, p); err != nil || limited {
		k.refuse(w, r, err, max(until.Sub(p.now), time.Second), "There were too many failed sign-in attempts. For your safety, signing in is paused; try again in ")
		return
	}
	user, known, match, err := h.checkPassword(ctx, p.username, pw)
	if err != nil || !match {
		if err != nil {
			h.release(ctx, p.now, p.accountKey, p.ipKey)
			k.unavailable(w, r, err)
			return
		}
		e := storage.AuditEntry{Type: adminapi.EventLoginFailed, Actor: audit.Anonymous, IP: h.cfg.IPs.String(r), Outcome: "unknown_user"}
		if known {
			e.Subject, e.Outcome = user.ID, "wrong_password"
		}
		if err := h.cfg.Audit.Append(ctx, e); err != nil {
			k.unavailable(w, r, err)
			return
		}
		k.loginPage(w, r, http.StatusOK, ret, p.username, "The username or password is not correct.")
		return
	}
	h.release(ctx, p.now, p.accountKey, p.ipKey)
	totp, passkeys, err := h.second.factorsOf(ctx, user.ID)
	switch {
	case err != nil:
		k.unavailable(w, r, err)
		return
	case !totp && passkeys > 0:
		// This page asks for codes only: a person whose second step is a
		// passkey signs in where the passkey is offered, never with the
		// password alone.
		k.loginPage(w, r, http.StatusOK, ret, p.username,
			"Your account signs in with a passkey. Sign in through an application's login page with it, then come back here.")
		return
	case !totp:
		k.finish(w, r, user, []string{mfa.AMRPassword}, ret)
		return
	}
	csrf, err := setPending(h, w, r, pending{UserID: user.ID, AMR: []string{mfa.AMRPassword}, AuthTime: p.now.Unix()})
	if err != nil {
		k.unavailable(w, r, err)
		return
	}
	k.mfaPage(w, r, csrf, ret, "")
}

// SignInMFA serves the second step of the first-party sign-in: a TOTP or
// recovery code, throttled and audited as MFA is.
func (k *Kit) SignInMFA(w http.ResponseWriter, r *http.Request) {
	h := k.h
	ctx := r.Context()
	if h.postsLimited(w, r) || !h.readPageForm(w, r) {
		return
	}
	ret := r.PostForm.Get("return")
	pd, ok := h.second.openPending(r)
	var user storage.User
	var err error
	if ok {
		user, err = h.store.GetUser(ctx, pd.UserID)
	}
	if !ok || err != nil || pd.Enroll != "" {
		h.cookies.Clear(w, pendingCookie)
		http.Redirect(w, r, KitSignInPath+"?return="+url.QueryEscape(k.back(ret)), http.StatusSeeOther)
		return
	}
	code := strings.Join(strings.Fields(r.PostForm.Get("code")), "")
	if code == "" || len(code) > 64 {
		k.mfaPage(w, r, h.cookies.CSRFToken(w, r), ret, "Enter the code.")
		return
	}
	now := h.now()
	key := MFAFailureKey(user.ID)
	reserved, _, until, err := h.store.ReserveAttempt(ctx, key, now, h.cfg.LoginWindow, h.cfg.LoginMaxFailures)
	if err != nil || !reserved {
		k.refuse(w, r, err, max(until.Sub(now), time.Second), "There were too many wrong codes. For your safety, signing in is paused; try again in ")
		return
	}
	factor, ok, err := h.second.checkFactor(ctx, user, code, now)
	if err != nil {
		h.release(ctx, now, key)
		k.unavailable(w, r, err)
		return
	}
	e := storage.AuditEntry{Type: adminapi.EventMFAFailed, Actor: audit.User(user.ID), Subject: user.ID, IP: h.cfg.IPs.String(r),
		Outcome: "wrong_code", Details: map[string]string{"factor": factor}}
	if ok {
		h.release(ctx, now, key)
		e.Type, e.Outcome = adminapi.EventMFASucceeded, ""
	}
	if err := h.cfg.Audit.Append(ctx, e); err != nil {
		k.unavailable(w, r, err)
		return
	}
	if !ok {
		k.mfaPage(w, r, h.cookies.CSRFToken(w, r), ret, "That code is not correct, or was used already.")
		return
	}
	h.cookies.Clear(w, pendingCookie)
	k.finish(w, r, user, withMFA(pd.AMR), ret)
}

// finish signs user in with the methods amr, as createSession does, and
// sends the browser back.
func (k *Kit) finish(w http.ResponseWriter, r *http.Request, user storage.User, amr []string, ret string) {
	h := k.h
	ctx := r.Context()
	now := h.now()
	value := web.RandomToken()
	bs := storage.BrowserSession{ID: sessionID(value), UserID: user.ID, AuthTime: now, ExpiresAt: now.Add(h.cfg.SessionTTL), AMR: amr,
		Device: web.Device(r.UserAgent())}
	undo, err := h.cfg.Logout.Replace(ctx, sessionOf(h.cookies, r), bs, h.cfg.IPs.String(r))
	if err != nil {
		k.unavailable(w, r, err)
		return
	}
	if err := h.cfg.Audit.Append(ctx, storage.AuditEntry{Type: adminapi.EventLoginSucceeded, Actor: audit.User(user.ID), Subject: user.ID,
		IP: h.cfg.IPs.String(r), Details: map[string]string{"amr": strings.Join(amr, " "), "via": "account"}}); err != nil {
		undo(context.WithoutCancel(ctx))
		k.unavailable(w, r, err)
		return
	}
	h.cookies.Set(w, sessionCookie, value, h.cfg.SessionTTL)
	h.log.Info("login succeeded", web.RequestField(ctx), userField(user.ID), zap.String("via", "account"))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, k.back(ret), http.StatusSeeOther)
}

func (k *Kit) loginPage(w http.ResponseWriter, r *http.Request, status int, ret, username, msg string) {
	csrf := k.h.cookies.CSRFToken(w, r)
	k.h.renderPage(w, r, status, func(b *bytes.Buffer) error {
		return k.h.cfg.Pages.Login(b, templates.LoginData{Action: KitSignInPath, CSRF: csrf, Return: k.back(ret),
			Username: username, Error: msg})
	})
}

func (k *Kit) mfaPage(w http.ResponseWriter, r *http.Request, csrf, ret, msg string) {
	k.h.renderPage(w, r, http.StatusOK, func(b *bytes.Buffer) error {
		return k.h.cfg.Pages.MFA(b, templates.MFAData{Action: KitSignInMFAPath, CSRF: csrf, Return: k.back(ret), Error: msg})
	})
}

// refuse answers a throttled sign-in step (or the store's failure err).
func (k *Kit) refuse(w http.ResponseWriter, r *http.Request, err error, wait time.Duration, msg string) {
	if err != nil {
		k.unavailable(w, r, err)
		return
	}
	w.Header().Set("Retry-After", web.RetryAfter(wait))
	k.h.messagePage(w, r, http.StatusTooManyRequests, "Too many attempts", msg+humanDuration(wait)+".")
}

func (k *Kit) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	k.h.log.Error("account sign-in", web.RequestField(r.Context()), zap.Error(err))
	k.h.errorPage(w, r, http.StatusServiceUnavailable, "Please try again", "The server cannot complete the request right now. Try again in a moment.")
}
