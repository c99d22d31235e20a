package admin

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/clientip"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/scopes"
	"github.com/idvauth/idvauth/storage"
)

// Demo client IDs and the demo person seeded by Seed.
const (
	DemoServiceID        = "demo-service"
	DemoResourceServerID = "demo-resource-server"
	DemoWebID            = "demo-web"
	DemoUsername         = "demo"
	// DemoCallbackPath is where the demo web client's browser lands: a page
	// that shows the code and how to redeem it.
	DemoCallbackPath = "/dev/callback"
)

// DemoAdmin registers clients and people, as the admin API does.
type DemoAdmin interface {
	CreateClient(ctx context.Context, in adminapi.ClientJSON) (adminapi.ClientJSON, error)
	RotateSecret(ctx context.Context, id string) (adminapi.ClientJSON, error)
	CreateUser(ctx context.Context, in adminapi.UserInput) (adminapi.UserJSON, error)
}

// DemoPeople finds and removes the demo person of an earlier start.
type DemoPeople interface {
	GetUserByUsername(ctx context.Context, username string) (storage.User, error)
	DeleteUser(ctx context.Context, id string) error
}

// Demo seeds the demo and serves its callback page. Build it with NewDemo; it
// is safe for concurrent use.
type Demo struct {
	admin   DemoAdmin
	people  DemoPeople
	issuer  string
	codeTTL time.Duration
	seeded  atomic.Pointer[DemoClients]
}

// NewDemo returns a demo for the server at issuer whose codes live codeTTL.
func NewDemo(admin DemoAdmin, people DemoPeople, issuer string, codeTTL time.Duration) *Demo {
	return &Demo{admin: admin, people: people, issuer: issuer, codeTTL: codeTTL}
}

// DemoClients are the seeded demo clients with their fresh secrets, and
// the demo person with their fresh password.
type DemoClients struct {
	Service        adminapi.ClientJSON
	ResourceServer adminapi.ClientJSON
	// Web is a web app for the authorization-code flow; its redirect URI
	// is the server's own DemoCallbackPath.
	Web adminapi.ClientJSON
	// User and Password are the demo person.
	User     adminapi.UserJSON
	Password string
	// AuthorizeURL starts a sign-in for Web with PKCE; Verifier is the
	// PKCE code verifier that redeems its code.
	AuthorizeURL string
	Verifier     string
}

// Seed registers the demo clients of `serve --dev`: a backend service
// that may get identity.verify and identity.read_status tokens, and a
// resource server that may introspect. DemoClients that exist already get new
// secrets, so the printed credentials always work.
func (dm *Demo) Seed(ctx context.Context) (DemoClients, error) {
	var d DemoClients
	var err error
	d.Service, err = dm.seed(ctx, adminapi.ClientJSON{
		ClientID:   DemoServiceID,
		ClientName: "Demo backend service",
		Scope:      scopes.Verify + " " + scopes.ReadStatus,
	})
	if err != nil {
		return d, err
	}
	d.ResourceServer, err = dm.seed(ctx, adminapi.ClientJSON{
		ClientID:             DemoResourceServerID,
		ClientName:           "Demo IDV resource server",
		GrantTypes:           []string{},
		IntrospectionAllowed: true,
	})
	if err != nil {
		return d, err
	}
	d.Web, err = dm.seed(ctx, adminapi.ClientJSON{
		ClientID:     DemoWebID,
		ClientName:   "Demo web app",
		GrantTypes:   []string{adminapi.GrantAuthorizationCode, adminapi.GrantRefreshToken},
		RedirectURIs: []string{dm.issuer + DemoCallbackPath},
		Scope:        strings.Join([]string{scopes.OpenID, scopes.Profile, scopes.Email, scopes.OfflineAccess, scopes.Verify, scopes.ReadStatus}, " "),
	})
	if err != nil {
		return d, err
	}
	// The demo person is made anew at every start, with a new password.
	if old, err := dm.people.GetUserByUsername(ctx, DemoUsername); err == nil {
		if err := dm.people.DeleteUser(ctx, old.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return d, err
		}
	} else if !errors.Is(err, storage.ErrNotFound) {
		return d, err
	}
	d.Password = web.RandomToken()[:20]
	if d.User, err = dm.admin.CreateUser(ctx, adminapi.UserInput{Username: DemoUsername, Password: d.Password, Name: "Demo Person", Email: "demo@example.com"}); err != nil {
		return d, fmt.Errorf("demo user: %w", err)
	}
	d.Verifier = web.RandomToken()
	sum := sha256.Sum256([]byte(d.Verifier))
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {DemoWebID},
		"redirect_uri":          {dm.issuer + DemoCallbackPath},
		"scope":                 {"openid profile email offline_access identity.verify"},
		"state":                 {web.RandomToken()[:16]},
		"nonce":                 {web.RandomToken()[:16]},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	d.AuthorizeURL = dm.issuer + "/oauth2/authorize?" + q.Encode()
	dm.seeded.Store(&d)
	return d, nil
}

// Callback serves DemoCallbackPath, where the demo web client lands: a
// plain-text page with the code and the curl line that redeems it. The
// demo client's secret and PKCE verifier are in that line only for a
// request from this machine (Local); anyone else who reaches the listener
// gets the page with placeholders and a note why.
func (dm *Demo) Callback(w http.ResponseWriter, r *http.Request) {
	d := dm.seeded.Load()
	if !web.AllowGet(w, r) {
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
	secret, verifier, note := d.Web.ClientSecret, d.Verifier, ""
	if !Local(r) {
		secret, verifier = "CLIENT_SECRET", "CODE_VERIFIER"
		note = `
This request did not come from this machine (loopback), so the demo web
app's client secret and PKCE code verifier are not shown here: take them
from the terminal that runs 'idvauth serve --dev'. --dev is meant to
listen on loopback only.
`
	}
	fmt.Fprintf(w, `The demo web app got an authorization code (single use, valid for %s):

  code   %s
  state  %s
  iss    %s
%s
Redeem it (paste into a shell):

  curl -s -u '%s:%s' -d grant_type=authorization_code -d code=%s \
    -d redirect_uri=%s -d code_verifier=%s %s/oauth2/token

The answer holds an access token, an ID token and a refresh token. With the
access token, ask who signed in:

  curl -s -H "Authorization: Bearer ACCESS_TOKEN" %s/userinfo
`, dm.codeTTL, q.Get("code"), q.Get("state"), q.Get("iss"), note,
		d.Web.ClientID, secret, url.QueryEscape(q.Get("code")),
		url.QueryEscape(dm.issuer+DemoCallbackPath), verifier, dm.issuer, dm.issuer)
}

// Local reports whether r came from this machine: its TCP peer is a
// loopback address and it names no other client in a forwarding header
// (a reverse proxy on this machine forwards requests from anywhere).
// X-Forwarded-For is never believed here, even from a trusted proxy.
func Local(r *http.Request) bool {
	if !clientip.Peer(r).IsLoopback() {
		return false
	}
	for _, k := range []string{"Forwarded", "X-Forwarded-For", "X-Real-Ip"} {
		if _, ok := r.Header[k]; ok {
			return false
		}
	}
	return true
}

// seed registers the client in, or gives it a new secret if it exists.
func (dm *Demo) seed(ctx context.Context, in adminapi.ClientJSON) (adminapi.ClientJSON, error) {
	out, err := dm.admin.CreateClient(ctx, in)
	if !errors.Is(err, storage.ErrAlreadyExists) {
		return out, err
	}
	return dm.admin.RotateSecret(ctx, in.ClientID)
}
