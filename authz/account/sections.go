package account

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/password"
	"github.com/idvauth/idvauth/authz/mfa"
	"github.com/idvauth/idvauth/storage"
)

// builtin are the sections every account page has, in order.
func (h *Handler) builtin() []Section {
	return []Section{
		{Name: "profile", Title: "Profile", Load: func(_ context.Context, v *View) (any, error) { return v.User, nil }},
		{Name: "password", Title: "Password", Load: func(context.Context, *View) (any, error) { return struct{}{}, nil },
			Actions: map[string]Action{"change": {Fresh: true, Do: h.changePassword}}},
		h.factorsSection(),
		{Name: "sessions", Title: "Where you are signed in", Load: h.loadSessions,
			Actions: map[string]Action{"end": {Do: h.endSession}, "end-others": {Do: h.endOtherSessions}}},
		{Name: "consents", Title: "Applications with access", Load: h.loadConsents,
			Actions: map[string]Action{"withdraw": {Do: h.withdrawConsent}}},
		{Name: "data", Title: "Your data", Load: func(context.Context, *View) (any, error) { return struct{}{}, nil },
			Actions: map[string]Action{"download": {Do: h.download}}},
	}
}

// when is t as the page shows it.
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2 Jan 2006 15:04 UTC")
}

// changePassword changes the person's password: the current one checked
// (under the sign-in throttle), the new one under the policy of
// registration. Every other browser session and every refresh token of
// the person ends.
func (h *Handler) changePassword(w http.ResponseWriter, r *http.Request, v *View) Outcome {
	ctx := r.Context()
	cur, next := r.PostForm.Get("current_password"), r.PostForm.Get("new_password")
	if cur == "" || next == "" {
		return Outcome{Problem: "Enter your current password and a new one."}
	}
	if len(next) > password.MaxLen {
		return Outcome{Problem: "The new password must be at most " + strconv.Itoa(password.MaxLen) + " bytes."}
	}
	match, limited, err := h.kit.CheckPassword(ctx, r, v.User, cur)
	switch {
	case errors.Is(err, password.ErrBusy):
		w.Header().Set("Retry-After", "1")
		return Outcome{Problem: "The server is busy. Try again in a moment.", Status: http.StatusServiceUnavailable}
	case err != nil:
		return h.failed(w, r, err)
	case limited:
		return Outcome{Problem: "There were too many wrong passwords. Try again later.", Status: http.StatusTooManyRequests}
	case !match:
		if err := h.audit(r, v, adminapi.EventPasswordChanged, "wrong_password"); err != nil {
			return h.failed(w, r, err)
		}
		return Outcome{Problem: "The current password is not correct."}
	}
	if err := password.CheckPolicy(next, v.User.Username, v.User.Email); err != nil {
		return Outcome{Problem: "The new password is not accepted: " + err.Error() + "."}
	}
	hash, err := h.kit.Hash(next)
	if err != nil {
		return h.failed(w, r, err)
	}
	u := v.User
	u.PasswordHash, u.UpdatedAt = hash, v.Now.Truncate(time.Second)
	if err := h.store.UpdateUser(ctx, u); err != nil {
		return h.failed(w, r, err)
	}
	sessions, grants, err := endOthers(ctx, h.store, h.ender(r), u.ID, v.Session.ID, v.Now, true)
	if err != nil {
		return h.failed(w, r, err)
	}
	if err := h.audit(r, v, adminapi.EventPasswordChanged, "", "sessions_ended", strconv.Itoa(sessions), "refresh_grants_revoked", strconv.Itoa(grants)); err != nil {
		return h.failed(w, r, err)
	}
	return Outcome{Notice: "Your password is changed. You are signed out everywhere else."}
}

// sessionView is one browser session as the page lists it.
type sessionView struct {
	// Ref names the session in the form: a digest of its ID, so that the
	// page never holds the ID itself.
	Ref, Device, SignedIn string
	Current               bool
}

func sessionRef(id string) string {
	sum := sha256.Sum256([]byte("idvauth account session ref v1\x00" + id))
	return hex.EncodeToString(sum[:12])
}

// describe says which browser a session is (a coarse summary, kept at
// sign-in) and how it signed in.
func describe(bs storage.BrowserSession) string {
	device := bs.Device
	if device == "" {
		device = "A browser" // a session from before summaries were kept
	}
	switch {
	case slices.Contains(bs.AMR, mfa.AMRHardwareKey) || slices.Contains(bs.AMR, mfa.AMRSoftwareKey):
		return device + ", signed in with a passkey"
	case slices.Contains(bs.AMR, mfa.AMRMFA):
		return device + ", signed in with a second step"
	}
	return device + ", signed in with a password"
}

func (h *Handler) liveSessions(ctx context.Context, v *View) ([]storage.BrowserSession, error) {
	list, err := h.store.ListBrowserSessions(ctx, v.User.ID)
	return slices.DeleteFunc(list, func(bs storage.BrowserSession) bool { return !bs.ExpiresAt.After(v.Now) }), err
}

func (h *Handler) loadSessions(ctx context.Context, v *View) (any, error) {
	list, err := h.liveSessions(ctx, v)
	if err != nil {
		return nil, err
	}
	out := make([]sessionView, 0, len(list))
	for _, bs := range slices.Backward(list) {
		out = append(out, sessionView{Ref: sessionRef(bs.ID), Device: describe(bs), SignedIn: when(bs.AuthTime), Current: bs.ID == v.Session.ID})
	}
	return out, nil
}

// endSession ends one other browser session of the person.
func (h *Handler) endSession(w http.ResponseWriter, r *http.Request, v *View) Outcome {
	ctx := r.Context()
	ref := r.PostForm.Get("session")
	list, err := h.liveSessions(ctx, v)
	if err != nil {
		return h.failed(w, r, err)
	}
	i := slices.IndexFunc(list, func(bs storage.BrowserSession) bool { return ref != "" && sessionRef(bs.ID) == ref })
	if i < 0 || list[i].ID == v.Session.ID {
		return Outcome{Problem: "There is no such session (it may have ended already). To end this one, sign out."}
	}
	if err := h.ender(r)(ctx, list[i]); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return h.failed(w, r, err)
	}
	if err := h.audit(r, v, adminapi.EventSessionEnded, "", "sessions_ended", "1"); err != nil {
		return h.failed(w, r, err)
	}
	return Outcome{Notice: "The session is ended."}
}

// endOtherSessions ends every browser session of the person but this one.
func (h *Handler) endOtherSessions(w http.ResponseWriter, r *http.Request, v *View) Outcome {
	n, _, err := endOthers(r.Context(), h.store, h.ender(r), v.User.ID, v.Session.ID, v.Now, false)
	if err != nil {
		return h.failed(w, r, err)
	}
	if err := h.audit(r, v, adminapi.EventSessionEnded, "", "sessions_ended", strconv.Itoa(n)); err != nil {
		return h.failed(w, r, err)
	}
	return Outcome{Notice: "You are signed out everywhere else (" + strconv.Itoa(n) + " sessions ended)."}
}

// consentView is one consent as the page lists it.
type consentView struct {
	ClientID, Client, Since string
	Scopes                  []string
}

func (h *Handler) loadConsents(ctx context.Context, v *View) (any, error) {
	list, err := h.store.ListConsents(ctx, v.User.ID)
	if err != nil {
		return nil, err
	}
	out := make([]consentView, 0, len(list))
	for _, c := range list {
		name := c.ClientID
		switch cl, err := h.store.GetClient(ctx, c.ClientID); {
		case err == nil && cl.Name != "":
			name = cl.Name
		case err != nil && !errors.Is(err, storage.ErrNotFound):
			return nil, err
		}
		out = append(out, consentView{ClientID: c.ClientID, Client: name, Since: when(c.GrantedAt), Scopes: c.Scopes})
	}
	return out, nil
}

// withdrawConsent withdraws the person's consent to one client; the store
// revokes that client's tokens of the person in the same step.
func (h *Handler) withdrawConsent(w http.ResponseWriter, r *http.Request, v *View) Outcome {
	ctx := r.Context()
	id := r.PostForm.Get("client_id")
	list, err := h.store.ListConsents(ctx, v.User.ID)
	if err != nil {
		return h.failed(w, r, err)
	}
	if id == "" || !slices.ContainsFunc(list, func(c storage.Consent) bool { return c.ClientID == id }) {
		return Outcome{Problem: "That application has no access to withdraw."}
	}
	wd, err := h.store.DeleteConsents(ctx, v.User.ID, id)
	if err != nil {
		return h.failed(w, r, err)
	}
	if err := h.cfg.Audit.Append(ctx, storage.AuditEntry{Type: adminapi.EventConsentWithdrawn, Actor: "user:" + v.User.ID, ClientID: id, Subject: v.User.ID,
		IP: h.kit.IP(r), Details: map[string]string{"via": "account", "withdrawn": strconv.Itoa(wd.Consents), "tokens_revoked": strconv.Itoa(wd.Tokens)}}); err != nil {
		return h.failed(w, r, err)
	}
	return Outcome{Notice: "The application's access is withdrawn."}
}

// download answers everything held about the person as a JSON file.
func (h *Handler) download(w http.ResponseWriter, r *http.Request, v *View) Outcome {
	out, err := h.cfg.Export(r.Context(), v.User.ID)
	if err != nil {
		return h.failed(w, r, err)
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return h.failed(w, r, err)
	}
	if err := h.audit(r, v, adminapi.EventUserExported, ""); err != nil {
		return h.failed(w, r, err)
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Content-Disposition", `attachment; filename="my-data.json"`)
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(b, '\n'))
	return Outcome{Done: true}
}

// trimmed is s without surrounding and inner white space (a typed code).
func trimmed(s string) string { return strings.Join(strings.Fields(s), "") }
