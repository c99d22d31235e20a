package account

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/authz/login"
	"github.com/idvauth/idvauth/authz/mfa"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/templates"
)

// enrollTTL is how long a person has to confirm a new authenticator app.
const enrollTTL = 10 * time.Minute

// factorsView fills the factors section.
type factorsView struct {
	TOTP         *factorView
	RecoveryLeft int
	Required     bool
	Enroll       *enrollView
	// Passkeys is how many passkeys the person has; PasskeysPath is the
	// page that manages them (login.AccountPasskeysPath).
	Passkeys     int
	PasskeysPath string
}

type factorView struct{ Added, LastUsed string }

// enrollView is a TOTP enrollment in progress: the secret as text, URI and
// QR code, and Pending, the secret sealed for the confirming post.
type enrollView struct {
	URI, Secret, Pending string
	QR                   template.HTML
}

func (h *Handler) factorsSection() Section {
	return Section{Name: "factors", Title: "Second step at sign-in", Load: h.loadFactors, Actions: map[string]Action{
		"totp-start":          {Fresh: true, Do: h.startTOTP},
		"totp-confirm":        {Fresh: true, Do: h.confirmTOTP},
		"totp-remove":         {Fresh: true, Do: h.removeTOTP},
		"recovery-regenerate": {Fresh: true, Do: h.regenerateRecovery},
	}}
}

func totpOf(list []storage.Factor) (storage.Factor, bool) {
	i := slices.IndexFunc(list, func(f storage.Factor) bool { return f.Kind == storage.FactorTOTP })
	if i < 0 {
		return storage.Factor{}, false
	}
	return list[i], true
}

func (h *Handler) loadFactors(ctx context.Context, v *View) (any, error) {
	list, err := h.store.ListFactors(ctx, v.User.ID)
	if err != nil {
		return nil, err
	}
	ps, err := h.store.ListPasskeys(ctx, v.User.ID)
	if err != nil {
		return nil, err
	}
	out := factorsView{Required: h.kit.MFARequired(), Passkeys: len(ps), PasskeysPath: login.AccountPasskeysPath}
	if f, ok := totpOf(list); ok {
		out.TOTP = &factorView{Added: when(f.CreatedAt), LastUsed: when(f.LastUsedAt)}
		if out.RecoveryLeft, err = h.store.RecoveryCodesLeft(ctx, v.User.ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// enrollment is the sealed state of a TOTP enrollment between the page
// that shows the secret and the post that confirms it: bound to the
// person and to the browser's CSRF token, and short-lived.
type enrollment struct {
	Secret  string `json:"s"`
	Expires int64  `json:"exp"`
}

func enrollAAD(userID, csrf string) []byte {
	return []byte("idvauth account totp enroll v1\x00" + userID + "\x00" + csrf)
}

// enrolling is the factors section showing the secret of e.
func (h *Handler) enrolling(v *View, e enrollment) (factorsView, error) {
	b, _ := json.Marshal(e)
	sealed, err := h.kit.Sealer().Seal(b, enrollAAD(v.User.ID, v.CSRF))
	if err != nil {
		return factorsView{}, err
	}
	uri := totpURI(h.kit.IssuerLabel(), v.User.Username, e.Secret)
	qr, err := mfa.QRSVG(uri)
	if err != nil {
		return factorsView{}, err
	}
	return factorsView{Enroll: &enrollView{URI: uri, Secret: e.Secret, QR: qr, Pending: base64.RawURLEncoding.EncodeToString(sealed)}}, nil
}

// totpURI is the otpauth:// URI of secret for account at issuer.
func totpURI(issuer, account, secret string) string {
	return "otpauth://totp/" + url.PathEscape(issuer+":"+account) + "?algorithm=SHA1&digits=6&issuer=" + url.QueryEscape(issuer) +
		"&period=30&secret=" + secret
}

// startTOTP shows a new TOTP secret to set up; nothing is stored until
// a code confirms it.
func (h *Handler) startTOTP(w http.ResponseWriter, r *http.Request, v *View) Outcome {
	list, err := h.store.ListFactors(r.Context(), v.User.ID)
	if err != nil {
		return h.failed(w, r, err)
	}
	if _, ok := totpOf(list); ok {
		return Outcome{Problem: "An authenticator app is set up already. Remove it first to set up another.", Status: http.StatusConflict}
	}
	secret, _, err := mfa.NewTOTP(h.kit.IssuerLabel(), v.User.Username, rand.Reader)
	if err != nil {
		return h.failed(w, r, err)
	}
	fv, err := h.enrolling(v, enrollment{Secret: secret, Expires: v.Now.Add(enrollTTL).Unix()})
	if err != nil {
		return h.failed(w, r, err)
	}
	return Outcome{Data: fv}
}

// confirmTOTP stores the authenticator app being set up once a code from
// it matches, with new recovery codes, shown once.
func (h *Handler) confirmTOTP(w http.ResponseWriter, r *http.Request, v *View) Outcome {
	ctx := r.Context()
	var e enrollment
	raw, err := base64.RawURLEncoding.DecodeString(r.PostForm.Get("pending"))
	if err == nil {
		var b []byte
		if b, _, err = h.kit.Sealer().Open(raw, enrollAAD(v.User.ID, v.CSRF)); err == nil {
			err = json.Unmarshal(b, &e)
		}
	}
	if err != nil || e.Secret == "" || v.Now.Unix() >= e.Expires {
		return Outcome{Problem: "The setup has expired or the form could not be read. Start again."}
	}
	step, ok, err := mfa.MatchTOTP(e.Secret, trimmed(r.PostForm.Get("code")), v.Now, -1)
	if err != nil || !ok {
		if err := h.audit(r, v, adminapi.EventMFAFailed, "wrong_code", "factor", "totp", "action", "enroll"); err != nil {
			return h.failed(w, r, err)
		}
		fv, err := h.enrolling(v, e)
		if err != nil {
			return h.failed(w, r, err)
		}
		return Outcome{Problem: "That code is not correct. Enter the code the app shows now.", Data: fv}
	}
	// The store seals factor secrets under the person's key (authz/seal),
	// as the login flow's setup stores them.
	f := storage.Factor{ID: "f_" + web.Random(16), UserID: v.User.ID, Kind: storage.FactorTOTP, Name: "Authenticator app",
		Secret: []byte(e.Secret), Counter: step, CreatedAt: v.Now, LastUsedAt: v.Now}
	switch err := h.store.CreateFactor(ctx, f); {
	case errors.Is(err, storage.ErrAlreadyExists):
		return Outcome{Problem: "An authenticator app is set up already.", Status: http.StatusConflict}
	case err != nil:
		return h.failed(w, r, err)
	}
	if err := h.audit(r, v, adminapi.EventFactorAdded, "", "factor", "totp"); err != nil {
		return h.failed(w, r, err)
	}
	return h.newRecoveryCodes(w, r, v)
}

// newRecoveryCodes replaces the person's recovery codes and shows the
// new ones, once.
func (h *Handler) newRecoveryCodes(w http.ResponseWriter, r *http.Request, v *View) Outcome {
	codes, digests := mfa.NewRecoveryCodes()
	if err := h.store.SetRecoveryCodes(r.Context(), v.User.ID, digests, v.Now); err != nil {
		return h.failed(w, r, err)
	}
	if err := h.audit(r, v, adminapi.EventRecoveryCodesRenewed, "", "count", strconv.Itoa(len(codes))); err != nil {
		return h.failed(w, r, err)
	}
	h.kit.Render(w, r, http.StatusOK, func(b *bytes.Buffer) error {
		return h.kit.Pages().Recovery(b, templates.RecoveryData{Codes: codes, Continue: Path + "#factors"})
	})
	return Outcome{Done: true}
}

// regenerateRecovery replaces the recovery codes of a person who has a
// second factor.
func (h *Handler) regenerateRecovery(w http.ResponseWriter, r *http.Request, v *View) Outcome {
	list, err := h.store.ListFactors(r.Context(), v.User.ID)
	if err != nil {
		return h.failed(w, r, err)
	}
	if len(list) == 0 {
		return Outcome{Problem: "Recovery codes come with a second step: set up an authenticator app first.", Status: http.StatusConflict}
	}
	return h.newRecoveryCodes(w, r, v)
}

// removeTOTP removes the person's authenticator app and recovery codes,
// unless the server requires a second factor and it is their last.
func (h *Handler) removeTOTP(w http.ResponseWriter, r *http.Request, v *View) Outcome {
	ctx := r.Context()
	list, err := h.store.ListFactors(ctx, v.User.ID)
	if err != nil {
		return h.failed(w, r, err)
	}
	if _, ok := totpOf(list); !ok {
		return Outcome{Problem: "There is no authenticator app to remove.", Status: http.StatusConflict}
	}
	if h.kit.MFARequired() && len(list) == 1 {
		if err := h.audit(r, v, adminapi.EventFactorRemoved, "last_factor_required", "factor", "totp"); err != nil {
			return h.failed(w, r, err)
		}
		return Outcome{Problem: "This service requires a second step at sign-in: your last one cannot be removed.", Status: http.StatusConflict}
	}
	ps, err := h.store.ListPasskeys(ctx, v.User.ID)
	if err != nil {
		return h.failed(w, r, err)
	}
	if len(list) > 1 || len(ps) > 0 {
		// The store removes factors and passkeys all at once; another
		// kind must not go with the app.
		return Outcome{Problem: "Remove your other second steps (passkeys) first.", Status: http.StatusConflict}
	}
	if _, err := h.store.DeleteFactors(ctx, v.User.ID); err != nil {
		return h.failed(w, r, err)
	}
	if err := h.audit(r, v, adminapi.EventFactorRemoved, "", "factor", "totp"); err != nil {
		return h.failed(w, r, err)
	}
	return Outcome{Notice: "The authenticator app and your recovery codes are removed."}
}
