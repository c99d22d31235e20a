package login

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/storage"
)

// cookies sets and reads the pages' cookies: HttpOnly, SameSite=Lax, and
// when the issuer is https (secure) Secure with the __Host- prefix
// (secure, host-only, path /).
type cookies struct{ secure bool }

// name is the cookie name of base.
func (c cookies) name(base string) string {
	if c.secure {
		return "__Host-" + base
	}
	return base
}

func (c cookies) set(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name: c.name(name), Value: value, Path: "/", MaxAge: int(maxAge / time.Second),
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode,
	})
}

func (c cookies) clear(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: c.name(name), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode})
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
func (h *Handler) browserSession(ctx context.Context, r *http.Request) (storage.BrowserSession, storage.User, bool, error) {
	ck, err := r.Cookie(h.cookies.name(sessionCookie))
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

// sessionID returns the stored ID of the session r's cookie names; empty
// if none.
func (c cookies) sessionID(r *http.Request) string {
	if ck, err := r.Cookie(c.name(sessionCookie)); err == nil && len(ck.Value) == 43 {
		return sessionID(ck.Value)
	}
	return ""
}

// csrfToken returns the browser's CSRF token, setting a new one if it has
// none. Forms carry it in a hidden field; posts must match the cookie.
func (c cookies) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if ck, err := r.Cookie(c.name(csrfCookie)); err == nil && len(ck.Value) == 43 {
		return ck.Value
	}
	tok := web.RandomToken()
	c.set(w, csrfCookie, tok, 0)
	return tok
}

// checkCSRF reports whether a post carries the browser's CSRF token.
func (c cookies) checkCSRF(r *http.Request) bool {
	ck, err := r.Cookie(c.name(csrfCookie))
	if err != nil || len(ck.Value) != 43 {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(ck.Value), []byte(r.PostForm.Get("csrf"))) == 1
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
	if !h.cookies.checkCSRF(r) {
		h.errorPage(w, r, http.StatusForbidden, "The form has expired", "For your safety this form can only be sent from the page that showed it. Go back to the application and start again.")
		return false
	}
	return true
}
