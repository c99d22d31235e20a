package logout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"unicode/utf8"

	"github.com/idvauth/idvauth/keys"
	"github.com/idvauth/idvauth/storage"
)

// Hint is what a verified id_token_hint says.
type Hint struct {
	Subject string
	// SID is the browser session the ID token was issued in; empty for
	// tokens issued before sid was kept.
	SID      string
	Audience []string
	// ClientID is the client the token was issued to (azp, or its only
	// audience).
	ClientID string
}

// Request is a checked end-session request.
type Request struct {
	// ClientID is the client the request names, or the hint was issued
	// to; empty if neither. Client is its record when it exists.
	ClientID string
	Client   *storage.Client
	// Hint is the verified id_token_hint; nil if none.
	Hint *Hint
	// RedirectURI is the post_logout_redirect_uri when the client
	// registered it exactly; empty otherwise.
	RedirectURI string
	// Unregistered says a post_logout_redirect_uri was given that is not
	// registered (or no client was named to check it against): the
	// person is not sent there.
	Unregistered bool
	// State is echoed on the redirect.
	State string
}

// Error is an end-session request that cannot be served; Description
// says why, for the person and the relying party's developer.
type Error struct{ Description string }

func (e *Error) Error() string { return "logout: bad request: " + e.Description }

func bad(format string, args ...any) error { return &Error{Description: fmt.Sprintf(format, args...)} }

// Limits of end-session parameters.
const (
	MaxHintLen     = 8 << 10
	maxRedirectLen = 2000
	maxStateLen    = 1024
	maxClientIDLen = 128
)

// Params are the end-session parameters; others (ui_locales, the form's
// own fields) are ignored.
var Params = []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state", "logout_hint"}

// Parse checks the end-session parameters in form (a query string or a
// form body). A bad request is an *Error; any other error is the store's.
func (s *Service) Parse(ctx context.Context, form url.Values) (Request, error) {
	limits := map[string]int{"id_token_hint": MaxHintLen, "client_id": maxClientIDLen, "post_logout_redirect_uri": maxRedirectLen,
		"state": maxStateLen, "logout_hint": maxStateLen}
	for _, p := range Params {
		if len(form[p]) > 1 {
			return Request{}, bad("The parameter %s is included more than once.", p)
		}
		if v := form.Get(p); len(v) > limits[p] || !utf8.ValidString(v) {
			return Request{}, bad("The parameter %s is longer than %d bytes or not valid text.", p, limits[p])
		}
	}
	var req Request
	if raw := form.Get("id_token_hint"); raw != "" {
		h, err := s.CheckHint(raw)
		if err != nil {
			return Request{}, bad("The id_token_hint is not a valid ID token of this server.")
		}
		req.Hint = &h
	}
	req.ClientID = form.Get("client_id")
	switch {
	case req.ClientID != "" && req.Hint != nil && !slices.Contains(req.Hint.Audience, req.ClientID):
		return Request{}, bad("The client_id is not the audience of the id_token_hint.")
	case req.ClientID == "" && req.Hint != nil:
		req.ClientID = req.Hint.ClientID
	}
	if req.ClientID != "" {
		c, err := s.cfg.Store.GetClient(ctx, req.ClientID)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			if form.Get("client_id") != "" {
				return Request{}, bad("The client_id names no registered client.")
			}
			// The hint's client was deleted since: the person may still
			// log out, but is sent nowhere.
		case err != nil:
			return Request{}, fmt.Errorf("logout: %w", err)
		default:
			req.Client = &c
		}
	}
	if uri := form.Get("post_logout_redirect_uri"); uri != "" {
		if req.Client != nil && slices.Contains(req.Client.PostLogoutRedirectURIs, uri) {
			req.RedirectURI, req.State = uri, form.Get("state")
		} else {
			req.Unregistered = true
		}
	}
	return req, nil
}

// CheckHint verifies an id_token_hint: an ID token signed by one of the
// published keys, issued by this server. It may have expired (OpenID
// Connect RP-Initiated Logout 1.0 section 2 allows it).
func (s *Service) CheckHint(raw string) (Hint, error) {
	payload, _, _, err := s.cfg.Keys.Verify(raw, keys.TypeJWT)
	if err != nil {
		return Hint{}, err
	}
	var c struct {
		Issuer   string          `json:"iss"`
		Subject  string          `json:"sub"`
		Audience json.RawMessage `json:"aud"`
		AZP      string          `json:"azp"`
		SID      string          `json:"sid"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return Hint{}, err
	}
	if c.Issuer != s.cfg.Issuer || c.Subject == "" {
		return Hint{}, errors.New("logout: id_token_hint of another issuer, or without subject")
	}
	h := Hint{Subject: c.Subject, SID: c.SID, ClientID: c.AZP}
	var one string
	if json.Unmarshal(c.Audience, &one) == nil && one != "" {
		h.Audience = []string{one}
	} else if err := json.Unmarshal(c.Audience, &h.Audience); err != nil || len(h.Audience) == 0 {
		return Hint{}, errors.New("logout: id_token_hint without audience")
	}
	if h.ClientID == "" {
		if len(h.Audience) != 1 {
			return Hint{}, errors.New("logout: id_token_hint with several audiences and no azp")
		}
		h.ClientID = h.Audience[0]
	}
	return h, nil
}
