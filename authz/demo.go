package authz

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/scopes"
	"github.com/idvauth/idvauth/storage"
)

// Demo client IDs and the demo person seeded by SeedDemo.
const (
	DemoServiceID        = "demo-service"
	DemoResourceServerID = "demo-resource-server"
	DemoWebID            = "demo-web"
	DemoUsername         = "demo"
	// DevCallbackPath is where the demo web client's browser lands: a
	// page that shows the code and how to redeem it (Config.Dev only).
	DevCallbackPath = "/dev/callback"
)

// DemoClients are the seeded demo clients with their fresh secrets, and
// the demo person with their fresh password.
type DemoClients struct {
	Service        ClientJSON
	ResourceServer ClientJSON
	// Web is a web app for the authorization-code flow; its redirect URI
	// is the server's own DevCallbackPath.
	Web ClientJSON
	// User and Password are the demo person.
	User     UserJSON
	Password string
	// AuthorizeURL starts a sign-in for Web with PKCE; Verifier is the
	// PKCE code verifier that redeems its code.
	AuthorizeURL string
	Verifier     string
}

// SeedDemo registers the demo clients of `serve --dev`: a backend service
// that may get identity.verify and identity.read_status tokens, and a
// resource server that may introspect. Clients that exist already get new
// secrets, so the printed credentials always work.
func (s *Server) SeedDemo(ctx context.Context) (DemoClients, error) {
	var d DemoClients
	var err error
	d.Service, err = s.seed(ctx, ClientJSON{
		ClientID:   DemoServiceID,
		ClientName: "Demo backend service",
		Scope:      scopes.Verify + " " + scopes.ReadStatus,
	})
	if err != nil {
		return d, err
	}
	d.ResourceServer, err = s.seed(ctx, ClientJSON{
		ClientID:             DemoResourceServerID,
		ClientName:           "Demo IDV resource server",
		GrantTypes:           []string{},
		IntrospectionAllowed: true,
	})
	if err != nil {
		return d, err
	}
	d.Web, err = s.seed(ctx, ClientJSON{
		ClientID:     DemoWebID,
		ClientName:   "Demo web app",
		GrantTypes:   []string{grantAuthorizationCode, grantRefreshToken},
		RedirectURIs: []string{s.cfg.Issuer + DevCallbackPath},
		Scope:        strings.Join([]string{scopes.OpenID, scopes.Profile, scopes.Email, scopes.OfflineAccess, scopes.Verify, scopes.ReadStatus}, " "),
	})
	if err != nil {
		return d, err
	}
	// The demo person is made anew at every start, with a new password.
	if old, err := s.store.GetUserByUsername(ctx, DemoUsername); err == nil {
		if err := s.store.DeleteUser(ctx, old.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return d, err
		}
	} else if !errors.Is(err, storage.ErrNotFound) {
		return d, err
	}
	d.Password = web.RandomToken()[:20]
	if d.User, err = s.admin.CreateUser(ctx, UserInput{Username: DemoUsername, Password: d.Password, Name: "Demo Person", Email: "demo@example.com"}); err != nil {
		return d, fmt.Errorf("demo user: %w", err)
	}
	d.Verifier = web.RandomToken()
	sum := sha256.Sum256([]byte(d.Verifier))
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {DemoWebID},
		"redirect_uri":          {s.cfg.Issuer + DevCallbackPath},
		"scope":                 {"openid profile email offline_access identity.verify"},
		"state":                 {web.RandomToken()[:16]},
		"nonce":                 {web.RandomToken()[:16]},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	d.AuthorizeURL = s.cfg.Issuer + "/oauth2/authorize?" + q.Encode()
	s.demo.Store(&d)
	return d, nil
}

// handleDevCallback is where the demo web client lands (Config.Dev only):
// a plain-text page with the code and the curl line that redeems it.
func (s *Server) handleDevCallback(w http.ResponseWriter, r *http.Request) {
	d := s.demo.Load()
	if !allowGet(w, r) {
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	if d == nil {
		http.Error(w, "The demo is not seeded.", http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		w.WriteHeader(http.StatusOK)
		fmt.Fprintf(w, "The demo web app got an error back:\n\n  error              %s\n  error_description  %s\n  iss                %s\n",
			q.Get("error"), q.Get("error_description"), q.Get("iss"))
		return
	}
	fmt.Fprintf(w, `The demo web app got an authorization code (single use, valid for %s):

  code   %s
  state  %s
  iss    %s

Redeem it (paste into a shell):

  curl -s -u '%s:%s' -d grant_type=authorization_code -d code=%s \
    -d redirect_uri=%s -d code_verifier=%s %s/oauth2/token

The answer holds an access token, an ID token and a refresh token. With the
access token, ask who signed in:

  curl -s -H "Authorization: Bearer ACCESS_TOKEN" %s/userinfo
`, s.cfg.CodeTTL, q.Get("code"), q.Get("state"), q.Get("iss"),
		d.Web.ClientID, d.Web.ClientSecret, url.QueryEscape(q.Get("code")),
		url.QueryEscape(s.cfg.Issuer+DevCallbackPath), d.Verifier, s.cfg.Issuer, s.cfg.Issuer)
}

// seed registers the client in, or gives it a new secret if it exists.
func (s *Server) seed(ctx context.Context, in ClientJSON) (ClientJSON, error) {
	out, err := s.admin.CreateClient(ctx, in)
	if !errors.Is(err, storage.ErrAlreadyExists) {
		return out, err
	}
	return s.admin.RotateSecret(ctx, in.ClientID)
}
