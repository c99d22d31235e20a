package login

import (
	"bytes"
	"context"
	"errors"
	"mime"
	"net/http"
	"net/url"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/authz/logout"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/templates"
)

// maxEndSessionBody bounds an end-session form: a hint and the other
// parameters with room to spare.
const maxEndSessionBody = 4 * logout.MaxHintLen

// Logout serves the end-session endpoint (OpenID Connect RP-Initiated
// Logout 1.0) at EndSessionPath, and the plain sign-out page at
// LogoutPath: GET (query) or POST (form). A request whose id_token_hint
// was issued in this browser session logs it out at once; any other
// (no hint, a stale one, another person's) gets a confirmation page whose
// form posts back with the CSRF token and confirm. After logging out the
// person is sent to the post_logout_redirect_uri, with state, only when
// the client registered it exactly; otherwise a signed-out page. A bad
// request (a hint that does not verify, a client_id the hint was not
// issued to, repeated parameters) is a 400 page and ends nothing.
func (h *Handler) Logout(w http.ResponseWriter, r *http.Request) { endSession{h}.serve(w, r) }

// endSession serves Logout.
type endSession struct{ *Handler }

func (h endSession) serve(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	params, confirmed, ok := h.readEndSession(w, r)
	if !ok {
		return
	}
	req, err := h.cfg.Logout.Parse(ctx, params)
	var bad *logout.Error
	if errors.As(err, &bad) {
		h.errorPage(w, r, http.StatusBadRequest, "The sign-out request is not valid", bad.Description)
		return
	}
	if err != nil {
		h.logoutUnavailable(w, r, err)
		return
	}
	bs, _, signedIn, err := h.browserSession(ctx, r)
	if err != nil {
		h.logoutUnavailable(w, r, err)
		return
	}
	if signedIn && !confirmed {
		ours, err := h.hintFor(ctx, req.Hint, bs)
		if err != nil {
			h.logoutUnavailable(w, r, err)
			return
		}
		if !ours {
			h.confirmLogout(w, r, req)
			return
		}
	}
	if signedIn {
		if err := h.cfg.Logout.End(ctx, bs, h.cfg.IPs.String(r)); err != nil && !errors.Is(err, storage.ErrNotFound) {
			h.logoutUnavailable(w, r, err)
			return
		}
	}
	h.cookies.Clear(w, sessionCookie)
	h.cookies.Clear(w, pendingCookie)
	if req.RedirectURI == "" {
		h.messagePage(w, r, http.StatusOK, "You are signed out", "You can close this window.")
		return
	}
	u, _ := url.Parse(req.RedirectURI) // registered, so valid
	if req.State != "" {
		q := u.Query()
		q.Set("state", req.State)
		u.RawQuery = q.Encode()
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// readEndSession reads the parameters of an end-session request: the
// query of a GET, the form of a POST (form-encoded, size-limited; one
// that confirms must carry the CSRF token). It answers errors itself.
func (h endSession) readEndSession(w http.ResponseWriter, r *http.Request) (params url.Values, confirmed, ok bool) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil || len(r.URL.RawQuery) > maxEndSessionBody {
			h.errorPage(w, r, http.StatusBadRequest, "The sign-out request is not valid", "The query string could not be read.")
			return nil, false, false
		}
		return q, false, true
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, POST")
		h.errorPage(w, r, http.StatusMethodNotAllowed, "Method not allowed", "Use GET or POST.")
		return nil, false, false
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		h.errorPage(w, r, http.StatusUnsupportedMediaType, "The form could not be read", "Send the form as application/x-www-form-urlencoded.")
		return nil, false, false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxEndSessionBody)
	if err := r.ParseForm(); err != nil {
		h.errorPage(w, r, http.StatusBadRequest, "The form could not be read", "The form is too large or not valid.")
		return nil, false, false
	}
	if r.URL.RawQuery != "" {
		h.errorPage(w, r, http.StatusBadRequest, "The sign-out request is not valid", "Send the parameters in the form, not in the URL.")
		return nil, false, false
	}
	// The confirmation form (it carries the CSRF token); an RP's own
	// form post has neither field.
	if r.PostForm.Has("confirm") || r.PostForm.Has("csrf") {
		if !h.cookies.CheckCSRF(r) {
			h.errorPage(w, r, http.StatusForbidden, "The form has expired", "For your safety this form can only be sent from the page that showed it. Go back to the application and start again.")
			return nil, false, false
		}
		return r.PostForm, true, true
	}
	return r.PostForm, false, true
}

// hintFor reports whether hint is an ID token issued in the browser
// session bs (or in one of the same person's that bs replaced), to its
// person.
func (h endSession) hintFor(ctx context.Context, hint *logout.Hint, bs storage.BrowserSession) (bool, error) {
	if hint == nil || hint.SID == "" || hint.Subject != bs.UserID {
		return false, nil
	}
	return h.cfg.Logout.InSession(ctx, bs, hint.SID)
}

// confirmLogout asks the person to confirm; the form carries what the
// request needs after it (the client, its registered redirect and state;
// never the hint).
func (h endSession) confirmLogout(w http.ResponseWriter, r *http.Request, req logout.Request) {
	csrf := h.cookies.CSRFToken(w, r)
	d := templates.LogoutData{Action: EndSessionPath, CSRF: csrf}
	if req.Client != nil {
		d.ClientName = req.Client.Name
		d.Hidden = append(d.Hidden, templates.Field{Name: "client_id", Value: req.ClientID})
	}
	if req.RedirectURI != "" {
		d.Hidden = append(d.Hidden, templates.Field{Name: "post_logout_redirect_uri", Value: req.RedirectURI})
		if req.State != "" {
			d.Hidden = append(d.Hidden, templates.Field{Name: "state", Value: req.State})
		}
	}
	h.renderForm(w, r, http.StatusOK, uriSource(req.RedirectURI), func(b *bytes.Buffer) error {
		return h.cfg.Pages.Logout(b, d)
	})
}

func (h endSession) logoutUnavailable(w http.ResponseWriter, r *http.Request, err error) {
	h.log.Error("logout", web.RequestField(r.Context()), zap.Error(err))
	h.errorPage(w, r, http.StatusServiceUnavailable, "Could not sign you out", "The server cannot complete the request right now. Try again in a moment.")
}
