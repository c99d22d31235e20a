package login

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/ory/fosite"

	"github.com/idvauth/idvauth/authz/clientauth"
	"github.com/idvauth/idvauth/scopes"
	"github.com/idvauth/idvauth/storage"
)

// stubProvider builds authorization requests from the query as fosite
// would for valid ones, without fosite's own checks, so that tests see
// parseAuthorize's.
type stubProvider struct {
	Provider
	clients map[string]*clientauth.Client
}

func (p stubProvider) NewAuthorizeRequest(_ context.Context, r *http.Request) (fosite.AuthorizeRequester, error) {
	ar := fosite.NewAuthorizeRequest()
	q := r.URL.Query()
	ar.Form = q
	c, ok := p.clients[q.Get("client_id")]
	if !ok {
		return ar, fosite.ErrInvalidClient
	}
	ar.Client = c
	ru := q.Get("redirect_uri")
	if ru == "" {
		ru = c.Rec.RedirectURIs[0]
	}
	ar.RedirectURI, _ = url.Parse(ru)
	ar.ResponseTypes = fosite.RemoveEmpty(strings.Split(q.Get("response_type"), " "))
	ar.RequestedScope = fosite.RemoveEmpty(strings.Split(q.Get("scope"), " "))
	ar.RequestedAudience = fosite.RemoveEmpty(strings.Split(q.Get("audience"), " "))
	ar.State = q.Get("state")
	return ar, nil
}

var errAudience = &fosite.RFC6749Error{ErrorField: "invalid_target", DescriptionField: "audience", CodeField: http.StatusBadRequest}

func stubHandler(t testing.TB) *Handler {
	t.Helper()
	reg, err := scopes.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	client := func(id, method string, grants []string, uris ...string) *clientauth.Client {
		return &clientauth.Client{
			Rec: storage.Client{ID: id, TokenEndpointAuthMethod: method, GrantTypes: grants, ResponseTypes: []string{"code"},
				RedirectURIs: uris, Scopes: []string{scopes.OpenID, scopes.Profile}},
			Audience: []string{"api"},
		}
	}
	code := []string{"authorization_code"}
	return &Handler{cfg: Config{
		Provider: stubProvider{clients: map[string]*clientauth.Client{
			"web":    client("web", clientauth.MethodBasic, code, "https://app.example/cb", "http://127.0.0.1/cb"),
			"native": client("native", clientauth.MethodNone, code, "http://127.0.0.1/cb"),
			"web-nopkce": func() *clientauth.Client {
				c := client("web-nopkce", clientauth.MethodBasic, code, "https://app.example/cb")
				c.Rec.PKCEOptional = true
				return c
			}(),
			"service": client("service", clientauth.MethodBasic, []string{"client_credentials"}, "https://svc.example/cb"),
		}},
		Scopes: reg,
		AudienceAllowed: func(allowed, requested []string) error {
			for _, a := range requested {
				if !slices.Contains(allowed, a) {
					return errAudience
				}
			}
			return nil
		},
	}}
}

// TestParseAuthorize pins parseAuthorize's refusals: error, hint, and
// whether the error may go to the redirect URI; and, with two faults,
// which is named.
func TestParseAuthorize(t *testing.T) {
	h := stubHandler(t)
	const bare = "client_id=web&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&response_type=code"
	const public = "client_id=native&redirect_uri=http%3A%2F%2F127.0.0.1%3A4711%2Fcb&response_type=code"
	const challenge = "code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	const conf = bare + "&" + challenge + "&code_challenge_method=S256"
	const optional = "client_id=web-nopkce&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&response_type=code"
	for _, tc := range []struct {
		name     string
		raw      string
		err      string
		hint     string
		redirect bool
	}{
		{name: "ok", raw: conf + "&scope=openid+profile&audience=api&prompt=login+consent&max_age=0&nonce=n&state=s", redirect: true},
		{name: "ok without redirect_uri", raw: "client_id=native&response_type=code&" + challenge + "&code_challenge_method=S256", redirect: true},
		{name: "no redirect_uri of two", raw: "client_id=web&response_type=code", err: "invalid_request",
			hint: "The 'redirect_uri' parameter does not match any of the client's registered redirect URIs."},
		{name: "ok native on another port", raw: public + "&" + challenge + "&code_challenge_method=S256", redirect: true},
		{name: "too long", raw: conf + "&state=" + strings.Repeat("s", maxReturnLen), err: "invalid_request", hint: "The authorization request is longer than 8 KiB."},
		{name: "not a query", raw: conf + "&state=%zz", err: "invalid_request", hint: "The authorization request is not a valid query string."},
		{name: "repeated", raw: conf + "&state=a&state=b", err: "invalid_request", hint: "The parameter 'state' is included more than once."},
		{name: "unknown client", raw: "client_id=nobody&response_type=code", err: "invalid_client"},
		{name: "unregistered redirect", raw: "client_id=web&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&response_type=token", err: "invalid_request",
			hint: "The 'redirect_uri' parameter does not match any of the client's registered redirect URIs."},
		{name: "loopback port of confidential client", raw: "client_id=web&redirect_uri=http%3A%2F%2F127.0.0.1%3A4711%2Fcb&response_type=code", err: "invalid_request",
			hint: "The 'redirect_uri' parameter does not match any of the client's registered redirect URIs."},
		{name: "loopback of public client by name", raw: "client_id=native&redirect_uri=http%3A%2F%2Flocalhost%3A4711%2Fcb&response_type=code", err: "invalid_request",
			hint: "The 'redirect_uri' parameter does not match any of the client's registered redirect URIs."},
		{name: "loopback of public client on another path", raw: "client_id=native&redirect_uri=http%3A%2F%2F127.0.0.1%3A4711%2Fother&response_type=code",
			err: "invalid_request", hint: "The 'redirect_uri' parameter does not match any of the client's registered redirect URIs."},
		{name: "loopback of public client with user", raw: "client_id=native&redirect_uri=http%3A%2F%2Fu%40127.0.0.1%3A4711%2Fcb&response_type=code",
			err: "invalid_request", hint: "The 'redirect_uri' parameter does not match any of the client's registered redirect URIs."},
		{name: "loopback of public client with query", raw: "client_id=native&redirect_uri=http%3A%2F%2F127.0.0.1%3A4711%2Fcb%3Fx%3D1&response_type=code",
			err: "invalid_request", hint: "The 'redirect_uri' parameter does not match any of the client's registered redirect URIs."},
		{name: "no code grant", raw: "client_id=service&response_type=token", err: "unauthorized_client",
			hint: "The client is not registered for the authorization_code grant.", redirect: true},
		{name: "response type", raw: "client_id=web&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&response_type=code+id_token&request=x", err: "unsupported_response_type",
			hint: "Only response_type=code is supported.", redirect: true},
		{name: "response mode", raw: conf + "&response_mode=fragment&request=x", err: "invalid_request", hint: "Only response_mode=query is supported.", redirect: true},
		{name: "response mode query", raw: conf + "&response_mode=query&request=x", err: "request_not_supported", hint: "Request objects are not supported.", redirect: true},
		{name: "request uri", raw: bare + "&request_uri=x&code_challenge_method=plain", err: "request_uri_not_supported", hint: "request_uri is supported only for pushed authorization requests (RFC 9126).", redirect: true},
		{name: "pkce plain", raw: bare + "&code_challenge_method=plain&prompt=bogus", err: "invalid_request", hint: "The PKCE code_challenge_method must be S256.", redirect: true},
		{name: "pkce no method", raw: bare + "&" + challenge, err: "invalid_request", hint: "The PKCE code_challenge_method must be given, and S256.", redirect: true},
		{name: "pkce no challenge", raw: bare + "&code_challenge_method=S256", err: "invalid_request", hint: "The PKCE code_challenge is missing.", redirect: true},
		{name: "pkce confidential", raw: bare, err: "invalid_request", hint: "This client must use PKCE (code_challenge with code_challenge_method=S256).", redirect: true},
		{name: "pkce optional", raw: optional, redirect: true},
		{name: "pkce optional still S256", raw: optional + "&" + challenge + "&code_challenge_method=plain", err: "invalid_request",
			hint: "The PKCE code_challenge_method must be S256.", redirect: true},
		{name: "pkce public", raw: public, err: "invalid_request", hint: "Public clients must use PKCE (code_challenge with code_challenge_method=S256).", redirect: true},
		{name: "pkce short", raw: bare + "&code_challenge=abc&code_challenge_method=S256", err: "invalid_request",
			hint: "The PKCE code_challenge must be 43 base64url characters (the SHA-256 of the verifier).", redirect: true},
		{name: "prompt unknown", raw: conf + "&prompt=select_account&max_age=x", err: "invalid_request", hint: "prompt may hold none, login and consent only.", redirect: true},
		{name: "prompt none and more", raw: conf + "&prompt=none+login&max_age=x", err: "invalid_request", hint: "prompt=none cannot be combined with other values.", redirect: true},
		{name: "max_age negative", raw: conf + "&max_age=-1&nonce=" + strings.Repeat("n", 513), err: "invalid_request",
			hint: "max_age must be a non-negative number of seconds.", redirect: true},
		{name: "nonce long", raw: conf + "&nonce=" + strings.Repeat("n", 513) + "&scope=email", err: "invalid_request",
			hint: "nonce and state are limited to 512 and 1024 characters.", redirect: true},
		{name: "state long", raw: conf + "&state=" + strings.Repeat("s", 1025), err: "invalid_request",
			hint: "nonce and state are limited to 512 and 1024 characters.", redirect: true},
		{name: "scope", raw: conf + "&scope=openid+email&audience=other", err: "invalid_scope", hint: "The client may not request scope 'email'.", redirect: true},
		{name: "audience", raw: conf + "&audience=other", err: "invalid_target", redirect: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/oauth2/authorize?"+tc.raw, nil)
			ar, err := h.parseAuthorize(context.Background(), r, tc.raw)
			redirect := ar != nil && ar.IsRedirectURIValid() && ar.GetRedirectURI() != nil
			if tc.err == "" {
				if err != nil || !redirect {
					t.Fatalf("parseAuthorize(%s) = %v, redirect %t, want nil, redirect true", tc.raw, err, redirect)
				}
				return
			}
			rfc := fosite.ErrorToRFC6749Error(err)
			if err == nil || rfc.ErrorField != tc.err || rfc.HintField != tc.hint || redirect != tc.redirect {
				t.Errorf("parseAuthorize(%s) = %v (hint %q), redirect %t, want %s (hint %q), redirect %t",
					tc.raw, err, rfc.HintField, redirect, tc.err, tc.hint, tc.redirect)
			}
		})
	}
}
