package console

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/storage"
)

// Cookie base names (web.Cookies adds __Host- over https).
const (
	sessionCookie = "idvauth_console"
	pendingCookie = "idvauth_console_pending"
	enrollCookie  = "idvauth_console_enroll"
	// renewedCookie marks, for a few seconds, a page just reloaded with
	// a renewed token.
	renewedCookie = "idvauth_console_renewed"
)

// session is the sealed state of a signed-in operator's browser: the
// session ID (its digest is the server-side record's key) and the
// operator's token.
type session struct {
	ID string `json:"id"`
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
	Op string `json:"op"`
	// Used is the marker of the link that started this enrollment
	// (storage.UsedEnrollment): a newer link ends it.
	Used   []byte `json:"used"`
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

// readSession returns r's session and its server-side record, renewed,
// if it is within its idle and absolute lifetimes and not ended; err is
// the store's failure.
func (h *Handler) readSession(r *http.Request) (session, storage.OperatorSession, bool, error) {
	var st session
	if !h.readSealed(r, sessionCookie, &st) || len(st.ID) != 43 {
		return session{}, storage.OperatorSession{}, false, nil
	}
	rec, err := h.cfg.Store.TouchOperatorSession(r.Context(), digest(st.ID), h.now(), IdleTimeout)
	if errors.Is(err, storage.ErrNotFound) {
		return session{}, storage.OperatorSession{}, false, nil
	}
	return st, rec, err == nil, err
}

// digest is the key of a session ID in the store.
func digest(id string) []byte {
	sum := sha256.Sum256([]byte(id))
	return sum[:]
}

// startSession signs the operator op in: a new server-side session, its
// ID in the sealed cookie.
func (h *Handler) startSession(w http.ResponseWriter, r *http.Request, op string) error {
	now := h.now().Truncate(time.Second)
	id := web.RandomToken()
	if err := h.cfg.Store.CreateOperatorSession(r.Context(), storage.OperatorSession{Digest: digest(id), OperatorID: op,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(AbsoluteTimeout)}); err != nil {
		return err
	}
	return h.setSealed(w, sessionCookie, session{ID: id}, AbsoluteTimeout)
}

// tokenFresh reports whether st's token serves scopes for a while more.
func (h *Handler) tokenFresh(st session, scopes []string) bool {
	return st.Tok != "" && slices.Equal(st.Scopes, scopes) && h.now().Unix() < st.TokExp
}

// tokenMargin is how long before its expiry a token is replaced.
func (h *Handler) tokenMargin() time.Duration { return min(h.cfg.TokenTTL/4, time.Minute) }
