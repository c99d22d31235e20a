package account

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/password"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/templates"
)

// ResetPath is the page a password-reset link opens.
const ResetPath = Path + "/password-reset"

// ResetTTL is how long a password-reset link works.
const ResetTTL = 30 * time.Minute

// resetUse is the namespace under which the store records used reset
// links (storage.AssertionStore, by the SHA-256 of the link's token).
const resetUse = "idvauth:password-reset"

// resetToken is what a reset link carries, sealed (AES-256-GCM under
// IDVAUTH_SECRETS): the person, the expiry, a nonce, and a digest of the
// password hash it replaces. The server stores nothing when it issues
// one; using it records the SHA-256 of the token, which refuses a second
// use, and changes the password hash, which refuses every other link
// issued before.
type resetToken struct {
	UserID  string `json:"u"`
	Expires int64  `json:"exp"`
	Nonce   string `json:"n"`
	Hash    string `json:"h"`
}

var resetAAD = []byte("idvauth password reset v1")

func hashDigest(passwordHash string) string {
	sum := sha256.Sum256([]byte("idvauth password reset hash v1\x00" + passwordHash))
	return hex.EncodeToString(sum[:16])
}

// ResetLink makes a single-use link, valid ResetTTL, at which the person
// userID sets a new password; ErrNotFound (wrapped) if there is no such
// person. The caller audits the issue.
func (h *Handler) ResetLink(ctx context.Context, userID string) (string, time.Time, error) {
	u, err := h.store.GetUser(ctx, userID)
	if err != nil {
		return "", time.Time{}, err
	}
	exp := h.kit.Now().Add(ResetTTL).Truncate(time.Second)
	b, _ := json.Marshal(resetToken{UserID: u.ID, Expires: exp.Unix(), Nonce: web.Random(16), Hash: hashDigest(u.PasswordHash)})
	sealed, err := h.kit.Sealer().Seal(b, resetAAD)
	if err != nil {
		return "", time.Time{}, err
	}
	return h.cfg.Issuer + ResetPath + "?token=" + base64.RawURLEncoding.EncodeToString(sealed), exp, nil
}

// errResetInvalid is a link that is not (or no longer) good.
var errResetInvalid = errors.New("account: reset link not valid")

// openReset returns the person a reset token is for, if it is still good.
func (h *Handler) openReset(ctx context.Context, tok string) (resetToken, storage.User, error) {
	var rt resetToken
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(tok) > 1024 {
		return rt, storage.User{}, errResetInvalid
	}
	b, _, err := h.kit.Sealer().Open(raw, resetAAD)
	if err != nil || json.Unmarshal(b, &rt) != nil || rt.UserID == "" || h.kit.Now().Unix() >= rt.Expires {
		return rt, storage.User{}, errResetInvalid
	}
	u, err := h.store.GetUser(ctx, rt.UserID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return rt, u, errResetInvalid
	case err != nil:
		return rt, u, err
	case hashDigest(u.PasswordHash) != rt.Hash:
		return rt, u, errResetInvalid // used, or the password changed since
	}
	return rt, u, nil
}

// reset serves the page of a reset link: GET shows the form, POST sets
// the new password under the policy, then ends every browser session and
// refresh token of the person.
func (h *Handler) reset(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var tok string
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil || len(q["token"]) != 1 {
			h.resetRefused(w, r)
			return
		}
		tok = q.Get("token")
	default:
		if !h.kit.ReadForm(w, r) || !single(w, r, h) {
			return
		}
		if len(r.PostForm["token"]) != 1 {
			h.resetRefused(w, r)
			return
		}
		tok = r.PostForm.Get("token")
	}
	rt, u, err := h.openReset(ctx, tok)
	switch {
	case errors.Is(err, errResetInvalid):
		h.resetRefused(w, r)
		return
	case err != nil:
		h.unavailable(w, r, err)
		return
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		h.resetForm(w, r, http.StatusOK, tok, "")
		return
	}
	next := r.PostForm.Get("new_password")
	if len(next) > password.MaxLen {
		h.resetForm(w, r, http.StatusBadRequest, tok, "The new password must be at most "+strconv.Itoa(password.MaxLen)+" bytes.")
		return
	}
	if err := password.CheckPolicy(next, u.Username, u.Email); err != nil {
		h.resetForm(w, r, http.StatusBadRequest, tok, "The new password is not accepted: "+err.Error()+".")
		return
	}
	hash, err := h.kit.Hash(next)
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	// One use: of concurrent posts of one link exactly one gets past this.
	sum := sha256.Sum256([]byte(tok))
	switch err := h.store.UseAssertion(ctx, resetUse, hex.EncodeToString(sum[:]), time.Unix(rt.Expires, 0)); {
	case errors.Is(err, storage.ErrAlreadyExists):
		h.resetRefused(w, r)
		return
	case err != nil:
		h.unavailable(w, r, err)
		return
	}
	now := h.kit.Now()
	u.PasswordHash, u.UpdatedAt = hash, now.Truncate(time.Second)
	if err := h.store.UpdateUser(ctx, u); err != nil {
		h.unavailable(w, r, err)
		return
	}
	sessions, grants, err := endOthers(ctx, h.store, h.ender(r), u.ID, "", now, true)
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	if err := h.cfg.Audit.Append(ctx, storage.AuditEntry{Type: adminapi.EventPasswordChanged, Actor: audit.User(u.ID), Subject: u.ID, IP: h.kit.IP(r),
		Details: map[string]string{"via": "reset_link", "sessions_ended": strconv.Itoa(sessions), "refresh_grants_revoked": strconv.Itoa(grants)}}); err != nil {
		h.unavailable(w, r, err)
		return
	}
	h.log.Info("password reset", web.RequestField(ctx), zap.String("user_id", u.ID))
	h.kit.MessagePage(w, r, http.StatusOK, "Your password is set", "You are signed out everywhere. Sign in again with your new password.")
}

func (h *Handler) resetForm(w http.ResponseWriter, r *http.Request, status int, tok, msg string) {
	csrf := h.kit.CSRF(w, r)
	h.kit.Render(w, r, status, func(b *bytes.Buffer) error {
		return h.kit.Pages().Reset(b, templates.ResetData{Action: ResetPath, CSRF: csrf, Token: tok, Error: msg})
	})
}

func (h *Handler) resetRefused(w http.ResponseWriter, r *http.Request) {
	h.kit.ErrorPage(w, r, http.StatusGone, "This link does not work any more",
		"A password-reset link works once, for 30 minutes. Ask the service's support for a new one.")
}
