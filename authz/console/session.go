package console

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"time"
)

// Cookie base names (web.Cookies adds __Host- over https).
const (
	sessionCookie = "idvauth_console"
	pendingCookie = "idvauth_console_pending"
	enrollCookie  = "idvauth_console_enroll"
)

// session is the sealed state of a signed-in operator's browser.
type session struct {
	Op   string `json:"op"`
	Auth int64  `json:"auth"` // sign-in time, Unix seconds
	Seen int64  `json:"seen"` // last request, Unix seconds
	// Tok is the operator's current admin API token, for Scopes, valid
	// until TokExp (with a margin); never shown.
	Tok    string   `json:"tok,omitempty"`
	TokExp int64    `json:"texp,omitempty"`
	Scopes []string `json:"sc,omitempty"`
}

// pending is the sealed state between the password and the code.
type pending struct {
	Op   string `json:"op"`
	Exp  int64  `json:"exp"`
	Next string `json:"next,omitempty"`
}

// enrollment is the sealed state of an enrollment whose link was used:
// the new password's hash and TOTP secret, until the code confirms them.
type enrollment struct {
	Op     string `json:"op"`
	Exp    int64  `json:"exp"`
	Hash   string `json:"hash"`
	Secret string `json:"secret"`
	URI    string `json:"uri"`
}

// aad binds each sealed cookie to its name.
func aad(name string) []byte { return []byte("idvauth console cookie v1\x00" + name) }

// setSealed seals v into the cookie name (SameSite=Strict, HttpOnly,
// Secure over https) for maxAge.
func (h *Handler) setSealed(w http.ResponseWriter, name string, v any, maxAge time.Duration) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	sealed, err := h.cfg.Sealer.Seal(b, aad(name))
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: h.cookies.Name(name), Value: base64.RawURLEncoding.EncodeToString(sealed), Path: "/",
		MaxAge: int(maxAge / time.Second), HttpOnly: true, Secure: h.cookies.Secure, SameSite: http.SameSiteStrictMode})
	return nil
}

// readSealed opens the cookie name into v.
func (h *Handler) readSealed(r *http.Request, name string, v any) bool {
	c, err := r.Cookie(h.cookies.Name(name))
	if err != nil || len(c.Value) > 3800 {
		return false
	}
	sealed, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return false
	}
	b, _, err := h.cfg.Sealer.Open(sealed, aad(name))
	if err != nil {
		return false
	}
	return json.Unmarshal(b, v) == nil
}

func (h *Handler) clear(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: h.cookies.Name(name), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: h.cookies.Secure, SameSite: http.SameSiteStrictMode})
}

// readSession returns r's session if it is within its idle and absolute
// lifetimes.
func (h *Handler) readSession(r *http.Request) (session, bool) {
	var st session
	if !h.readSealed(r, sessionCookie, &st) || st.Op == "" {
		return session{}, false
	}
	now := h.now().Unix()
	if now >= st.Seen+int64(IdleTimeout/time.Second) || now >= st.Auth+int64(AbsoluteTimeout/time.Second) || st.Seen > now+60 {
		return session{}, false
	}
	return st, true
}

// startSession signs the operator op in.
func (h *Handler) startSession(w http.ResponseWriter, op string) error {
	now := h.now().Unix()
	return h.setSealed(w, sessionCookie, session{Op: op, Auth: now, Seen: now}, AbsoluteTimeout)
}

// tokenFresh reports whether st's token serves scopes for a while more.
func (h *Handler) tokenFresh(st session, scopes []string) bool {
	return st.Tok != "" && slices.Equal(st.Scopes, scopes) && h.now().Unix() < st.TokExp
}

// tokenMargin is how long before its expiry a token is replaced.
func (h *Handler) tokenMargin() time.Duration { return min(h.cfg.TokenTTL/4, time.Minute) }
