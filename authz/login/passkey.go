package login

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/clientauth"
	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/clientip"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/authz/passkey"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/templates"
)

// Paths of the passkey ceremonies' JSON endpoints: webauthn.js posts the
// credential there, with the authorization request in the query
// parameter "return".
const (
	// PasskeyLoginPath signs in with a passkey alone.
	PasskeyLoginPath = "/login/passkey"
	// PasskeyMFAPath takes a passkey as the second step.
	PasskeyMFAPath = "/login/mfa/passkey"
	// PasskeyEnrollPath sets a passkey up as the second step.
	PasskeyEnrollPath = "/login/mfa/enroll/passkey"
)

const (
	// webauthnCookie holds the sealed state of the ceremony the page
	// began (passkey.RP).
	webauthnCookie = "idvauth_webauthn"
	// factorWebAuthn is a passkey's factor type in audit entries.
	factorWebAuthn = "webauthn"
	// maxCredentialLen bounds a posted credential.
	maxCredentialLen = 64 << 10
	// EventPasskeyAdded and EventPasskeyRemoved are audit entries of a
	// person's passkeys (details: passkey, the ID; name).
	EventPasskeyAdded   = "passkey.added"
	EventPasskeyRemoved = "passkey.removed"
	EventPasskeyRenamed = "passkey.renamed"
)

// Passkeys serves passkey sign-in and a signed-in person's passkeys. It
// shares the Handler's pages, cookies and sessions; get it with
// Handler.Passkeys.
type Passkeys struct{ h *Handler }

// Passkeys returns the handler of the passkey endpoints.
func (h *Handler) Passkeys() *Passkeys { return h.pk }

// Routes are the passkey endpoints by path, for the public listener;
// none if passkeys cannot be used with this issuer.
func (k *Passkeys) Routes() map[string]http.HandlerFunc {
	h := k.h
	if h.passkeys == nil {
		return nil
	}
	return map[string]http.HandlerFunc{
		PasskeyLoginPath: k.PasskeyLogin, PasskeyMFAPath: h.second.Passkey, PasskeyEnrollPath: h.second.PasskeyEnroll,
		AccountPasskeysPath: k.AccountPasskeys, AccountPasskeysAddPath: k.AccountPasskeyAdd,
		AccountPasskeysRenamePath: k.AccountPasskeyRename, AccountPasskeysRemovePath: k.AccountPasskeyRemove,
	}
}

// beginPasskey begins a passkey sign-in for the page it goes on: anyone's
// passkey if userID is empty, else one of ps, userID's. It sets the
// state cookie and returns the button, nil if passkeys are off (or the
// state could not be made: the page then works without).
func (k *Passkeys) beginPasskey(w http.ResponseWriter, r *http.Request, csrf, finish, raw, userID string, ps []storage.Passkey) *templates.Passkey {
	h := k.h
	if h.passkeys == nil {
		return nil
	}
	b, err := h.passkeys.BeginLogin(userID, ps, csrf)
	if err != nil {
		h.log.Error("begin passkey sign-in", web.RequestField(r.Context()), zap.Error(err))
		return nil
	}
	label := "Sign in with a passkey"
	if userID != "" {
		label = "Use your passkey"
	}
	return k.passkeyButton(w, "get", b, finish, raw, csrf, label)
}

func (k *Passkeys) passkeyButton(w http.ResponseWriter, kind string, b passkey.Begun, finish, raw, csrf, label string) *templates.Passkey {
	h := k.h
	h.cookies.Set(w, webauthnCookie, b.State, passkey.StateTTL)
	if raw != "" {
		finish += "?" + url.Values{"return": {raw}}.Encode()
	}
	return &templates.Passkey{Kind: kind, Options: b.Options, Finish: finish, CSRF: csrf, Label: label}
}

// ceremonyPost is a post of a ceremony's JSON endpoint that passed the
// checks of readCeremony.
type ceremonyPost struct {
	body        []byte
	csrf, state string
}

// readCeremony reads a credential post: POST, application/json, at most
// maxCredentialLen, with the browser's CSRF token in X-CSRF-Token and a
// ceremony state cookie. It answers JSON errors itself.
func (k *Passkeys) readCeremony(w http.ResponseWriter, r *http.Request) (ceremonyPost, bool) {
	h := k.h
	var cp ceremonyPost
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		web.WriteError(w, http.StatusMethodNotAllowed, "invalid_request", "Use POST.")
		return cp, false
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		web.WriteError(w, http.StatusUnsupportedMediaType, "invalid_request", "The credential must be sent as application/json.")
		return cp, false
	}
	ck, err := r.Cookie(h.cookies.Name(web.CSRFCookie))
	tok := r.Header.Get("X-CSRF-Token")
	if err != nil || len(ck.Value) != 43 || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(tok)) != 1 {
		web.WriteError(w, http.StatusForbidden, "invalid_request", "The page has expired: reload it and try again.")
		return cp, false
	}
	st, err := r.Cookie(h.cookies.Name(webauthnCookie))
	if err != nil {
		web.WriteError(w, http.StatusBadRequest, "invalid_request", "The passkey request has expired: reload the page and try again.")
		return cp, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCredentialLen))
	if err != nil || !json.Valid(body) {
		web.WriteError(w, http.StatusBadRequest, "invalid_request", "The credential is not JSON of at most 64 KiB.")
		return cp, false
	}
	return ceremonyPost{body: body, csrf: ck.Value, state: st.Value}, true
}

// ceremonyError answers a failed ceremony step in JSON.
func (k *Passkeys) ceremonyError(w http.ResponseWriter, r *http.Request, err error) {
	h := k.h
	switch {
	case errors.Is(err, passkey.ErrState):
		web.WriteError(w, http.StatusBadRequest, "invalid_request", "The passkey request has expired or was used: reload the page and try again.")
	case errors.Is(err, passkey.ErrInput):
		web.WriteError(w, http.StatusBadRequest, "invalid_request", "The credential could not be read.")
	case errors.Is(err, passkey.ErrRefused), errors.Is(err, storage.ErrNotFound):
		web.WriteError(w, http.StatusBadRequest, "access_denied", "The passkey was not accepted.")
	case errors.Is(err, passkey.ErrCloned):
		web.WriteError(w, http.StatusBadRequest, "access_denied", "The passkey was not accepted: its device may have been copied. Use another way to sign in.")
	default:
		h.log.Error("passkey ceremony", web.RequestField(r.Context()), zap.Error(err))
		web.WriteError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The server cannot check passkeys right now. Try again in a moment.")
	}
}

// writeRedirect answers a finished ceremony: the page goes to next.
func writeRedirect(w http.ResponseWriter, next string) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]string{"redirect": next})
}

// readPasskeyRequest is readCeremony for the sign-in endpoints, with the
// authorization request of the query parameter return, checked again.
func (k *Passkeys) readPasskeyRequest(w http.ResponseWriter, r *http.Request) (ceremonyPost, loginPost, bool) {
	h := k.h
	cp, ok := k.readCeremony(w, r)
	if !ok {
		return cp, loginPost{}, false
	}
	if ok, wait := h.cfg.LoginLimiter.Allow(clientip.LimitKey(h.cfg.IPs.Addr(r)), h.now()); !ok {
		h.cfg.OnLimited(r, "ip")
		w.Header().Set("Retry-After", web.RetryAfter(wait))
		web.WriteError(w, http.StatusTooManyRequests, "slow_down", "Too many sign-in attempts come from your network. Try again later.")
		return cp, loginPost{}, false
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	raw := q.Get("return")
	if err != nil || len(q["return"]) != 1 {
		web.WriteError(w, http.StatusBadRequest, "invalid_request", "The query parameter return must be given once.")
		return cp, loginPost{}, false
	}
	ar, err := h.parseAuthorize(r.Context(), r, raw)
	if err != nil {
		web.WriteError(w, http.StatusBadRequest, "invalid_request", "The authorization request is not valid: go back to the application and start again.")
		return cp, loginPost{}, false
	}
	return cp, loginPost{raw: raw, ar: ar, c: ar.GetClient().(*clientauth.Client), now: h.now()}, true
}

// PasskeyLogin signs a person in with a passkey alone (discoverable):
// phishing-resistant multi-factor sign-in, then the authorization
// request goes on.
func (k *Passkeys) PasskeyLogin(w http.ResponseWriter, r *http.Request) {
	h := k.h
	cp, p, ok := k.readPasskeyRequest(w, r)
	if !ok {
		return
	}
	res, user, ok := k.checkPasskey(w, r, cp, p, passkey.KindLogin, "")
	if !ok {
		return
	}
	h.cookies.Clear(w, webauthnCookie)
	h.cookies.Clear(w, pendingCookie)
	if _, ok := h.createSession(w, r, p, user, res.AMR); !ok {
		return
	}
	writeRedirect(w, "/oauth2/authorize?"+withoutLoginPrompt(p.raw))
}

// checkPasskey checks the assertion cp posts against the ceremony of kind
// its state began, for the person wantUser if set: counted against the
// person's second-factor failures, audited either way. It answers
// failures itself.
func (k *Passkeys) checkPasskey(w http.ResponseWriter, r *http.Request, cp ceremonyPost, p loginPost, kind, wantUser string) (passkey.Result, storage.User, bool) {
	h := k.h
	ctx := r.Context()
	a, err := passkey.ParseAssertion(cp.body)
	if err != nil {
		k.ceremonyError(w, r, err)
		return passkey.Result{}, storage.User{}, false
	}
	pk, err := h.cfg.Factors.GetPasskey(ctx, a.CredentialID())
	if err == nil && wantUser != "" && pk.UserID != wantUser {
		err = storage.ErrNotFound
	}
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) && h.cfg.Audit.Append(ctx, storage.AuditEntry{Type: adminapi.EventLoginFailed, Actor: audit.Anonymous,
			ClientID: p.c.GetID(), Subject: wantUser, IP: h.cfg.IPs.String(r), Outcome: "unknown_passkey", Details: map[string]string{"factor": factorWebAuthn}}) != nil {
			err = errors.New("audit unavailable")
		}
		k.ceremonyError(w, r, err)
		return passkey.Result{}, storage.User{}, false
	}
	user, err := h.store.GetUser(ctx, pk.UserID)
	if err != nil {
		k.ceremonyError(w, r, err)
		return passkey.Result{}, storage.User{}, false
	}
	// Counted before the check, as passwords and codes are.
	key := MFAFailureKey(user.ID)
	reserved, _, until, err := h.store.ReserveAttempt(ctx, key, p.now, h.cfg.LoginWindow, h.cfg.LoginMaxFailures)
	if err != nil {
		k.ceremonyError(w, r, err)
		return passkey.Result{}, user, false
	}
	if !reserved {
		_ = h.second.auditMFA(ctx, r, p, user, adminapi.EventMFAFailed, factorWebAuthn, "throttled")
		w.Header().Set("Retry-After", web.RetryAfter(max(until.Sub(p.now), time.Second)))
		web.WriteError(w, http.StatusTooManyRequests, "slow_down", "There were too many failed attempts. For your safety, signing in is paused; try again in "+humanDuration(max(until.Sub(p.now), time.Second))+".")
		return passkey.Result{}, user, false
	}
	res, err := h.passkeys.FinishLogin(ctx, cp.state, cp.csrf, kind, a, pk)
	if err != nil {
		outcome := "refused"
		switch {
		case errors.Is(err, passkey.ErrCloned):
			outcome = "cloned"
			h.log.Warn("passkey counter went back: cloned authenticator?", web.RequestField(ctx), userField(user.ID), zap.String("passkey", pk.ID))
		case errors.Is(err, passkey.ErrState):
			outcome = "expired"
			h.release(ctx, p.now, key) // not an attempt at the passkey
		case !errors.Is(err, passkey.ErrRefused):
			h.release(ctx, p.now, key)
			k.ceremonyError(w, r, err)
			return res, user, false
		}
		if h.second.auditMFA(ctx, r, p, user, adminapi.EventMFAFailed, factorWebAuthn, outcome, "passkey", pk.ID) != nil {
			err = errors.New("audit unavailable")
		}
		k.ceremonyError(w, r, err)
		return res, user, false
	}
	h.release(ctx, p.now, key)
	if h.second.auditMFA(ctx, r, p, user, adminapi.EventMFASucceeded, factorWebAuthn, "", "passkey", pk.ID) != nil {
		k.ceremonyError(w, r, errors.New("audit unavailable"))
		return res, user, false
	}
	return res, user, true
}

// mergeAMR is amr with the methods add appended, each once.
func mergeAMR(amr, add []string) []string {
	out := slices.Clone(amr)
	for _, m := range add {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}
