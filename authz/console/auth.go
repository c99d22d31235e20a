package console

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/adminauth"
	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/clientip"
	"github.com/idvauth/idvauth/authz/internal/password"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/authz/mfa"
	"github.com/idvauth/idvauth/storage"
)

// totpFactor names the operator's TOTP secret in its sealing.
const totpFactor = "operator-totp"

// genericFailure does not say whether the username exists.
const genericFailure = "The username or password is wrong, or the account cannot sign in."

// throttleKeys are the failure counters of a sign-in: the account (a keyed
// hash of the username) and the source address.
func (h *Handler) throttleKeys(username string, r *http.Request) []string {
	m := hmac.New(sha256.New, h.cfg.ThrottleSecret)
	m.Write([]byte(username))
	return []string{"console:user:" + hex.EncodeToString(m.Sum(nil)[:16]), "console:ip:" + clientip.LimitKey(h.cfg.IPs.Addr(r))}
}

// reserve counts one attempt under each key; limited if one is used up.
func (h *Handler) reserve(ctx context.Context, keys []string, now time.Time) (limited bool, err error) {
	limits := []int{h.cfg.MaxFailures, h.cfg.MaxFailuresPerIP}
	for i, k := range keys {
		ok, _, _, err := h.cfg.Store.ReserveAttempt(ctx, k, now, h.cfg.Window, limits[i])
		if err != nil || !ok {
			h.release(ctx, now, keys[:i]...)
			return err == nil, err
		}
	}
	return false, nil
}

func (h *Handler) release(ctx context.Context, now time.Time, keys ...string) {
	for _, k := range keys {
		if err := h.cfg.Store.ReleaseAttempt(context.WithoutCancel(ctx), k, now); err != nil {
			h.log.Warn("release a sign-in attempt", web.RequestField(ctx), zap.Error(err))
		}
	}
}

// auditOp appends an entry about operator op (actor operator:<op>, or
// anonymous when op is unknown).
func (h *Handler) auditOp(ctx context.Context, r *http.Request, typ, op, outcome string) error {
	actor := audit.Anonymous
	if op != "" {
		actor = adminauth.OperatorActor(op)
	}
	return h.cfg.Audit.Append(ctx, storage.AuditEntry{Type: typ, Actor: actor, Subject: op, IP: h.cfg.IPs.String(r), Outcome: outcome,
		Details: map[string]string{"via": "console"}})
}

// auditRefusal appends the entry of a refused or ended step, whose answer
// does not wait on the trail: a failure to store it is logged, as the
// trail's gap must be seen.
func (h *Handler) auditRefusal(ctx context.Context, r *http.Request, typ, op, outcome string) {
	if err := h.auditOp(ctx, r, typ, op, outcome); err != nil {
		h.log.Error("audit entry not stored", web.RequestField(ctx), zap.String("type", typ), zap.String("outcome", outcome), zap.Error(err))
	}
}

func (h *Handler) dummy() string {
	h.dummyOnce.Do(func() {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		h.dummyHash, _ = h.cfg.Hasher.Params().Hash(hex.EncodeToString(b))
	})
	return h.dummyHash
}

// signIn serves the sign-in page and its post (username and password).
func (h *Handler) signIn(w http.ResponseWriter, r *http.Request) {
	next := LocalPath(r.URL.Query().Get("next"))
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		if _, _, ok, _ := h.readSession(r); ok {
			http.Redirect(w, r, cmpOr(next, Prefix+"/"), http.StatusSeeOther)
			return
		}
		h.render(w, r, http.StatusOK, "signin", pageData{Title: "Sign in", Next: next})
		return
	}
	if !h.readForm(w, r) {
		return
	}
	ctx := r.Context()
	next = LocalPath(r.PostForm.Get("next"))
	username, pw := r.PostForm.Get("username"), r.PostForm.Get("password")
	fail := func(status int, msg string) {
		h.render(w, r, status, "signin", pageData{Title: "Sign in", Next: next, Error: msg, Username: username})
	}
	if username == "" || pw == "" || len(username) > 64 || len(pw) > password.MaxLen {
		fail(http.StatusBadRequest, "Enter your username and password.")
		return
	}
	now := h.now()
	keys := h.throttleKeys(username, r)
	if limited, err := h.reserve(ctx, keys, now); err != nil {
		h.unavailable(w, r, err)
		return
	} else if limited {
		h.auditRefusal(ctx, r, adminapi.EventOperatorSignInFailed, "", "throttled")
		fail(http.StatusTooManyRequests, "Too many failed attempts. Try again later.")
		return
	}
	o, err := h.cfg.Store.GetOperatorByUsername(ctx, username)
	known := err == nil
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.release(ctx, now, keys...)
		h.unavailable(w, r, err)
		return
	}
	hash := h.dummy()
	if known && o.PasswordHash != "" {
		hash = o.PasswordHash
	}
	match, err := h.cfg.Hasher.Check(hash, pw)
	if errors.Is(err, password.ErrBusy) {
		h.release(ctx, now, keys...)
		w.Header().Set("Retry-After", "1")
		fail(http.StatusServiceUnavailable, "The server is busy. Try again in a moment.")
		return
	}
	if !known || o.PasswordHash == "" || o.Disabled || len(o.TOTPSecret) == 0 || err != nil || !match {
		outcome := "unknown_user"
		switch {
		case known && (o.PasswordHash == "" || len(o.TOTPSecret) == 0):
			outcome = "not_enrolled"
		case known && o.Disabled:
			outcome = "disabled"
		case known:
			outcome = "wrong_password"
		}
		if known {
			h.auditRefusal(ctx, r, adminapi.EventOperatorSignInFailed, o.ID, outcome)
		} else {
			h.auditRefusal(ctx, r, adminapi.EventOperatorSignInFailed, "", outcome)
		}
		fail(http.StatusUnauthorized, genericFailure)
		return
	}
	h.release(ctx, now, keys...)
	if err := h.setSealed(w, pendingCookie, pending{Op: o.ID, Exp: now.Add(pendingTTL).Unix(), Next: next}, pendingTTL); err != nil {
		h.unavailable(w, r, err)
		return
	}
	http.Redirect(w, r, SignInTOTPPath, http.StatusSeeOther)
}

// signInTOTP serves the second step: the authenticator app's code.
func (h *Handler) signInTOTP(w http.ResponseWriter, r *http.Request) {
	var p pending
	if !h.readSealed(r, pendingCookie, &p) || h.now().Unix() >= p.Exp {
		http.Redirect(w, r, SignInPath, http.StatusSeeOther)
		return
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		h.render(w, r, http.StatusOK, "totp", pageData{Title: "Enter your code", Action: SignInTOTPPath})
		return
	}
	if !h.readForm(w, r) {
		return
	}
	ctx := r.Context()
	fail := func(status int, msg string) {
		h.render(w, r, status, "totp", pageData{Title: "Enter your code", Action: SignInTOTPPath, Error: msg})
	}
	o, err := h.cfg.Store.GetOperator(ctx, p.Op)
	if err != nil || o.Disabled || len(o.TOTPSecret) == 0 {
		h.clear(w, pendingCookie)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			h.unavailable(w, r, err)
			return
		}
		http.Redirect(w, r, SignInPath, http.StatusSeeOther)
		return
	}
	now := h.now()
	keys := h.throttleKeys(o.Username, r)
	if limited, err := h.reserve(ctx, keys, now); err != nil {
		h.unavailable(w, r, err)
		return
	} else if limited {
		h.auditRefusal(ctx, r, adminapi.EventOperatorMFAFailed, o.ID, "throttled")
		fail(http.StatusTooManyRequests, "Too many failed attempts. Try again later.")
		return
	}
	secret, err := mfa.OpenSecret(h.cfg.Sealer, o.ID, totpFactor, o.TOTPSecret)
	if err != nil {
		h.release(ctx, now, keys...)
		h.unavailable(w, r, err)
		return
	}
	step, ok, err := mfa.MatchTOTP(secret, r.PostForm.Get("code"), now, o.TOTPCounter)
	if !ok {
		outcome := "wrong_code"
		if errors.Is(err, mfa.ErrReplayed) {
			outcome = "replayed"
		}
		h.auditRefusal(ctx, r, adminapi.EventOperatorMFAFailed, o.ID, outcome)
		fail(http.StatusUnauthorized, "That code is not right. Enter the code your app shows now.")
		return
	}
	// Only the counter: the operator read above may be stale (disabled or
	// demoted since), and of two sign-ins with one code one wins.
	if err := h.cfg.Store.AdvanceOperatorTOTP(ctx, o.ID, step, now.Truncate(time.Second)); errors.Is(err, storage.ErrConflict) {
		h.auditRefusal(ctx, r, adminapi.EventOperatorMFAFailed, o.ID, "replayed")
		fail(http.StatusUnauthorized, "That code is not right. Enter the code your app shows now.")
		return
	} else if err != nil {
		h.unavailable(w, r, err)
		return
	}
	h.release(ctx, now, keys...)
	if err := h.auditOp(ctx, r, adminapi.EventOperatorSignedIn, o.ID, "success"); err != nil {
		h.unavailable(w, r, err)
		return
	}
	h.clear(w, pendingCookie)
	if err := h.startSession(w, r, o.ID); err != nil {
		h.unavailable(w, r, err)
		return
	}
	http.Redirect(w, r, cmpOr(p.Next, Prefix+"/"), http.StatusSeeOther)
}

// signOut ends the browser's session, on the server. The access token it
// held is not revoked: it expires within TokenTTL.
func (h *Handler) signOut(w http.ResponseWriter, r *http.Request) {
	if !h.readForm(w, r) {
		return
	}
	if st, rec, ok, _ := h.readSession(r); ok {
		if err := h.cfg.Store.DeleteOperatorSession(r.Context(), digest(st.ID)); err != nil {
			h.unavailable(w, r, err)
			return
		}
		h.auditRefusal(r.Context(), r, adminapi.EventOperatorSignedOut, rec.OperatorID, "success")
	}
	h.clear(w, sessionCookie)
	http.Redirect(w, r, SignInPath, http.StatusSeeOther)
}

// enroll serves the enrollment link: GET shows the password form (the
// link is not used yet, so that a link preview does not spend it); POST
// uses the link, then shows the authenticator app's setup.
func (h *Handler) enroll(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		token := r.URL.Query().Get("token")
		if len(token) != 43 {
			h.message(w, r, http.StatusBadRequest, "Enrollment link not valid", "This enrollment link is not valid. Ask an owner for a new one.")
			return
		}
		h.render(w, r, http.StatusOK, "enroll", pageData{Title: "Choose your password", Token: token})
		return
	}
	if !h.readForm(w, r) {
		return
	}
	ctx := r.Context()
	token, pw := r.PostForm.Get("token"), r.PostForm.Get("password")
	fail := func(msg string) {
		h.render(w, r, http.StatusBadRequest, "enroll", pageData{Title: "Choose your password", Token: token, Error: msg})
	}
	// A used link whose password was refused goes on from its cookie.
	var e enrollment
	resumed := token == "" && h.readSealed(r, enrollCookie, &e) && h.now().Unix() < e.Exp && e.Hash == ""
	if !resumed && len(token) != 43 {
		h.message(w, r, http.StatusBadRequest, "Enrollment link not valid", "This enrollment link is not valid. Ask an owner for a new one.")
		return
	}
	if pw != r.PostForm.Get("password2") {
		fail("The two passwords differ.")
		return
	}
	if err := password.CheckPolicy(pw, "", ""); err != nil {
		fail("Choose another password: " + err.Error() + ".")
		return
	}
	now := h.now()
	var o storage.Operator
	var err error
	if resumed {
		o, err = h.cfg.Store.GetOperator(ctx, e.Op)
	} else {
		o, e, err = h.useLink(ctx, token, now)
		if errors.Is(err, storage.ErrNotFound) {
			h.auditRefusal(ctx, r, adminapi.EventOperatorEnrollFailed, "", "invalid_link")
			h.message(w, r, http.StatusBadRequest, "Enrollment link not valid",
				"This enrollment link was used, replaced or has expired. Ask an owner for a new one.")
			return
		}
	}
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	ttl := time.Unix(e.Exp, 0).Sub(now)
	if err := password.CheckPolicy(pw, o.Username, ""); err != nil {
		// The link is used: the cookie carries the enrollment on.
		if err := h.setSealed(w, enrollCookie, e, ttl); err != nil {
			h.unavailable(w, r, err)
			return
		}
		token = ""
		fail("Choose another password: " + err.Error() + ".")
		return
	}
	if e.Hash, err = h.cfg.Hasher.Hash(pw); err != nil {
		h.unavailable(w, r, err)
		return
	}
	if e.Secret, e.URI, err = mfa.NewTOTP(h.cfg.IssuerLabel+" console", o.Username, rand.Reader); err != nil {
		h.unavailable(w, r, err)
		return
	}
	if err := h.setSealed(w, enrollCookie, e, ttl); err != nil {
		h.unavailable(w, r, err)
		return
	}
	http.Redirect(w, r, EnrollTOTPPath, http.StatusSeeOther)
}

// useLink uses the enrollment link of token, once, and returns its
// operator and the enrollment it starts, which ends when the link would
// have.
func (h *Handler) useLink(ctx context.Context, token string, now time.Time) (storage.Operator, enrollment, error) {
	sum := sha256.Sum256([]byte(token))
	o, err := h.cfg.Store.UseEnrollment(ctx, sum[:], now)
	if err != nil {
		return o, enrollment{}, err
	}
	exp := o.EnrollmentExpiresAt
	if exp.Before(now) || exp.After(now.Add(time.Hour)) {
		exp = now.Add(30 * time.Minute)
	}
	return o, enrollment{Op: o.ID, Exp: exp.Unix(), Used: o.EnrollmentDigest}, nil
}

// enrollTOTP shows the new authenticator app secret and confirms it with
// a code: then the operator is enrolled and signed in.
func (h *Handler) enrollTOTP(w http.ResponseWriter, r *http.Request) {
	var e enrollment
	if !h.readSealed(r, enrollCookie, &e) || h.now().Unix() >= e.Exp || e.Hash == "" {
		h.message(w, r, http.StatusBadRequest, "Enrollment expired", "This enrollment has ended. Ask an owner for a new enrollment link.")
		return
	}
	ctx := r.Context()
	o, err := h.cfg.Store.GetOperator(ctx, e.Op)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			h.clear(w, enrollCookie)
			h.message(w, r, http.StatusBadRequest, "Enrollment expired", "This enrollment has ended. Ask an owner for a new enrollment link.")
			return
		}
		h.unavailable(w, r, err)
		return
	}
	show := func(status int, msg string) {
		qr, err := mfa.QRSVG(e.URI)
		if err != nil {
			h.unavailable(w, r, err)
			return
		}
		h.render(w, r, status, "enroll_totp", pageData{Title: "Set up your authenticator app", Secret: e.Secret, URI: e.URI, QR: qr, Error: msg})
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		show(http.StatusOK, "")
		return
	}
	if !h.readForm(w, r) {
		return
	}
	now := h.now()
	step, ok, _ := mfa.MatchTOTP(e.Secret, r.PostForm.Get("code"), now, -1)
	if !ok {
		h.auditRefusal(ctx, r, adminapi.EventOperatorEnrollFailed, o.ID, "wrong_code")
		show(http.StatusBadRequest, "That code is not right. Enter the code your app shows now.")
		return
	}
	// Once only: an operator who enrolled, or got a new link since, is
	// not enrolled again from an older copy of this cookie.
	if o.Disabled || len(o.TOTPSecret) > 0 || len(e.Used) == 0 || !bytes.Equal(o.EnrollmentDigest, e.Used) {
		h.auditRefusal(ctx, r, adminapi.EventOperatorEnrollFailed, o.ID, "ended")
		h.clear(w, enrollCookie)
		h.message(w, r, http.StatusBadRequest, "Enrollment ended", "This enrollment has ended. Ask an owner for a new enrollment link.")
		return
	}
	sealed, err := mfa.SealSecret(h.cfg.Sealer, o.ID, totpFactor, e.Secret)
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	// Conditional in the store: disabled, enrolled or sent a new link
	// since the read above, the operator is left as it is.
	err = h.cfg.Store.SetOperatorCredentials(ctx, o.ID, storage.OperatorCredentials{PasswordHash: e.Hash, TOTPSecret: sealed, TOTPCounter: step},
		e.Used, now.Truncate(time.Second))
	if errors.Is(err, storage.ErrConflict) {
		h.auditRefusal(ctx, r, adminapi.EventOperatorEnrollFailed, o.ID, "ended")
		h.clear(w, enrollCookie)
		h.message(w, r, http.StatusBadRequest, "Enrollment ended", "This enrollment has ended. Ask an owner for a new enrollment link.")
		return
	} else if err != nil {
		h.unavailable(w, r, err)
		return
	}
	if err := h.auditOp(ctx, r, adminapi.EventOperatorEnrolled, o.ID, "success"); err != nil {
		h.unavailable(w, r, err)
		return
	}
	h.clear(w, enrollCookie)
	if err := h.startSession(w, r, o.ID); err != nil {
		h.unavailable(w, r, err)
		return
	}
	http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
