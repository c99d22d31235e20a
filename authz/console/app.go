package console

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/adminauth"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/authz/operators"
	"github.com/idvauth/idvauth/storage"
)

// op is the signed-in operator of a page request, with an admin API
// client that acts as them.
type op struct {
	o   storage.Operator
	api *adminapi.Client
	can map[string]bool
	// fresh: the token was issued on this request.
	fresh bool
}

// data is the page data every signed-in page starts from.
func (c *op) data(title string) pageData {
	me := operators.JSON(c.o)
	return pageData{Title: title, Me: &me, Can: c.can}
}

func (h *Handler) routes() {
	m, v := h.mux, views{h}
	m.HandleFunc(SignInPath, h.signIn)
	m.HandleFunc(SignInTOTPPath, h.signInTOTP)
	m.HandleFunc(SignOutPath, h.signOut)
	m.HandleFunc(EnrollPath, h.enroll)
	m.HandleFunc(EnrollTOTPPath, h.enrollTOTP)
	m.HandleFunc(Prefix+"/static/", h.serveScript)
	m.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
	})
	m.Handle("GET "+Prefix+"/{$}", h.signedIn(v.dashboard))
	m.Handle("GET "+Prefix+"/clients", h.signedIn(v.clients))
	m.Handle("POST "+Prefix+"/clients", h.signedIn(v.createClient))
	m.Handle("GET "+Prefix+"/clients/{id}", h.signedIn(v.client))
	m.Handle("POST "+Prefix+"/clients/{id}/delete", h.signedIn(v.deleteClient))
	m.Handle("POST "+Prefix+"/clients/{id}/rotate", h.signedIn(v.rotateClient))
	m.Handle("GET "+Prefix+"/people", h.signedIn(v.people))
	m.Handle("GET "+Prefix+"/people/{id}", h.signedIn(v.person))
	m.Handle("POST "+Prefix+"/people/{id}/erase", h.signedIn(v.erasePerson))
	m.Handle("POST "+Prefix+"/people/{id}/mfa-reset", h.signedIn(v.resetPersonMFA))
	m.Handle("POST "+Prefix+"/people/{id}/reset-link", h.signedIn(v.personResetLink))
	m.Handle("GET "+Prefix+"/keys", h.signedIn(v.keys))
	m.Handle("GET "+Prefix+"/audit", h.signedIn(v.audit))
	m.Handle("GET "+Prefix+"/operators", h.signedIn(v.operators))
	h.manageRoutes(m, v)
	h.operatorRoutes(m, v)
	m.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		h.message(w, r, http.StatusNotFound, "Not found", "There is no such console page.")
	})
}

// signedIn runs page for the operator signed in on r, or sends the
// browser to the sign-in page. It checks the operator on every request,
// renews the idle lifetime and the operator's token when needed, and
// reads a post's form (CSRF checked).
func (h *Handler) signedIn(page func(w http.ResponseWriter, r *http.Request, c *op)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		st, rec, ok, err := h.readSession(r)
		if err != nil {
			h.unavailable(w, r, err)
			return
		} else if !ok {
			h.clear(w, sessionCookie)
			h.toSignIn(w, r)
			return
		}
		o, err := h.cfg.Store.GetOperator(ctx, rec.OperatorID)
		if errors.Is(err, storage.ErrNotFound) || (err == nil && (o.Disabled || len(o.TOTPSecret) == 0)) {
			_ = h.cfg.Store.DeleteOperatorSession(ctx, digest(st.ID))
			h.clear(w, sessionCookie)
			h.toSignIn(w, r)
			return
		} else if err != nil {
			h.unavailable(w, r, err)
			return
		}
		scopes, fresh := adminauth.RoleScopes(o.Role), false
		if !h.tokenFresh(st, scopes) {
			if err := h.issueToken(w, r, &st, rec, o, scopes); err != nil {
				h.unavailable(w, r, err)
				return
			}
			fresh = true
		}
		if r.Method == http.MethodPost && !h.readForm(w, r) {
			return
		}
		api, err := h.apiAs(r, st.Tok)
		if err != nil {
			h.unavailable(w, r, err)
			return
		}
		can := map[string]bool{}
		for _, s := range scopes {
			can[s] = true
		}
		page(w, r, &op{o: o, api: api, can: can, fresh: fresh})
	})
}

// issueToken gives the session st of rec a new admin API token for o
// with scopes, and stores it in the session cookie.
func (h *Handler) issueToken(w http.ResponseWriter, r *http.Request, st *session, rec storage.OperatorSession, o storage.Operator, scopes []string) error {
	now := h.now()
	tok, err := h.cfg.Token(r.Context(), o.ID, scopes)
	if err != nil {
		return err
	}
	st.Tok, st.Scopes, st.TokExp = tok, scopes, now.Add(h.cfg.TokenTTL-h.tokenMargin()).Unix()
	return h.setSealed(w, sessionCookie, *st, rec.ExpiresAt.Sub(now))
}

// apiAs is an admin API client that calls with tok, served in-process
// as from the browser's request r.
func (h *Handler) apiAs(r *http.Request, tok string) (*adminapi.Client, error) {
	return adminapi.New(adminapi.Config{BaseURL: "http://console.internal", Token: tok,
		HTTPClient: &http.Client{Transport: inProcess{api: h.cfg.API, from: r}, Timeout: adminapi.DefaultTimeout}})
}

// toSignIn sends the browser to the sign-in page, to come back to r's
// page (a GET) after it.
func (h *Handler) toSignIn(w http.ResponseWriter, r *http.Request) {
	next := ""
	if r.Method == http.MethodGet {
		next = r.URL.RequestURI()
	}
	http.Redirect(w, r, SignInURL(next), http.StatusSeeOther)
}

// inProcess serves the admin API's requests in-process, as from the
// browser's request from (its address, for the audit trail).
type inProcess struct {
	api  http.Handler
	from *http.Request
}

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	// The browser's address, for the audit trail, and the host it
	// reached us on, for the links the API builds from it.
	req.RemoteAddr, req.Host = t.from.RemoteAddr, t.from.Host
	for _, k := range []string{"X-Forwarded-For", "Forwarded", "User-Agent"} {
		if v := t.from.Header.Values(k); len(v) > 0 {
			req.Header[k] = v
		}
	}
	req.RequestURI = req.URL.RequestURI()
	rec := web.NewRecorder()
	t.api.ServeHTTP(rec, req)
	body := rec.Body()
	return &http.Response{StatusCode: rec.Status(), Status: http.StatusText(rec.Status()), Header: rec.Header(),
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Request: req}, nil
}

// apiError answers a refusal or failure of the admin API on a page.
func (h *Handler) apiError(w http.ResponseWriter, r *http.Request, c *op, err error) {
	// Held for a second operator (four-eyes, 202): nothing was done yet;
	// the page says so and shows the request.
	if (operatorViews{views{h}}).held(w, r, c, err) {
		return
	}
	var ae *adminapi.Error
	if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized && !c.fresh && h.renewOnce(w, r, c) {
		return
	}
	if errors.As(err, &ae) && ae.Status < 500 {
		d := c.data("Not done")
		d.Error = ae.Description
		if d.Error == "" {
			d.Error = ae.Code
		}
		h.render(w, r, ae.Status, "message", d)
		return
	}
	h.unavailable(w, r, err)
}

// renewOnce answers a refusal of the operator's token before its time
// (its key's tokens were revoked) with a new token: a GET is sent back to
// itself, a post is told to check what it did (the refusal may have come
// after the action: a key retired with its tokens ends the token that
// retired it). A page refused again right after (the short-lived cookie
// says so) is not renewed again, so no loop of reloads: false, and the
// caller shows the refusal.
func (h *Handler) renewOnce(w http.ResponseWriter, r *http.Request, c *op) bool {
	if _, err := r.Cookie(h.cookies.Name(renewedCookie)); err == nil {
		h.clear(w, renewedCookie)
		return false
	}
	if err := h.renewToken(w, r, c); err != nil {
		h.unavailable(w, r, err)
		return true
	}
	if r.Method == http.MethodGet {
		http.SetCookie(w, &http.Cookie{Name: h.cookies.Name(renewedCookie), Value: "1", Path: "/", MaxAge: 10,
			HttpOnly: true, Secure: h.cookies.Secure, SameSite: http.SameSiteStrictMode})
		http.Redirect(w, r, r.URL.RequestURI(), http.StatusSeeOther)
		return true
	}
	d := c.data("Access renewed")
	d.Error = "Your console access was renewed while this was submitted. Check the page before you submit again: it may have been done."
	h.render(w, r, http.StatusConflict, "message", d)
	return true
}

// within bounds the admin API calls of one page.
func within(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 30*time.Second)
}
