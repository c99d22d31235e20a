package authz_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz/adminapi"
)

// A browser for end-to-end tests: a cookie jar, no automatic redirects
// (each hop is looked at), and forms read from the real HTML pages.

type browser struct {
	t      testing.TB
	client *http.Client
}

func newBrowser(t testing.TB) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// page is one answer as the browser saw it.
type page struct {
	status int
	header http.Header
	body   string
	// forms are the page's forms: action and the values of their inputs
	// (hidden ones with their values, others empty).
	forms []form
}

type form struct {
	action string
	values url.Values
}

func (b *browser) get(u string) page {
	b.t.Helper()
	resp, err := b.client.Get(u)
	if err != nil {
		b.t.Fatal(err)
	}
	return readPage(b.t, resp)
}

// submit posts form f of p (relative to base) with the extra fields set.
func (b *browser) submit(base string, f form, extra url.Values) page {
	b.t.Helper()
	v := url.Values{}
	for k, vs := range f.values {
		v[k] = append([]string(nil), vs...)
	}
	for k, vs := range extra {
		v[k] = vs
	}
	return b.post(base+f.action, v)
}

func (b *browser) post(u string, v url.Values) page {
	b.t.Helper()
	resp, err := b.client.PostForm(u, v)
	if err != nil {
		b.t.Fatal(err)
	}
	return readPage(b.t, resp)
}

// follow goes through redirects that stay on base and returns the first
// answer that is not one, or a redirect elsewhere (to the client).
func (b *browser) follow(base string, p page) page {
	b.t.Helper()
	for i := 0; i < 10 && p.status >= 300 && p.status < 400; i++ {
		loc := p.header.Get("Location")
		if !strings.HasPrefix(loc, base) && !strings.HasPrefix(loc, "/") {
			return p
		}
		if strings.HasPrefix(loc, "/") {
			loc = base + loc
		}
		p = b.get(loc)
	}
	return p
}

func readPage(t testing.TB, resp *http.Response) page {
	t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	p := page{status: resp.StatusCode, header: resp.Header, body: string(body)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		p.forms = parseForms(t, body)
	}
	return p
}

func parseForms(t testing.TB, body []byte) []form {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("page is not HTML: %v", err)
	}
	var forms []form
	var walk func(n *html.Node, f *form)
	walk = func(n *html.Node, f *form) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "form":
				forms = append(forms, form{action: attr(n, "action"), values: url.Values{}})
				f = &forms[len(forms)-1]
			case "input":
				if f != nil && attr(n, "name") != "" {
					f.values.Set(attr(n, "name"), attr(n, "value"))
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, f)
		}
	}
	walk(doc, nil)
	return forms
}

func attr(n *html.Node, name string) string {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

// onlyForm returns the page's one form, failing otherwise.
func (p page) onlyForm(t testing.TB) form {
	t.Helper()
	if len(p.forms) != 1 {
		t.Fatalf("page (%d) has %d forms, want 1:\n%s", p.status, len(p.forms), p.body)
	}
	return p.forms[0]
}

// isLogin and isConsent tell the two pages apart by their forms.
func (p page) isLogin() bool {
	return len(p.forms) == 1 && p.forms[0].action == "/login" && p.forms[0].values.Has("username")
}

func (p page) isConsent() bool {
	return len(p.forms) == 1 && p.forms[0].action == "/consent"
}

// --- admin helpers for people and web clients ---

const testPassword = "correct horse battery staple"

// createUser registers a person with testPassword.
func (ts *testServer) createUser(t testing.TB, username string) adminapi.UserJSON {
	t.Helper()
	return adminCall[adminapi.UserJSON](t, ts, "POST", "/admin/users", adminapi.UserInput{
		Username: username, Password: testPassword, Name: "Ada " + username, Email: username + "@example.com",
	}, http.StatusCreated)
}

// webClient is a registered web app and its x/oauth2 configuration.
type webClient struct {
	adminapi.ClientJSON
	cfg *oauth2.Config
}

const redirectURI = "https://app.example/callback"

// createWebClient registers a client for the code flow with the given
// metadata overrides.
func (ts *testServer) createWebClient(t testing.TB, in adminapi.ClientJSON) webClient {
	t.Helper()
	if in.RedirectURIs == nil {
		in.RedirectURIs = []string{redirectURI}
	}
	if in.GrantTypes == nil {
		in.GrantTypes = []string{"authorization_code", "refresh_token"}
	}
	if in.Scope == "" {
		in.Scope = "openid profile email offline_access identity.verify"
	}
	if in.ClientName == "" {
		in.ClientName = "Acme Onboarding"
	}
	req := map[string]any{"client_name": in.ClientName, "grant_types": in.GrantTypes, "redirect_uris": in.RedirectURIs, "scope": in.Scope}
	if in.TokenEndpointAuthMethod != "" {
		req["token_endpoint_auth_method"] = in.TokenEndpointAuthMethod
	}
	if in.IDTokenSignedResponseAlg != "" {
		req["id_token_signed_response_alg"] = in.IDTokenSignedResponseAlg
	}
	if in.Audience != nil {
		req["audience"] = in.Audience
	}
	if in.RequirePKCE != nil {
		req["require_pkce"] = *in.RequirePKCE
	}
	if in.RequirePushedAuthorizationRequests {
		req["require_pushed_authorization_requests"] = true
	}
	if in.PostLogoutRedirectURIs != nil {
		req["post_logout_redirect_uris"] = in.PostLogoutRedirectURIs
	}
	if in.BackchannelLogoutURI != "" {
		req["backchannel_logout_uri"] = in.BackchannelLogoutURI
	}
	if in.DPoPBoundAccessTokens {
		req["dpop_bound_access_tokens"] = true
	}
	c := adminCall[adminapi.ClientJSON](t, ts, "POST", "/admin/clients", req, http.StatusCreated)
	style := oauth2.AuthStyleInHeader
	if c.TokenEndpointAuthMethod == "none" {
		style = oauth2.AuthStyleInParams
	}
	return webClient{ClientJSON: c, cfg: &oauth2.Config{
		ClientID: c.ClientID, ClientSecret: c.ClientSecret, RedirectURL: c.RedirectURIs[0],
		Endpoint: oauth2.Endpoint{AuthURL: ts.Public + "/oauth2/authorize", TokenURL: ts.Public + "/oauth2/token", AuthStyle: style},
		Scopes:   strings.Fields(c.Scope),
	}}
}

// randomString returns n random URL-safe characters.
func randomString(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// codeResult is where the flow ended: at the client's redirect URI.
type codeResult struct {
	query url.Values
	loc   *url.URL
}

// redirectedToClient checks that p is a redirect to the client's redirect
// URI and returns its parameters.
func redirectedToClient(t testing.TB, p page, redirect string) codeResult {
	t.Helper()
	if p.status != http.StatusSeeOther && p.status != http.StatusFound {
		t.Fatalf("status = %d, want a redirect to the client:\n%s", p.status, p.body)
	}
	loc, err := url.Parse(p.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirect {
		t.Fatalf("redirect to %s, want %s", got, redirect)
	}
	return codeResult{query: loc.Query(), loc: loc}
}

// signIn drives the login page (and the consent page when shown, with
// decision) from an authorize URL and returns the final redirect.
func (b *browser) signIn(ts *testServer, authURL, username, decision string) page {
	b.t.Helper()
	p := b.follow(ts.Public, b.get(authURL))
	if p.isLogin() {
		p = b.submit(ts.Public, p.onlyForm(b.t), url.Values{"username": {username}, "password": {testPassword}})
	}
	if p.isConsent() {
		p = b.submit(ts.Public, p.onlyForm(b.t), url.Values{"decision": {decision}})
	}
	return p
}

func ctxb() context.Context { return context.Background() }
