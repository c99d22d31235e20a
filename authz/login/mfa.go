package login

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"
	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/clientauth"
	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/authz/mfa"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/templates"
)

// FactorStore is what the second-factor pages read and write: a person's
// factors, passkeys and recovery codes, and used passkey challenges.
type FactorStore interface {
	ListFactors(ctx context.Context, userID string) ([]storage.Factor, error)
	CreateFactor(ctx context.Context, f storage.Factor) error
	AdvanceFactor(ctx context.Context, userID, id string, counter int64, now time.Time) error
	SetRecoveryCodes(ctx context.Context, userID string, digests [][]byte, now time.Time) error
	UseRecoveryCode(ctx context.Context, userID string, digest []byte, now time.Time) error
	ListPasskeys(ctx context.Context, userID string) ([]storage.Passkey, error)
	GetPasskey(ctx context.Context, credentialID []byte) (storage.Passkey, error)
	CreatePasskey(ctx context.Context, p storage.Passkey) error
	UsePasskey(ctx context.Context, userID, id string, signCount int64, now time.Time) error
	RenamePasskey(ctx context.Context, userID, id, name string) error
	DeletePasskey(ctx context.Context, userID, id string) error
	UseAssertion(ctx context.Context, clientID, jti string, expires time.Time) error
}

// SecondFactor serves the second step of a sign-in: the code of a
// factor, or the setup of one. It shares the Handler's pages, cookies
// and sessions; get it with Handler.SecondFactor.
type SecondFactor struct{ h *Handler }

// SecondFactor returns the handler of the second-factor pages.
func (h *Handler) SecondFactor() *SecondFactor { return h.second }

const (
	// pendingCookie holds the sealed state between the password and the
	// second factor.
	pendingCookie = "idvauth_mfa"
	// pendingTTL is how long a person has for the second step.
	pendingTTL = 10 * time.Minute
	// factor types in audit entries.
	factorTOTP     = "totp"
	factorRecovery = "recovery_code"
)

// pending is a sign-in half done: who passed the first step, with what,
// when; and the TOTP secret being set up, if any. It travels sealed
// (AES-256-GCM) in a cookie, bound to the browser's CSRF cookie, and is
// never a browser session: nothing is signed in until the second step.
type pending struct {
	UserID   string   `json:"u"`
	AMR      []string `json:"amr"`
	AuthTime int64    `json:"at"`
	Expires  int64    `json:"exp"`
	Enroll   string   `json:"enroll,omitempty"`
}

func pendingAAD(csrf string) []byte { return []byte("idvauth mfa pending v1\x00" + csrf) }

// required is the sign-in level the request form of client c needs: its
// acr_values and the claims parameter's acr (else the client's
// default_acr_values), raised to MFA by the client's require_mfa or the
// server's MFARequired.
func (m *SecondFactor) required(c *clientauth.Client, form url.Values) mfa.Level {
	h := m.h
	acrs, _ := mfa.RequestedACR(form) // checked by parseAuthorize
	need := mfa.Required(acrs)
	if need == mfa.None {
		need = mfa.Required(c.Rec.DefaultACRValues)
	}
	if c.Rec.RequireMFA || h.cfg.MFARequired {
		need = max(need, mfa.MFA)
	}
	return need
}

// secondStep asks the person of pd for their second factor, or to set
// one up if they have none: it seals pd into the pending cookie and shows
// the page. raw is the authorization request of client c. A request for
// a phishing-resistant sign-in takes a passkey only: one of theirs, or a
// new one, set up after their authenticator app if they have one.
func (m *SecondFactor) secondStep(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, raw string, user storage.User, pd pending) {
	h := m.h
	ctx := r.Context()
	factors, err := h.cfg.Factors.ListFactors(ctx, user.ID)
	var ps []storage.Passkey
	if err == nil {
		ps, err = h.cfg.Factors.ListPasskeys(ctx, user.ID)
	}
	if err != nil {
		h.writeAuthorizeError(w, r, ar, fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error()))
		return
	}
	c := ar.GetClient().(*clientauth.Client)
	hasTOTP := slices.ContainsFunc(factors, func(f storage.Factor) bool { return f.Kind == storage.FactorTOTP })
	phr := m.required(c, ar.GetRequestForm()) >= mfa.PhishingResistant
	codeFirst := phr && len(ps) == 0 && hasTOTP && !slices.Contains(pd.AMR, mfa.AMROTP)
	if !hasTOTP && len(ps) == 0 && !phr {
		secret, _, err := mfa.NewTOTP(h.cfg.Issuer, user.Username, rand.Reader)
		if err != nil {
			h.writeAuthorizeError(w, r, ar, fosite.ErrServerError.WithWrap(err).WithDebug(err.Error()))
			return
		}
		pd.Enroll = secret
	}
	csrf, err := setPending(h, w, r, pd)
	if err != nil {
		h.writeAuthorizeError(w, r, ar, fosite.ErrServerError.WithWrap(err).WithDebug(err.Error()))
		return
	}
	switch {
	case codeFirst, !phr && hasTOTP && len(ps) == 0:
		// No passkey to use; none is set up before the code is given.
		m.mfaPage(w, r, c, raw, csrf, nil, false, "")
	case len(ps) > 0:
		m.mfaPage(w, r, c, raw, csrf, m.passkeyChoice(w, r, raw, csrf, user, ps), phr, "")
	default:
		m.enrollPage(w, r, c, raw, csrf, user, pd.Enroll, m.passkeyChoice(w, r, raw, csrf, user, ps), "")
	}
}

// setPending seals pd, live for pendingTTL, into the pending cookie of
// r's browser, and returns the browser's CSRF token it is bound to.
func setPending(h *Handler, w http.ResponseWriter, r *http.Request, pd pending) (string, error) {
	pd.Expires = h.now().Add(pendingTTL).Unix()
	csrf := h.cookies.CSRFToken(w, r)
	b, _ := json.Marshal(pd)
	sealed, err := h.cfg.Sealer.Seal(b, pendingAAD(csrf))
	if err != nil {
		return "", err
	}
	h.cookies.Set(w, pendingCookie, base64.RawURLEncoding.EncodeToString(sealed), pendingTTL)
	return csrf, nil
}

// openPending returns the pending sign-in of r's browser, if it has a
// live one.
func (m *SecondFactor) openPending(r *http.Request) (pending, bool) {
	h := m.h
	var pd pending
	ck, err := r.Cookie(h.cookies.Name(pendingCookie))
	csrf, cerr := r.Cookie(h.cookies.Name(web.CSRFCookie))
	if err != nil || cerr != nil || len(ck.Value) > 4096 {
		return pd, false
	}
	sealed, err := base64.RawURLEncoding.DecodeString(ck.Value)
	if err != nil {
		return pd, false
	}
	b, _, err := h.cfg.Sealer.Open(sealed, pendingAAD(csrf.Value))
	if err != nil || json.Unmarshal(b, &pd) != nil || pd.UserID == "" || h.now().Unix() >= pd.Expires {
		return pending{}, false
	}
	return pd, true
}

// readSecondStep reads a post of the second-factor or enrollment form and
// the pending sign-in it continues. Without a live one the flow starts
// over at the authorization endpoint. It answers itself when it returns
// false.
func (m *SecondFactor) readSecondStep(w http.ResponseWriter, r *http.Request) (loginPost, storage.User, pending, bool) {
	h := m.h
	if h.postsLimited(w, r) {
		return loginPost{}, storage.User{}, pending{}, false
	}
	raw, ar, ok := h.readPageRequest(w, r)
	if !ok {
		return loginPost{}, storage.User{}, pending{}, false
	}
	p := loginPost{raw: raw, ar: ar, c: ar.GetClient().(*clientauth.Client), now: h.now()}
	pd, ok := m.openPending(r)
	if !ok {
		h.cookies.Clear(w, pendingCookie)
		h.authorize(w, r, raw, flowState{})
		return p, storage.User{}, pd, false
	}
	user, err := h.store.GetUser(r.Context(), pd.UserID)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			h.cookies.Clear(w, pendingCookie)
			h.authorize(w, r, raw, flowState{})
		} else {
			h.writeAuthorizeError(w, r, ar, fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error()))
		}
		return p, user, pd, false
	}
	return p, user, pd, true
}

// MFAFailureKey is the failure counter of second-factor attempts on the
// account userID, apart from the password's.
func MFAFailureKey(userID string) string { return "login:mfa:" + userID }

// MFA serves the second-factor form's post: a TOTP code or a recovery
// code, for the pending sign-in.
func (m *SecondFactor) MFA(w http.ResponseWriter, r *http.Request) {
	h := m.h
	ctx := r.Context()
	p, user, pd, ok := m.readSecondStep(w, r)
	if !ok {
		return
	}
	if pd.Enroll != "" {
		h.errorPage(w, r, http.StatusBadRequest, "The form could not be read", "Go back to the application and start again.")
		return
	}
	code := strings.Join(strings.Fields(r.PostForm.Get("code")), "")
	if code == "" || len(code) > 64 {
		m.mfaPage(w, r, p.c, p.raw, h.cookies.CSRFToken(w, r), nil, false, "Enter the code.")
		return
	}
	// Counted before the check, as passwords are: N concurrent wrong codes
	// never check more than the limit.
	key := MFAFailureKey(user.ID)
	reserved, _, until, err := h.store.ReserveAttempt(ctx, key, p.now, h.cfg.LoginWindow, h.cfg.LoginMaxFailures)
	if err != nil {
		h.writeAuthorizeError(w, r, p.ar, fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error()))
		return
	}
	if !reserved {
		m.auditMFA(ctx, r, p, user, adminapi.EventMFAFailed, "", "throttled")
		w.Header().Set("Retry-After", web.RetryAfter(max(until.Sub(p.now), time.Second)))
		h.messagePage(w, r, http.StatusTooManyRequests, "Too many attempts",
			"There were too many wrong codes. For your safety, signing in is paused; try again in "+humanDuration(max(until.Sub(p.now), time.Second))+".")
		return
	}
	factor, ok, err := m.checkFactor(ctx, user, code, p.now)
	if err != nil {
		h.release(ctx, p.now, key)
		h.writeAuthorizeError(w, r, p.ar, fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error()))
		return
	}
	if !ok {
		// The attempt stays counted.
		if m.auditMFA(ctx, r, p, user, adminapi.EventMFAFailed, factor, "wrong_code") != nil {
			h.writeAuthorizeError(w, r, p.ar, fosite.ErrTemporarilyUnavailable)
			return
		}
		m.mfaPage(w, r, p.c, p.raw, h.cookies.CSRFToken(w, r), nil, false, "That code is not correct, or was used already.")
		return
	}
	// Only this attempt is taken back (see Login): clearing the
	// account's count would let codes guessed at the same time past the
	// limit.
	h.release(ctx, p.now, key)
	if m.auditMFA(ctx, r, p, user, adminapi.EventMFASucceeded, factor, "") != nil {
		h.writeAuthorizeError(w, r, p.ar, fosite.ErrTemporarilyUnavailable)
		return
	}
	h.cookies.Clear(w, pendingCookie)
	h.startSession(w, r, p, user, withMFA(pd.AMR))
}

// checkFactor checks code against user's factors: six digits against the
// TOTP factor (once per time step), anything else as a recovery code
// (once). It returns the factor type tried and whether code was right.
func (m *SecondFactor) checkFactor(ctx context.Context, user storage.User, code string, now time.Time) (string, bool, error) {
	h := m.h
	if len(code) == mfa.Digits && strings.Trim(code, "0123456789") == "" {
		factors, err := h.cfg.Factors.ListFactors(ctx, user.ID)
		if err != nil {
			return factorTOTP, false, err
		}
		i := slices.IndexFunc(factors, func(f storage.Factor) bool { return f.Kind == storage.FactorTOTP })
		if i < 0 {
			return factorTOTP, false, nil
		}
		f := factors[i]
		step, ok, err := mfa.MatchTOTP(string(f.Secret), code, now, f.Counter)
		if !ok || err != nil {
			return factorTOTP, false, nil // wrong, or replayed
		}
		// The store lets one use of the step win, on every replica.
		switch err := h.cfg.Factors.AdvanceFactor(ctx, user.ID, f.ID, step, now); {
		case errors.Is(err, storage.ErrConflict), errors.Is(err, storage.ErrNotFound):
			return factorTOTP, false, nil
		case err != nil:
			return factorTOTP, false, err
		}
		return factorTOTP, true, nil
	}
	norm, ok := mfa.NormalizeRecovery(code)
	if !ok {
		return factorRecovery, false, nil
	}
	switch err := h.cfg.Factors.UseRecoveryCode(ctx, user.ID, mfa.RecoveryDigest(norm), now); {
	case errors.Is(err, storage.ErrNotFound):
		return factorRecovery, false, nil
	case err != nil:
		return factorRecovery, false, err
	}
	return factorRecovery, true, nil
}

// Enroll serves the authenticator app setup form's post: a code from the
// new app confirms it. Then the person is signed in with both factors and
// sees their recovery codes once.
func (m *SecondFactor) Enroll(w http.ResponseWriter, r *http.Request) {
	h := m.h
	ctx := r.Context()
	p, user, pd, ok := m.readSecondStep(w, r)
	if !ok {
		return
	}
	if pd.Enroll == "" {
		h.errorPage(w, r, http.StatusBadRequest, "The form could not be read", "Go back to the application and start again.")
		return
	}
	code := strings.Join(strings.Fields(r.PostForm.Get("code")), "")
	step, match, err := mfa.MatchTOTP(pd.Enroll, code, p.now, -1)
	if err != nil || !match {
		if m.auditMFA(ctx, r, p, user, adminapi.EventMFAFailed, factorTOTP, "wrong_code", "action", "enroll") != nil {
			h.writeAuthorizeError(w, r, p.ar, fosite.ErrTemporarilyUnavailable)
			return
		}
		m.enrollPage(w, r, p.c, p.raw, h.cookies.CSRFToken(w, r), user, pd.Enroll, nil, "That code is not correct. Enter the code the app shows now.")
		return
	}
	// The store seals the secret under the person's data key (authz/seal).
	f := storage.Factor{ID: "f_" + web.Random(16), UserID: user.ID, Kind: storage.FactorTOTP, Name: "Authenticator app",
		Secret: []byte(pd.Enroll), Counter: step, CreatedAt: p.now, LastUsedAt: p.now}
	codes, digests := mfa.NewRecoveryCodes()
	if err := h.cfg.Factors.CreateFactor(ctx, f); err != nil {
		if errors.Is(err, storage.ErrAlreadyExists) {
			// Set up meanwhile in another window: sign in with it.
			h.authorize(w, r, p.raw, flowState{})
			return
		}
		h.writeAuthorizeError(w, r, p.ar, fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error()))
		return
	}
	if err := h.cfg.Factors.SetRecoveryCodes(ctx, user.ID, digests, p.now); err != nil {
		h.writeAuthorizeError(w, r, p.ar, fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error()))
		return
	}
	if m.auditMFA(ctx, r, p, user, adminapi.EventMFASucceeded, factorTOTP, "", "action", "enroll") != nil {
		h.writeAuthorizeError(w, r, p.ar, fosite.ErrTemporarilyUnavailable)
		return
	}
	h.cookies.Clear(w, pendingCookie)
	if _, ok := h.createSession(w, r, p, user, withMFA(pd.AMR)); !ok {
		return
	}
	// The codes are shown once; Continue takes the request on, without
	// asking for a sign-in again.
	cont := "/oauth2/authorize?" + withoutLoginPrompt(p.raw)
	h.renderPage(w, r, http.StatusOK, func(b *bytes.Buffer) error {
		return h.cfg.Pages.Recovery(b, templates.RecoveryData{Codes: codes, Continue: cont})
	})
}

// withMFA is amr with a one-time password and mfa added.
func withMFA(amr []string) []string {
	out := mfa.AMR(amr)
	for _, m := range []string{mfa.AMROTP, mfa.AMRMFA} {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// auditMFA appends a second-factor entry of type typ: the factor type and
// outcome, never the code; kv are extra details in pairs.
func (m *SecondFactor) auditMFA(ctx context.Context, r *http.Request, p loginPost, user storage.User, typ, factor, outcome string, kv ...string) error {
	h := m.h
	d := map[string]string{}
	if factor != "" {
		d["factor"] = factor
	}
	for i := 0; i+1 < len(kv); i += 2 {
		d[kv[i]] = kv[i+1]
	}
	h.log.Info("second factor", web.RequestField(ctx), zap.String("event", typ), zap.String("factor", factor), clientField(p.c.GetID()), userField(user.ID))
	return h.cfg.Audit.Append(ctx, storage.AuditEntry{Type: typ, Actor: audit.User(user.ID), ClientID: p.c.GetID(), Subject: user.ID,
		IP: h.cfg.IPs.String(r), Outcome: outcome, Details: d})
}

// mfaPage shows the second-factor page: the code form unless
// passkeyOnly, and the passkey button pk if set.
func (m *SecondFactor) mfaPage(w http.ResponseWriter, r *http.Request, c *clientauth.Client, raw, csrf string, pk *templates.Passkey, passkeyOnly bool, msg string) {
	h := m.h
	render := h.renderForm
	if pk != nil {
		render = h.renderScript
	}
	render(w, r, http.StatusOK, redirectSource(c, raw), func(b *bytes.Buffer) error {
		return h.cfg.Pages.MFA(b, templates.MFAData{Action: MFAPath, CSRF: csrf, Return: raw, ClientName: c.Rec.Name, Error: msg,
			Passkey: pk, PasskeyOnly: passkeyOnly && pk != nil})
	})
}

// enrollPage shows the setup page: the authenticator app of secret if
// set, and the passkey button pk if set.
func (m *SecondFactor) enrollPage(w http.ResponseWriter, r *http.Request, c *clientauth.Client, raw, csrf string, user storage.User, secret string, pk *templates.Passkey, msg string) {
	h := m.h
	render := h.renderForm
	if pk != nil {
		render = h.renderScript
	}
	d := templates.EnrollData{Action: EnrollPath, CSRF: csrf, Return: raw, ClientName: c.Rec.Name, Secret: secret, Passkey: pk, Error: msg}
	if secret == "" {
		render(w, r, http.StatusOK, redirectSource(c, raw), func(b *bytes.Buffer) error { return h.cfg.Pages.Enroll(b, d) })
		return
	}
	uri := (&url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + m.issuerLabel() + ":" + user.Username,
		RawQuery: url.Values{"secret": {secret}, "issuer": {m.issuerLabel()}, "algorithm": {"SHA1"}, "digits": {"6"}, "period": {"30"}}.Encode()}).String()
	qr, err := mfa.QRSVG(uri)
	if err != nil {
		h.writeAuthorizeError(w, r, nil, fosite.ErrServerError.WithWrap(err).WithDebug(err.Error()))
		return
	}
	d.URI, d.QR = uri, qr
	render(w, r, http.StatusOK, redirectSource(c, raw), func(b *bytes.Buffer) error { return h.cfg.Pages.Enroll(b, d) })
}

// issuerLabel names this server in authenticator apps: the issuer's host.
func (m *SecondFactor) issuerLabel() string {
	h := m.h
	if u, err := url.Parse(h.cfg.Issuer); err == nil && u.Host != "" {
		return u.Host
	}
	return "idvauth"
}

// factorsOf reports whether the person has an authenticator app and how
// many passkeys they have.
func (m *SecondFactor) factorsOf(ctx context.Context, userID string) (totp bool, passkeys int, err error) {
	factors, err := m.h.cfg.Factors.ListFactors(ctx, userID)
	if err != nil {
		return false, 0, err
	}
	ps, err := m.h.cfg.Factors.ListPasskeys(ctx, userID)
	return slices.ContainsFunc(factors, func(f storage.Factor) bool { return f.Kind == storage.FactorTOTP }), len(ps), err
}

// afterPassword goes on from a right password: to the second step if the
// person has a factor or the request needs one, else signed in.
func (m *SecondFactor) afterPassword(w http.ResponseWriter, r *http.Request, p loginPost, user storage.User) {
	h := m.h
	totp, passkeys, err := m.factorsOf(r.Context(), user.ID)
	if err != nil {
		h.writeAuthorizeError(w, r, p.ar, fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error()))
		return
	}
	if !totp && passkeys == 0 && m.required(p.c, p.ar.GetRequestForm()) < mfa.MFA {
		h.startSession(w, r, p, user, []string{mfa.AMRPassword})
		return
	}
	m.secondStep(w, r, p.ar, p.raw, user, pending{UserID: user.ID, AMR: []string{mfa.AMRPassword}, AuthTime: p.now.Unix()})
}
