package login

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"

	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/storage"
)

// sessionCookie holds a person's browser session.
const sessionCookie = "idvauth_session"

// sessionID is the stored ID of a session cookie value: its SHA-256.
func sessionID(cookie string) string {
	sum := sha256.Sum256([]byte(cookie))
	return hex.EncodeToString(sum[:])
}

// browserSession returns the signed-in person of r, if any. A cookie
// without a live record (expired, logged out, user deleted) is no session.
func (h *Handler) browserSession(ctx context.Context, r *http.Request) (storage.BrowserSession, storage.User, bool, error) {
	ck, err := r.Cookie(h.cookies.Name(sessionCookie))
	if err != nil || len(ck.Value) != 43 {
		return storage.BrowserSession{}, storage.User{}, false, nil
	}
	bs, err := h.store.GetBrowserSession(ctx, sessionID(ck.Value))
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return bs, storage.User{}, false, nil
		}
		return bs, storage.User{}, false, err
	}
	if !bs.ExpiresAt.After(h.now()) {
		return bs, storage.User{}, false, nil
	}
	u, err := h.store.GetUser(ctx, bs.UserID)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return bs, u, false, nil
		}
		return bs, u, false, err
	}
	return bs, u, true, nil
}

// sessionOf returns the stored ID of the session that r's cookie (of c)
// names; empty if none.
func sessionOf(c web.Cookies, r *http.Request) string {
	if ck, err := r.Cookie(c.Name(sessionCookie)); err == nil && len(ck.Value) == 43 {
		return sessionID(ck.Value)
	}
	return ""
}

// readPageForm parses a person-facing form post: POST only, form-encoded,
// at most maxReturnLen*2 bytes, CSRF token checked. It answers the error
// itself and returns false.
func (h *Handler) readPageForm(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.errorPage(w, r, http.StatusMethodNotAllowed, "Method not allowed", "This page only takes form submissions.")
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, 2*maxReturnLen)
	if err := r.ParseForm(); err != nil {
		h.errorPage(w, r, http.StatusBadRequest, "The form could not be read", "Go back to the application and start again.")
		return false
	}
	if !h.cookies.CheckCSRF(r) {
		h.errorPage(w, r, http.StatusForbidden, "The form has expired", "For your safety this form can only be sent from the page that showed it. Go back to the application and start again.")
		return false
	}
	return true
}
