package authz_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/testutil"
)

// relyingParty is a test relying party's back-channel logout endpoint:
// it hands each logout token to the test and answers the statuses given,
// in order, then 200. If hold is set, each request waits until it is
// closed.
type relyingParty struct {
	srv    *httptest.Server
	tokens chan string
	hold   chan struct{}

	mu       sync.Mutex
	statuses []int
}

func newRelyingParty(t testing.TB, hold bool, statuses ...int) *relyingParty {
	t.Helper()
	rp := &relyingParty{tokens: make(chan string, 16), statuses: statuses}
	if hold {
		rp.hold = make(chan struct{})
	}
	rp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || r.ParseForm() != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		rp.tokens <- r.PostForm.Get("logout_token")
		if rp.hold != nil {
			select {
			case <-rp.hold:
			case <-r.Context().Done():
			}
		}
		rp.mu.Lock()
		status := http.StatusOK
		if len(rp.statuses) > 0 {
			status, rp.statuses = rp.statuses[0], rp.statuses[1:]
		}
		rp.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(rp.srv.Close)
	if hold {
		t.Cleanup(rp.release) // runs first: Close waits for held requests
	}
	return rp
}

func (rp *relyingParty) release() {
	select {
	case <-rp.hold:
	default:
		close(rp.hold)
	}
}

// next returns the next logout token the relying party received.
func (rp *relyingParty) next(t testing.TB) string {
	t.Helper()
	select {
	case tok := <-rp.tokens:
		return tok
	case <-time.After(30 * time.Second):
		t.Fatal("the relying party received no logout token")
		return ""
	}
}

// none checks that the relying party received nothing (yet).
func (rp *relyingParty) none(t testing.TB, when string) {
	t.Helper()
	select {
	case <-rp.tokens:
		t.Errorf("%s: the relying party received a logout token", when)
	default:
	}
}

// logoutClaims are the claims of a logout token the tests check.
type logoutClaims struct {
	jwt.Claims
	SID    string                     `json:"sid"`
	Events map[string]json.RawMessage `json:"events"`
	Nonce  *string                    `json:"nonce"`
}

// verifyLogoutToken checks a logout token with go-jose against the
// published JWKS (OpenID Connect Back-Channel Logout 1.0 section 2.4).
func (ts *testServer) verifyLogoutToken(t testing.TB, raw, clientID, sub, sid string) logoutClaims {
	t.Helper()
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("logout token does not parse as RS256: %v", err)
	}
	if typ, _ := tok.Headers[0].ExtraHeaders["typ"].(string); typ != "logout+jwt" {
		t.Errorf("logout token typ = %q, want logout+jwt", typ)
	}
	set := ts.jwks(t)
	keys := set.Key(tok.Headers[0].KeyID)
	if len(keys) != 1 {
		t.Fatalf("logout token kid %q is not published once in the JWKS", tok.Headers[0].KeyID)
	}
	var c logoutClaims
	if err := tok.Claims(keys[0].Key, &c); err != nil {
		t.Fatalf("logout token signature: %v", err)
	}
	if c.Issuer != ts.Public || len(c.Audience) != 1 || c.Audience[0] != clientID || c.Subject != sub || c.SID != sid {
		t.Errorf("logout token iss, aud, sub, sid = %s %v %s %s; want %s [%s] %s %s", c.Issuer, c.Audience, c.Subject, c.SID, ts.Public, clientID, sub, sid)
	}
	if c.ID == "" || c.IssuedAt == nil || c.Expiry == nil || !c.Expiry.Time().After(c.IssuedAt.Time()) || c.Expiry.Time().Sub(c.IssuedAt.Time()) > 5*time.Minute {
		t.Errorf("logout token jti, iat, exp = %q %v %v; want a jti and a short life", c.ID, c.IssuedAt, c.Expiry)
	}
	if ev, ok := c.Events["http://schemas.openid.net/event/backchannel-logout"]; len(c.Events) != 1 || !ok || string(ev) != "{}" {
		t.Errorf("logout token events = %v, want only the back-channel logout event with {}", c.Events)
	}
	if c.Nonce != nil {
		t.Errorf("logout token has a nonce: it must not")
	}
	return c
}

// idTokenSID verifies an ID token and returns its sid.
// at is when it is valid.
func (ts *testServer) idTokenSID(t testing.TB, raw, clientID string, at time.Time) string {
	t.Helper()
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	set := ts.jwks(t)
	keys := set.Key(tok.Headers[0].KeyID)
	var c struct {
		jwt.Claims
		SID string `json:"sid"`
	}
	if len(keys) != 1 || tok.Claims(keys[0].Key, &c) != nil {
		t.Fatal("ID token does not verify with the JWKS")
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: ts.Public, AnyAudience: jwt.Audience{clientID}, Time: at}, 0); err != nil || c.SID == "" {
		t.Fatalf("ID token sid = %q, %v; want one", c.SID, err)
	}
	return c.SID
}

// signInTokens signs the browser in (if it is not) for c and redeems a
// code.
func signInTokens(t testing.TB, ts *testServer, b *browser, c webClient) tokenAnswer {
	t.Helper()
	v := oauth2.GenerateVerifier()
	return ts.redeemOK(t, c, newCode(t, ts, b, c, v), v)
}

// signedIn reports whether the browser is signed in: an authorization
// request goes straight back to the client.
func signedIn(t testing.TB, b *browser, c webClient) bool {
	t.Helper()
	p := b.get(authURL(c, randomString(16), oauth2.GenerateVerifier(), randomString(16)))
	return p.status == http.StatusSeeOther
}

func endSession(ts *testServer, q url.Values) string {
	return ts.Public + "/oauth2/logout?" + q.Encode()
}

// logoutConfig is a code-flow server under --dev (http back-channel URIs
// on loopback) with the clock cfg.Now reads skew from.
func logoutConfig(cfg authz.Config, skew *atomic.Int64) authz.Config {
	cfg.Dev = true
	cfg.IDTokenTTL = time.Minute
	cfg.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	return codeFlowConfig(cfg)
}

const signedOutURI = "https://app.example/signed-out"

// TestRPInitiatedLogout: the end-session endpoint with a hint of this
// session (expired too) logs out at once and goes back to a registered
// URI with state; without a hint, or with a stale one, it asks first;
// an unregistered URI is never redirected to; bad requests change
// nothing. Logging out revokes the session's tokens and tells the client.
func TestRPInitiatedLogout(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		var skew atomic.Int64
		rp := newRelyingParty(t, false)
		ts, user, _, b := startCodeFlow(t, logoutConfig(cfg, &skew))
		c := ts.createWebClient(t, adminapi.ClientJSON{ClientName: "Logout RP", PostLogoutRedirectURIs: []string{signedOutURI},
			BackchannelLogoutURI: rp.srv.URL + "/backchannel"})
		other := ts.createWebClient(t, adminapi.ClientJSON{ClientName: "Other RP"})
		// Signed in two minutes ago: the ID token (one minute) has
		// expired since.
		skew.Store(int64(-2 * time.Minute))
		md := ts.discovery(t)
		if md["end_session_endpoint"] != ts.Public+"/oauth2/logout" || md["backchannel_logout_supported"] != true || md["backchannel_logout_session_supported"] != true {
			t.Errorf("discovery: end_session_endpoint %v, backchannel_logout_supported %v, backchannel_logout_session_supported %v",
				md["end_session_endpoint"], md["backchannel_logout_supported"], md["backchannel_logout_session_supported"])
		}
		tok := signInTokens(t, ts, b, c)
		sid := ts.idTokenSID(t, tok.IDToken, c.ClientID, time.Now().Add(-2*time.Minute))
		for _, ck := range b.client.Jar.Cookies(mustURL(t, ts.Public)) {
			if ck.Value == sid {
				t.Fatalf("sid is the value of cookie %s", ck.Name)
			}
		}
		otherTok := signInTokens(t, ts, b, other)
		skew.Store(0)
		var exp jwt.Claims
		if parsed, err := jwt.ParseSigned(tok.IDToken, []jose.SignatureAlgorithm{jose.RS256}); err != nil || parsed.UnsafeClaimsWithoutVerification(&exp) != nil ||
			exp.Expiry == nil || !exp.Expiry.Time().Before(time.Now()) {
			t.Fatalf("the ID token (exp %v) has not expired: the test would not show that an expired hint is accepted", exp.Expiry)
		}
		if got := ts.idTokenSID(t, otherTok.IDToken, other.ClientID, time.Now().Add(-2*time.Minute)); got != sid {
			t.Errorf("sid of a second client in the same session = %q, want %q", got, sid)
		}

		// Bad requests: 4xx, and nothing changes.
		tampered := tok.IDToken[:len(tok.IDToken)-2] + map[bool]string{true: "AA", false: "BB"}[strings.HasSuffix(tok.IDToken, "BB")]
		req, _ := http.NewRequest(http.MethodPost, ts.Public+"/oauth2/logout", strings.NewReader("id_token_hint="+tok.IDToken))
		req.Header.Set("Content-Type", "text/plain")
		resp, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		wrongType := readPage(t, resp)
		req, _ = http.NewRequest(http.MethodPut, ts.Public+"/oauth2/logout", nil)
		if resp, err = b.client.Do(req); err != nil {
			t.Fatal(err)
		}
		put := readPage(t, resp)
		for _, tc := range []struct {
			name string
			p    page
			want int
		}{
			{"tampered hint", b.get(endSession(ts, url.Values{"id_token_hint": {tampered}, "post_logout_redirect_uri": {signedOutURI}})), 400},
			{"hint of another client", b.get(endSession(ts, url.Values{"id_token_hint": {otherTok.IDToken}, "client_id": {c.ClientID}})), 400},
			{"unknown client", b.get(endSession(ts, url.Values{"client_id": {"nobody"}, "post_logout_redirect_uri": {signedOutURI}})), 400},
			{"state twice", b.get(endSession(ts, url.Values{"id_token_hint": {tok.IDToken}, "state": {"a", "b"}})), 400},
			{"hint too long", b.get(endSession(ts, url.Values{"id_token_hint": {strings.Repeat("a", 9000)}})), 400},
			{"hint in the URL of a post", b.post(endSession(ts, url.Values{"id_token_hint": {tok.IDToken}}), url.Values{}), 400},
			{"forged confirmation", b.post(ts.Public+"/oauth2/logout", url.Values{"confirm": {"yes"}, "csrf": {"forged"}}), 403},
			{"wrong content type", wrongType, 415},
			{"PUT", put, 405},
		} {
			if tc.p.status != tc.want || tc.p.header.Get("Location") != "" {
				t.Errorf("%s: = %d (Location %q), want %d", tc.name, tc.p.status, tc.p.header.Get("Location"), tc.want)
			}
		}
		if !signedIn(t, b, c) {
			t.Fatal("a refused logout request signed the browser out")
		}
		st, body := ts.refresh(t, c, tok.RefreshToken)
		tok.RefreshToken = decodeTokens(t, st, body).RefreshToken
		rp.none(t, "after refused logout requests")

		// The hint of this session, expired by now: logged out at once,
		// back to the registered URI with state; ui_locales is ignored.
		p := b.get(endSession(ts, url.Values{"id_token_hint": {tok.IDToken}, "post_logout_redirect_uri": {signedOutURI},
			"state": {"st-1"}, "ui_locales": {"de fr"}}))
		if got := redirectedToClient(t, p, signedOutURI).query.Get("state"); got != "st-1" {
			t.Errorf("state on the redirect = %q, want st-1", got)
		}
		if signedIn(t, b, c) {
			t.Error("still signed in after logout")
		}
		if st, body := ts.refresh(t, c, tok.RefreshToken); st != http.StatusBadRequest {
			t.Errorf("refresh after logout = %d %s, want 400", st, body)
		}
		ts.requireInactive(t, tok.AccessToken)
		ts.requireInactive(t, otherTok.AccessToken) // every grant of the session
		ts.verifyLogoutToken(t, rp.next(t), c.ClientID, user.ID, sid)

		// No hint: a confirmation page, whose form carries the registered
		// URI and state; the session lives until it is confirmed.
		tok2 := signInTokens(t, ts, b, c)
		sid2 := ts.idTokenSID(t, tok2.IDToken, c.ClientID, time.Now())
		if sid2 == sid {
			t.Error("a new browser session has the sid of the last one")
		}
		p = b.get(endSession(ts, url.Values{"client_id": {c.ClientID}, "post_logout_redirect_uri": {signedOutURI}, "state": {"st-2"}}))
		f := p.onlyForm(t)
		if p.status != 200 || f.values.Get("post_logout_redirect_uri") != signedOutURI || f.values.Get("state") != "st-2" || !strings.Contains(p.body, "Logout RP") {
			t.Fatalf("confirmation page = %d %v", p.status, f.values)
		}
		if !signedIn(t, b, c) {
			t.Fatal("the confirmation page signed the browser out")
		}
		if got := redirectedToClient(t, b.submit(ts.Public, f, nil), signedOutURI).query.Get("state"); got != "st-2" {
			t.Errorf("state after confirmation = %q, want st-2", got)
		}
		if signedIn(t, b, c) {
			t.Error("still signed in after the confirmed logout")
		}
		ts.verifyLogoutToken(t, rp.next(t), c.ClientID, user.ID, sid2)

		// A stale hint (of the last session) asks first.
		tok3 := signInTokens(t, ts, b, c)
		if p := b.get(endSession(ts, url.Values{"id_token_hint": {tok2.IDToken}})); p.status != 200 || len(p.forms) != 1 || !signedIn(t, b, c) {
			t.Fatalf("stale hint = %d, want the confirmation page and the session kept", p.status)
		}
		rp.none(t, "after a stale hint")

		// An unregistered URI: logged out, but sent nowhere.
		p = b.get(endSession(ts, url.Values{"id_token_hint": {tok3.IDToken}, "post_logout_redirect_uri": {"https://evil.example/"}, "state": {"x"}}))
		if p.status != 200 || p.header.Get("Location") != "" || !strings.Contains(p.body, "signed out") {
			t.Errorf("unregistered post_logout_redirect_uri = %d Location %q, want the signed-out page", p.status, p.header.Get("Location"))
		}
		if signedIn(t, b, c) {
			t.Error("still signed in after logout with an unregistered URI")
		}
		rp.next(t)
	})
}

// TestBackchannelLogoutDelivery: a relying party that hangs does not hold
// up the logout page, one that fails at first gets the token on a retry,
// and every outcome is audited.
func TestBackchannelLogoutDelivery(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		var skew atomic.Int64
		cfg.BackchannelLogoutRetry = time.Millisecond
		cfg.BackchannelLogoutTimeout = time.Minute // the hanging party must not time out first
		hanging := newRelyingParty(t, true)
		flaky := newRelyingParty(t, false, http.StatusInternalServerError, http.StatusServiceUnavailable)
		ts, user, _, b := startCodeFlow(t, logoutConfig(cfg, &skew))
		ch := ts.createWebClient(t, adminapi.ClientJSON{ClientName: "Hanging RP", BackchannelLogoutURI: hanging.srv.URL})
		cf := ts.createWebClient(t, adminapi.ClientJSON{ClientName: "Flaky RP", BackchannelLogoutURI: flaky.srv.URL})
		sid := ts.idTokenSID(t, signInTokens(t, ts, b, ch).IDToken, ch.ClientID, time.Now())
		signInTokens(t, ts, b, cf)

		lp := b.get(ts.Public + "/logout")
		if p := b.submit(ts.Public, lp.onlyForm(t), nil); p.status != 200 || !strings.Contains(p.body, "signed out") {
			t.Fatalf("logout = %d", p.status)
		}
		// The page has answered while the hanging party still holds its
		// delivery (hold is closed only now).
		ts.verifyLogoutToken(t, hanging.next(t), ch.ClientID, user.ID, sid)
		hanging.release()

		jtis := map[string]bool{}
		for range 3 { // two failures, then delivered
			jtis[ts.verifyLogoutToken(t, flaky.next(t), cf.ClientID, user.ID, sid).ID] = true
		}
		if len(jtis) != 3 {
			t.Errorf("retries reused a jti: %d distinct of 3", len(jtis))
		}
		outcomes := func(clientID string) []string {
			var out []string
			for _, e := range ts.auditAll(t, url.Values{"type": {adminapi.EventBackchannelLogout}, "client_id": {clientID}, "limit": {"100"}}) {
				out = append(out, e.Outcome)
			}
			return out
		}
		testutil.Eventually(t, 30*time.Second, "both deliveries audited as delivered", func() bool {
			return strings.Join(outcomes(cf.ClientID), " ") == "retry retry delivered" && strings.Join(outcomes(ch.ClientID), " ") == "delivered"
		})
		if got := ts.auditAll(t, url.Values{"type": {adminapi.EventLogout}, "subject": {user.ID}}); len(got) != 1 {
			t.Errorf("logout audit entries = %d, want 1", len(got))
		}
		flaky.none(t, "after the delivery")
	})
}
