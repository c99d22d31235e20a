package web

import (
	"crypto/subtle"
	"net/http"
	"time"
)

// Cookies sets and reads the cookies of server-rendered pages: HttpOnly,
// SameSite=Lax, and when the pages are served over https (Secure) Secure
// with the __Host- prefix (secure, host-only, path /). The zero value is
// for plain http.
type Cookies struct{ Secure bool }

// Name is the cookie name of base.
func (c Cookies) Name(base string) string {
	if c.Secure {
		return "__Host-" + base
	}
	return base
}

// Set sets the cookie base to value for maxAge (0: the browser session).
func (c Cookies) Set(w http.ResponseWriter, base, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name: c.Name(base), Value: value, Path: "/", MaxAge: int(maxAge / time.Second),
		HttpOnly: true, Secure: c.Secure, SameSite: http.SameSiteLaxMode,
	})
}

// Clear removes the cookie base.
func (c Cookies) Clear(w http.ResponseWriter, base string) {
	http.SetCookie(w, &http.Cookie{Name: c.Name(base), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: c.Secure, SameSite: http.SameSiteLaxMode})
}

// CSRFCookie is the base name of the cookie holding the browser's
// anti-forgery token.
const CSRFCookie = "idvauth_csrf"

// CSRFToken returns the browser's CSRF token, setting a new one if it has
// none. Forms carry it in a hidden field "csrf"; posts must match the
// cookie (CheckCSRF).
func (c Cookies) CSRFToken(w http.ResponseWriter, r *http.Request) string {
	if ck, err := r.Cookie(c.Name(CSRFCookie)); err == nil && len(ck.Value) == 43 {
		return ck.Value
	}
	tok := RandomToken()
	c.Set(w, CSRFCookie, tok, 0)
	return tok
}

// CheckCSRF reports whether a parsed form post carries the browser's CSRF
// token in its field "csrf".
func (c Cookies) CheckCSRF(r *http.Request) bool {
	ck, err := r.Cookie(c.Name(CSRFCookie))
	if err != nil || len(ck.Value) != 43 {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(ck.Value), []byte(r.PostForm.Get("csrf"))) == 1
}
