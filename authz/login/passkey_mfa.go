package login

import (
	"errors"
	"net/http"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/authz/passkey"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/templates"
)

// readPasskeyStep is readPasskeyRequest for the second step: the pending
// sign-in it continues must be live.
func (m *SecondFactor) readPasskeyStep(w http.ResponseWriter, r *http.Request) (ceremonyPost, loginPost, storage.User, pending, bool) {
	h := m.h
	cp, p, ok := h.pk.readPasskeyRequest(w, r)
	if !ok {
		return cp, p, storage.User{}, pending{}, false
	}
	pd, ok := m.openPending(r)
	if !ok {
		web.WriteError(w, http.StatusBadRequest, "invalid_request", "The sign-in has expired: go back to the application and start again.")
		return cp, p, storage.User{}, pd, false
	}
	user, err := h.store.GetUser(r.Context(), pd.UserID)
	if err != nil {
		h.pk.ceremonyError(w, r, err)
		return cp, p, user, pd, false
	}
	return cp, p, user, pd, true
}

// Passkey takes one of the person's passkeys as the second step of the
// pending sign-in.
func (m *SecondFactor) Passkey(w http.ResponseWriter, r *http.Request) {
	h := m.h
	cp, p, user, pd, ok := m.readPasskeyStep(w, r)
	if !ok {
		return
	}
	res, _, ok := h.pk.checkPasskey(w, r, cp, p, passkey.KindSecond, user.ID)
	if !ok {
		return
	}
	m.signedIn(w, r, p, user, mergeAMR(pd.AMR, res.AMR))
}

// signedIn ends a second step done with a passkey: the person is signed
// in with amr and the page goes on with the request.
func (m *SecondFactor) signedIn(w http.ResponseWriter, r *http.Request, p loginPost, user storage.User, amr []string) {
	h := m.h
	h.cookies.Clear(w, webauthnCookie)
	h.cookies.Clear(w, pendingCookie)
	if _, ok := h.createSession(w, r, p, user, amr); !ok {
		return
	}
	writeRedirect(w, "/oauth2/authorize?"+withoutLoginPrompt(p.raw))
}

// PasskeyEnroll sets up a passkey as the second step of the pending
// sign-in: the person is then signed in with it.
func (m *SecondFactor) PasskeyEnroll(w http.ResponseWriter, r *http.Request) {
	h := m.h
	ctx := r.Context()
	cp, p, user, pd, ok := m.readPasskeyStep(w, r)
	if !ok {
		return
	}
	pk, amr, err := h.passkeys.FinishRegistration(ctx, cp.state, cp.csrf, user.ID, "Passkey", cp.body)
	if err != nil {
		if errors.Is(err, passkey.ErrRefused) && m.auditMFA(ctx, r, p, user, adminapi.EventMFAFailed, factorWebAuthn, "refused", "action", "enroll") != nil {
			err = errors.New("audit unavailable")
		}
		h.pk.ceremonyError(w, r, err)
		return
	}
	if !h.pk.storePasskey(w, r, user, pk, p.c.GetID()) {
		return
	}
	if m.auditMFA(ctx, r, p, user, adminapi.EventMFASucceeded, factorWebAuthn, "", "action", "enroll", "passkey", pk.ID) != nil {
		h.pk.ceremonyError(w, r, errors.New("audit unavailable"))
		return
	}
	m.signedIn(w, r, p, user, mergeAMR(pd.AMR, amr))
}

// passkeyChoice is what the second step offers a person whose passkeys
// are ps: a passkey button (to use one, or to set one up), nil if
// passkeys are off.
func (m *SecondFactor) passkeyChoice(w http.ResponseWriter, r *http.Request, raw, csrf string, user storage.User, ps []storage.Passkey) *templates.Passkey {
	h := m.h
	if h.passkeys == nil {
		return nil
	}
	if len(ps) > 0 {
		return h.pk.beginPasskey(w, r, csrf, PasskeyMFAPath, raw, user.ID, ps)
	}
	b, err := h.passkeys.BeginRegistration(user.ID, user.Username, ps, csrf)
	if err != nil {
		h.pk.ceremonyLog(r, err)
		return nil
	}
	return h.pk.passkeyButton(w, "create", b, PasskeyEnrollPath, raw, csrf, "Set up a passkey")
}
