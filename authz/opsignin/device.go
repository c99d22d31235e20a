package opsignin

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/internal/adminauth"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/authz/operators"
	"github.com/idvauth/idvauth/scopes"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/templates"
)

// The device authorization grant (RFC 8628) of `idvauth login --device`,
// for hosts without a browser: the command line asks for a device code
// and shows a user code; a signed-in operator enters it on the console's
// device page and allows it; the command line's polls then get tokens.
//
// It rides on the authorization-code grant with PKCE: the operator's
// approval issues an authorization code whose PKCE challenge is the
// SHA-256 of the device code (what the store keeps of it as its
// signature), and the poll that brings the device code redeems that code
// at the server's token endpoint with the device code as verifier. Only
// the holder of the device code can, and only once; refresh tokens,
// audit and revocation are the code grant's.
const (
	DeviceAuthorizationPath = "/console/oauth2/device_authorization"
	DevicePath              = "/console/device"
	// GrantDeviceCode is RFC 8628's grant type.
	GrantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"
)

// The records of a device grant, in the token store.
const (
	kindDevice   storage.TokenKind = "device_code"      // pending, by the device code
	kindUserCode storage.TokenKind = "device_user_code" // by the user code, single use
	kindApproved storage.TokenKind = "device_approved"  // the sealed authorization code
	kindDenied   storage.TokenKind = "device_denied"
)

// DeviceTTL is how long a device code waits for an operator.
const DeviceTTL = 10 * time.Minute

// devicePollInterval is the interval the command line is told to poll at.
const devicePollInterval = 5 * time.Second

// deviceRedirect is the redirect URI of the codes the device grant
// issues internally: registered for idvauth-cli, never visited.
const deviceRedirect = "http://127.0.0.1/callback"

// userCodeAlphabet are the consonants of RFC 8628 section 6.1: no vowels
// (no words), no easily confused letters.
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// Tokens is the part of the token store the device grant uses.
type Tokens interface {
	CreateToken(ctx context.Context, t storage.Token) error
	GetToken(ctx context.Context, kind storage.TokenKind, signature string) (storage.Token, error)
	ConsumeToken(ctx context.Context, kind storage.TokenKind, signature string, now time.Time) (storage.Token, error)
	DeleteToken(ctx context.Context, kind storage.TokenKind, signature string) error
}

// Sealer seals the authorization code an approval issues until its poll.
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, bool, error)
}

// challenge is the PKCE S256 challenge of verifier, and the signature
// under which its records are kept.
func challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// normalUserCode is a user code as typed, upper case without dashes and
// spaces.
func normalUserCode(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' {
			return -1
		}
		return r
	}, strings.ToUpper(strings.TrimSpace(s)))
}

// newUserCode is 8 letters of userCodeAlphabet (34 bits), shown XXXX-XXXX.
func newUserCode() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = userCodeAlphabet[int(b[i])%len(userCodeAlphabet)] // 256 % 20 = 16: a bias of 1/256 at most, harmless here
	}
	return string(b[:4]) + "-" + string(b[4:])
}

// deviceError writes an RFC 8628 / RFC 6749 token error.
func deviceError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Cache-Control", "no-store")
	web.WriteJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// ServeDeviceAuthorization serves DeviceAuthorizationPath (RFC 8628
// section 3.1): a device code and a user code for idvauth-cli.
func (h *Handler) ServeDeviceAuthorization(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		deviceError(w, http.StatusMethodNotAllowed, "invalid_request", "Use POST.")
		return
	}
	if oe := web.ReadForm(w, r); oe != nil {
		oe.Write(w)
		return
	}
	if r.PostForm.Get("client_id") != operators.CLIClientID {
		deviceError(w, http.StatusUnauthorized, "invalid_client", "Only idvauth login signs in with a device code here.")
		return
	}
	var asked []string
	for _, sc := range strings.Fields(r.PostForm.Get("scope")) {
		if sc != scopes.OfflineAccess && !adminauth.IsAdminScope(sc) {
			deviceError(w, http.StatusBadRequest, "invalid_scope", "The scope '"+web.SafeParam(sc)+"' is not an admin scope.")
			return
		}
		asked = append(asked, sc)
	}
	ctx, now := r.Context(), h.cfg.Now().UTC().Truncate(time.Second)
	device, user, id := web.RandomToken(), newUserCode(), web.Random(16)
	exp := now.Add(DeviceTTL)
	rec := storage.Token{Kind: kindDevice, Signature: challenge(device), RequestID: id, ClientID: operators.CLIClientID,
		Scopes: asked, IssuedAt: now, ExpiresAt: exp}
	if err := h.cfg.Tokens.CreateToken(ctx, rec); err != nil {
		h.unavailable(w, r, err)
		return
	}
	link, _ := json.Marshal(rec.Signature)
	userRec := storage.Token{Kind: kindUserCode, Signature: challenge(normalUserCode(user)), RequestID: id, ClientID: operators.CLIClientID,
		Scopes: asked, IssuedAt: now, ExpiresAt: exp, Session: link}
	if err := h.cfg.Tokens.CreateToken(ctx, userRec); err != nil {
		h.unavailable(w, r, err)
		return
	}
	verify := h.base(r) + DevicePath
	w.Header().Set("Cache-Control", "no-store")
	web.WriteJSON(w, http.StatusOK, map[string]any{"device_code": device, "user_code": user, "verification_uri": verify,
		"verification_uri_complete": verify + "?user_code=" + url.QueryEscape(user), "expires_in": int(DeviceTTL / time.Second),
		"interval": int(devicePollInterval / time.Second)})
}

func (h *Handler) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	h.cfg.Log.Error("device grant: store", web.RequestField(r.Context()), zap.Error(err))
	deviceError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "Try again.")
}

// base is where the admin listener is reached: AdminURL, or the
// request's host.
func (h *Handler) base(r *http.Request) string {
	if h.cfg.AdminURL != "" {
		return h.cfg.AdminURL
	}
	return "http://" + r.Host
}

// ServeDevice serves DevicePath: a signed-in operator enters a user code
// (GET shows the form, POST takes it), then allows or denies it.
func (h *Handler) ServeDevice(w http.ResponseWriter, r *http.Request) {
	opID, authTime, signed := h.cfg.SignedIn(r)
	switch {
	case r.Method == http.MethodGet && !signed:
		http.Redirect(w, r, h.cfg.SignInURL(DevicePath+"?"+r.URL.RawQuery), http.StatusSeeOther)
		return
	case r.Method == http.MethodGet:
		h.devicePage(w, r, http.StatusOK, r.URL.Query().Get("user_code"), "")
		return
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", "GET, POST")
		h.errorPage(w, r, http.StatusMethodNotAllowed, "Method not allowed", "Open this page from idvauth login --device.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxQueryLen)
	if err := r.ParseForm(); err != nil || len(r.PostForm["user_code"])+len(r.PostForm["return"]) != 1 || len(r.PostForm["decision"]) > 1 {
		h.errorPage(w, r, http.StatusBadRequest, "The form could not be read", "Start again from idvauth login --device.")
		return
	}
	if !h.cfg.Cookies.CheckCSRF(r) {
		h.errorPage(w, r, http.StatusForbidden, "The form has expired", "For your safety this form can only be sent from the page that showed it. Open the page again.")
		return
	}
	if !signed {
		h.errorPage(w, r, http.StatusForbidden, "You are signed out", "Sign in to the console and open this page again.")
		return
	}
	ctx, now := r.Context(), h.cfg.Now().UTC()
	// The code page posts user_code; the consent page posts it back as
	// return, with the decision.
	code := r.PostForm.Get("user_code") + r.PostForm.Get("return")
	sig := challenge(normalUserCode(code))
	rec, err := h.cfg.Tokens.GetToken(ctx, kindUserCode, sig)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && (!rec.ExpiresAt.After(now) || !rec.ConsumedAt.IsZero())) || len(normalUserCode(code)) != 8 {
		h.devicePage(w, r, http.StatusBadRequest, code, "This code is unknown, used or expired. Check it, or start idvauth login --device again.")
		return
	}
	if err != nil {
		h.errorPage(w, r, http.StatusServiceUnavailable, "Try again", "The code could not be checked.")
		return
	}
	o, ok := h.operator(w, r, nil, opID)
	if !ok {
		return
	}
	if r.PostForm.Get("decision") == "" {
		list := []templates.Scope{}
		for _, sc := range grantable(rec.Scopes, o.Role) {
			list = append(list, templates.Scope{Name: sc})
		}
		csrf := h.cfg.Cookies.CSRFToken(w, r)
		h.render(w, r, http.StatusOK, nil, func(b *bytes.Buffer) error {
			return h.cfg.Pages.Consent(b, templates.ConsentData{Action: DevicePath, CSRF: csrf, Return: code,
				ClientName: "idvauth command line on another device", ClientID: operators.CLIClientID, UserName: o.Username, Scopes: list})
		})
		return
	}
	h.deviceDecision(w, r, rec, o, authTime)
}

// deviceDecision takes the operator o's decision on the device grant
// whose user code record is rec: the user code is used up, and the
// decision recorded for the device's poll.
func (h *Handler) deviceDecision(w http.ResponseWriter, r *http.Request, rec storage.Token, o storage.Operator, authTime time.Time) {
	ctx, now := r.Context(), h.cfg.Now().UTC()
	if _, err := h.cfg.Tokens.ConsumeToken(ctx, kindUserCode, rec.Signature, now); err != nil {
		h.devicePage(w, r, http.StatusBadRequest, "", "This code was used already. Start idvauth login --device again.")
		return
	}
	var deviceSig string
	if json.Unmarshal(rec.Session, &deviceSig) != nil || deviceSig == "" {
		h.errorPage(w, r, http.StatusInternalServerError, "Something went wrong", "Start idvauth login --device again.")
		return
	}
	if r.PostForm.Get("decision") != "allow" {
		_ = h.audit(ctx, o.ID, "denied")
		h.record(w, r, storage.Token{Kind: kindDenied, Signature: deviceSig, RequestID: rec.RequestID, ClientID: operators.CLIClientID,
			IssuedAt: now, ExpiresAt: rec.ExpiresAt}, "Denied", "The device was not signed in.")
		return
	}
	sealed, err := h.approve(ctx, rec, deviceSig, o, authTime)
	if err != nil {
		h.cfg.Log.Error("device grant: approve", web.RequestField(ctx), zap.Error(err))
		h.errorPage(w, r, http.StatusServiceUnavailable, "Try again", "The device could not be signed in; start idvauth login --device again.")
		return
	}
	h.record(w, r, storage.Token{Kind: kindApproved, Signature: deviceSig, RequestID: rec.RequestID, ClientID: operators.CLIClientID,
		Subject: o.ID, IssuedAt: now, ExpiresAt: rec.ExpiresAt, Session: sealed}, "Device signed in", "Go back to the device: idvauth login finishes there.")
}

// approve issues the authorization code of the device grant whose device
// code has the signature deviceSig for operator o, and returns it sealed.
func (h *Handler) approve(ctx context.Context, rec storage.Token, deviceSig string, o storage.Operator, authTime time.Time) ([]byte, error) {
	q := url.Values{"response_type": {"code"}, "client_id": {operators.CLIClientID}, "redirect_uri": {deviceRedirect},
		"code_challenge": {deviceSig}, "code_challenge_method": {"S256"}, "state": {web.RandomToken()}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, AuthorizePath+"?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	ar, err := h.cfg.Provider.NewAuthorizeRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	for _, sc := range grantable(rec.Scopes, o.Role) {
		ar.GrantScope(sc)
	}
	ar.GrantScope(scopes.OfflineAccess)
	ar.GrantAudience(h.cfg.Audience)
	resp, err := h.cfg.Provider.NewAuthorizeResponse(ctx, ar, h.session(o.ID, authTime))
	if err != nil {
		return nil, err
	}
	if err := h.audit(ctx, o.ID, "allowed"); err != nil {
		return nil, err
	}
	return h.cfg.Sealer.Seal([]byte(resp.GetCode()), []byte(deviceSig))
}

// record stores rec, the operator's decision, and tells them.
func (h *Handler) record(w http.ResponseWriter, r *http.Request, rec storage.Token, title, msg string) {
	if err := h.cfg.Tokens.CreateToken(r.Context(), rec); err != nil {
		h.cfg.Log.Error("device grant: record the decision", web.RequestField(r.Context()), zap.Error(err))
		h.errorPage(w, r, http.StatusServiceUnavailable, "Try again", "The decision could not be recorded; start idvauth login --device again.")
		return
	}
	web.WritePage(w, r, h.cfg.Log, http.StatusOK, h.cfg.Pages.CSP(), h.cfg.Pages.CSP(), func(b *bytes.Buffer) error {
		return h.cfg.Pages.Message(b, templates.MessageData{Title: title, Message: msg})
	})
}

func (h *Handler) devicePage(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	csrf := h.cfg.Cookies.CSRFToken(w, r)
	h.render(w, r, status, nil, func(b *bytes.Buffer) error {
		return h.cfg.Pages.Device(b, templates.DeviceData{Action: DevicePath, CSRF: csrf, UserCode: code, Error: msg})
	})
}

// maxTokenForm bounds a token request's body.
const maxTokenForm = 64 << 10

// Token wraps the server's token endpoint next for the admin listener:
// a device_code grant is answered here (pending, denied, expired), or,
// once approved, turned into the redemption of its authorization code
// and handed to next; every other request goes to next as it came.
func (h *Handler) Token(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxTokenForm))
		if err != nil {
			deviceError(w, http.StatusRequestEntityTooLarge, "invalid_request", "The request body is too large.")
			return
		}
		form, perr := url.ParseQuery(string(body))
		if r.Method != http.MethodPost || perr != nil || form.Get("grant_type") != GrantDeviceCode {
			r.Body = io.NopCloser(bytes.NewReader(body))
			next.ServeHTTP(w, r)
			return
		}
		if oe := web.ReadForm(w, withBody(r, body)); oe != nil {
			oe.Write(w)
			return
		}
		if form.Get("client_id") != operators.CLIClientID {
			deviceError(w, http.StatusUnauthorized, "invalid_client", "Only idvauth login uses the device grant here.")
			return
		}
		device := form.Get("device_code")
		if device == "" || len(device) > 128 {
			deviceError(w, http.StatusBadRequest, "invalid_request", "device_code is required.")
			return
		}
		ctx, now, sig := r.Context(), h.cfg.Now().UTC(), challenge(device)
		approved, err := h.cfg.Tokens.ConsumeToken(ctx, kindApproved, sig, now)
		switch {
		case err == nil:
			code, _, oerr := h.cfg.Sealer.Open(approved.Session, []byte(sig))
			if oerr != nil {
				h.unavailable(w, r, oerr)
				return
			}
			_ = h.cfg.Tokens.DeleteToken(ctx, kindDevice, sig)
			redeem := url.Values{"grant_type": {"authorization_code"}, "code": {string(code)}, "code_verifier": {device},
				"redirect_uri": {deviceRedirect}, "client_id": {operators.CLIClientID}}
			next.ServeHTTP(w, withBody(r, []byte(redeem.Encode())))
			return
		case errors.Is(err, storage.ErrConflict):
			deviceError(w, http.StatusBadRequest, "invalid_grant", "The device code was used already.")
			return
		case !errors.Is(err, storage.ErrNotFound):
			h.unavailable(w, r, err)
			return
		}
		if _, err := h.cfg.Tokens.GetToken(ctx, kindDenied, sig); err == nil {
			deviceError(w, http.StatusBadRequest, "access_denied", "The operator denied the request.")
			return
		}
		rec, err := h.cfg.Tokens.GetToken(ctx, kindDevice, sig)
		switch {
		case errors.Is(err, storage.ErrNotFound) || (err == nil && !rec.ExpiresAt.After(now)):
			deviceError(w, http.StatusBadRequest, "expired_token", "The device code expired: run idvauth login --device again.")
		case err != nil:
			h.unavailable(w, r, err)
		default:
			deviceError(w, http.StatusBadRequest, "authorization_pending", "Waiting for an operator to enter the user code.")
		}
	})
}

// withBody is r with body as its form-encoded body.
func withBody(r *http.Request, body []byte) *http.Request {
	r2 := r.Clone(r.Context())
	r2.Body, r2.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	r2.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r2.Header.Set("Content-Length", strconv.Itoa(len(body)))
	r2.Form, r2.PostForm = nil, nil
	return r2
}
