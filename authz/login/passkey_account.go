package login

import (
	"bytes"
	"cmp"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/templates"
)

// Paths of a signed-in person's passkeys: the page (GET), the add
// ceremony's JSON endpoint, and the rename and remove forms.
const (
	AccountPasskeysPath       = "/account/passkeys"
	AccountPasskeysAddPath    = "/account/passkeys/add"
	AccountPasskeysRenamePath = "/account/passkeys/rename"
	AccountPasskeysRemovePath = "/account/passkeys/remove"
	// maxPasskeyName bounds a passkey's name, in characters.
	maxPasskeyName = 64
	// RecentSignIn is how recent a sign-in must be to change passkeys: a
	// browser left signed in cannot add a passkey for someone else.
	RecentSignIn = 5 * time.Minute
)

// AccountPasskeys shows the signed-in person's passkeys, with a button
// that adds one.
func (k *Passkeys) AccountPasskeys(w http.ResponseWriter, r *http.Request) {
	h := k.h
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		h.errorPage(w, r, http.StatusMethodNotAllowed, "Method not allowed", "Open this page with GET.")
		return
	}
	k.passkeysPage(w, r, http.StatusOK, r.URL.Query().Get("done"), "")
}

// signedInPerson returns the person r's browser session is of, and
// whether they signed in within RecentSignIn; if there is none it
// answers itself.
func (k *Passkeys) signedInPerson(w http.ResponseWriter, r *http.Request) (storage.User, bool, bool) {
	h := k.h
	bs, user, ok, err := h.browserSession(r.Context(), r)
	if err != nil {
		h.log.Error("read browser session", web.RequestField(r.Context()), zap.Error(err))
		h.errorPage(w, r, http.StatusServiceUnavailable, "Please try again", "The server cannot complete the request right now.")
		return user, false, false
	}
	if !ok {
		h.errorPage(w, r, http.StatusUnauthorized, "You are not signed in", "Sign in to an application first, then come back to this page.")
		return user, false, false
	}
	return user, true, h.now().Sub(bs.AuthTime) <= RecentSignIn
}

// staleSignIn is what the page says when the sign-in is too old to change
// passkeys.
const staleSignIn = "For your safety, passkeys can be changed only within 5 minutes of signing in. Sign in again, then come back to this page."

// passkeysPage shows the person's passkeys; done says what the last
// change did ("added", "renamed", "removed").
func (k *Passkeys) passkeysPage(w http.ResponseWriter, r *http.Request, status int, done, msg string) {
	h := k.h
	user, ok, recent := k.signedInPerson(w, r)
	if !ok {
		return
	}
	ps, err := h.cfg.Factors.ListPasskeys(r.Context(), user.ID)
	if err != nil {
		h.log.Error("list passkeys", web.RequestField(r.Context()), zap.Error(err))
		h.errorPage(w, r, http.StatusServiceUnavailable, "Please try again", "The server cannot complete the request right now.")
		return
	}
	csrf := h.cookies.CSRFToken(w, r)
	d := templates.PasskeysData{RenameAction: AccountPasskeysRenamePath, RemoveAction: AccountPasskeysRemovePath, CSRF: csrf, Error: msg}
	if m, ok := map[string]string{"added": "Your passkey is set up.", "renamed": "Renamed.", "removed": "The passkey is removed."}[done]; ok {
		d.Message, d.Done = m, done
	}
	for _, p := range ps {
		it := templates.PasskeyItem{ID: p.ID, Name: p.Name, Created: p.CreatedAt.Format("2 Jan 2006")}
		if !p.LastUsedAt.IsZero() {
			it.LastUsed = p.LastUsedAt.Format("2 Jan 2006")
		}
		d.Passkeys = append(d.Passkeys, it)
	}
	switch b, err := h.passkeys.BeginRegistration(user.ID, user.Username, ps, csrf); {
	case !recent:
		// No button: the add endpoint would refuse it.
		d.Error = cmp.Or(d.Error, staleSignIn)
	case err != nil:
		k.ceremonyLog(r, err)
	default:
		d.Passkey = k.passkeyButton(w, "create", b, AccountPasskeysAddPath, "", csrf, "Add a passkey")
	}
	h.renderScript(w, r, status, nil, func(buf *bytes.Buffer) error { return h.cfg.Pages.Passkeys(buf, d) })
}

// lastFactor reports whether, under IDVAUTH_MFA=required, the person
// userID has one factor left (a passkey): it may not be removed. If so,
// or on a store failure, it answers itself.
func (k *Passkeys) lastFactor(w http.ResponseWriter, r *http.Request, userID string) bool {
	h := k.h
	if !h.cfg.MFARequired {
		return false
	}
	factors, err := h.cfg.Factors.ListFactors(r.Context(), userID)
	var ps []storage.Passkey
	if err == nil {
		ps, err = h.cfg.Factors.ListPasskeys(r.Context(), userID)
	}
	if err != nil {
		h.log.Error("list factors", web.RequestField(r.Context()), zap.Error(err))
		h.errorPage(w, r, http.StatusServiceUnavailable, "Please try again", "The server cannot complete the request right now.")
		return true
	}
	if len(factors)+len(ps) > 1 {
		return false
	}
	k.passkeysPage(w, r, http.StatusConflict, "", "This is your only second factor, which this server requires: add another before you remove it.")
	return true
}

func (k *Passkeys) ceremonyLog(r *http.Request, err error) {
	h := k.h
	h.log.Error("begin passkey ceremony", web.RequestField(r.Context()), zap.Error(err))
}

// AccountPasskeyAdd finishes adding a passkey for the signed-in person
// (JSON, from webauthn.js); the page then shows it.
func (k *Passkeys) AccountPasskeyAdd(w http.ResponseWriter, r *http.Request) {
	h := k.h
	cp, ok := k.readCeremony(w, r)
	if !ok {
		return
	}
	bs, user, ok, err := h.browserSession(r.Context(), r)
	switch {
	case err != nil:
		k.ceremonyError(w, r, err)
		return
	case !ok:
		web.WriteError(w, http.StatusUnauthorized, "login_required", "You are not signed in.")
		return
	case h.now().Sub(bs.AuthTime) > RecentSignIn:
		web.WriteError(w, http.StatusForbidden, "login_required", staleSignIn)
		return
	}
	pk, _, err := h.passkeys.FinishRegistration(r.Context(), cp.state, cp.csrf, user.ID, "Passkey", cp.body)
	if err != nil {
		k.ceremonyError(w, r, err)
		return
	}
	if !k.storePasskey(w, r, user, pk, "") {
		return
	}
	h.cookies.Clear(w, webauthnCookie)
	writeRedirect(w, AccountPasskeysPath+"?done=added")
}

// storePasskey stores the new passkey pk of user and audits it; clientID
// is the application the person is signing in to, if any. It answers
// failures itself in JSON.
func (k *Passkeys) storePasskey(w http.ResponseWriter, r *http.Request, user storage.User, pk storage.Passkey, clientID string) bool {
	h := k.h
	ctx := r.Context()
	if err := h.cfg.Factors.CreatePasskey(ctx, pk); err != nil {
		if errors.Is(err, storage.ErrAlreadyExists) {
			web.WriteError(w, http.StatusConflict, "invalid_request", "This passkey is set up already.")
			return false
		}
		k.ceremonyError(w, r, err)
		return false
	}
	if h.cfg.Audit.Append(ctx, storage.AuditEntry{Type: EventPasskeyAdded, Actor: audit.User(user.ID), ClientID: clientID, Subject: user.ID,
		IP: h.cfg.IPs.String(r), Details: map[string]string{"passkey": pk.ID}}) != nil {
		k.ceremonyError(w, r, errors.New("audit unavailable"))
		return false
	}
	h.log.Info("passkey added", web.RequestField(ctx), userField(user.ID), zap.String("passkey", pk.ID))
	return true
}

// AccountPasskeyRename renames one of the signed-in person's passkeys
// (form post: id, name).
func (k *Passkeys) AccountPasskeyRename(w http.ResponseWriter, r *http.Request) {
	k.changePasskey(w, r, "renamed")
}

// AccountPasskeyRemove removes one of the signed-in person's passkeys
// (form post: id).
func (k *Passkeys) AccountPasskeyRemove(w http.ResponseWriter, r *http.Request) {
	k.changePasskey(w, r, "removed")
}

// changePasskey renames or removes (done) the passkey the form names, of
// the signed-in person only, audited; then the page again.
func (k *Passkeys) changePasskey(w http.ResponseWriter, r *http.Request, done string) {
	h := k.h
	ctx := r.Context()
	if !h.readPageForm(w, r) {
		return
	}
	user, ok, recent := k.signedInPerson(w, r)
	if !ok {
		return
	}
	if !recent {
		k.passkeysPage(w, r, http.StatusForbidden, "", staleSignIn)
		return
	}
	id, name := r.PostForm.Get("id"), strings.TrimSpace(r.PostForm.Get("name"))
	if id == "" || len(r.PostForm["id"]) != 1 || len(id) > 64 {
		h.errorPage(w, r, http.StatusBadRequest, "The form could not be read", "Choose a passkey on the page.")
		return
	}
	var err error
	typ := EventPasskeyRemoved
	if done == "renamed" {
		typ = EventPasskeyRenamed
		if name == "" || utf8.RuneCountInString(name) > maxPasskeyName || !utf8.ValidString(name) || strings.ContainsRune(name, 0) {
			k.passkeysPage(w, r, http.StatusBadRequest, "", "A name must be 1 to 64 characters.")
			return
		}
		err = h.cfg.Factors.RenamePasskey(ctx, user.ID, id, name)
	} else if k.lastFactor(w, r, user.ID) {
		return
	} else {
		err = h.cfg.Factors.DeletePasskey(ctx, user.ID, id)
	}
	switch {
	case errors.Is(err, storage.ErrNotFound):
		k.passkeysPage(w, r, http.StatusNotFound, "", "There is no such passkey.")
		return
	case err != nil:
		h.log.Error("change passkey", web.RequestField(ctx), zap.Error(err))
		h.errorPage(w, r, http.StatusServiceUnavailable, "Please try again", "The server cannot complete the request right now.")
		return
	}
	if h.cfg.Audit.Append(ctx, storage.AuditEntry{Type: typ, Actor: audit.User(user.ID), Subject: user.ID, IP: h.cfg.IPs.String(r),
		Details: map[string]string{"passkey": id}}) != nil {
		h.errorPage(w, r, http.StatusServiceUnavailable, "Please try again", "The change was made but could not be recorded.")
		return
	}
	http.Redirect(w, r, AccountPasskeysPath+"?done="+done, http.StatusSeeOther)
}
