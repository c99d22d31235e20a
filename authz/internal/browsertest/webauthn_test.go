package browsertest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/idvauth/idvauth/templates"
)

// TestWebAuthn runs the WebAuthn cases in one browser: starting one costs
// more than the cases.
func TestWebAuthn(t *testing.T) {
	b := Start(t)
	t.Run("virtual authenticator", func(t *testing.T) { testAuthenticator(t, b) })
	t.Run("webauthn.js", func(t *testing.T) { testWebAuthnScript(t, b) })
}

// testAuthenticator: with the virtual authenticator attached, a page at
// http://localhost creates a discoverable credential and signs in with it
// (no allowCredentials); the authenticator then holds it.
func testAuthenticator(t *testing.T, b *Browser) {
	base := serve(t, pages(map[string][2]string{"/": {strict, `<!doctype html><title>rp</title><p>relying party`}}))
	tab := b.NewTab(t)
	auth := tab.AddAuthenticator(t)
	tab.Run(t, chromedp.Navigate(base+"/"))

	type result struct {
		Created, Asserted, Attachment string
		UserHandle                    []int
	}
	got := Get(t, tab, chromedp.Evaluate[result](`(async () => {
  const cred = await navigator.credentials.create({publicKey: {
    rp: {id: "localhost", name: "Test"},
    user: {id: new Uint8Array([1, 2, 3, 4]), name: "ada", displayName: "Ada"},
    challenge: crypto.getRandomValues(new Uint8Array(32)),
    pubKeyCredParams: [{type: "public-key", alg: -7}],
    authenticatorSelection: {residentKey: "required", userVerification: "required"},
  }});
  const got = await navigator.credentials.get({publicKey: {
    challenge: crypto.getRandomValues(new Uint8Array(32)), rpId: "localhost", userVerification: "required",
  }});
  return {Created: cred.id, Asserted: got.id, Attachment: cred.authenticatorAttachment,
    UserHandle: Array.from(new Uint8Array(got.response.userHandle))};
})()`, chromedp.EvalAwaitPromise))
	if got.Created == "" || got.Asserted != got.Created || got.Attachment != "platform" {
		t.Errorf("created %q (%s), signed in with %q; want the same credential, platform", got.Created, got.Attachment, got.Asserted)
	}
	if want := []int{1, 2, 3, 4}; len(got.UserHandle) != 4 || got.UserHandle[3] != 4 {
		t.Errorf("userHandle = %v, want %v", got.UserHandle, want)
	}
	creds := auth.Credentials(t)
	if len(creds) != 1 || !creds[0].IsResidentCredential || creds[0].RpID != "localhost" ||
		base64.RawURLEncoding.EncodeToString(creds[0].CredentialID) != got.Created || creds[0].SignCount < 1 {
		t.Errorf("authenticator holds %d credentials (%+v), want the one resident credential for localhost, used", len(creds), creds)
	}

	// A person who does not unlock the device: the ceremony is refused.
	auth.SetUserVerified(t, false)
	refused := Get(t, tab, chromedp.Evaluate[string](`navigator.credentials.get({publicKey: {
    challenge: new Uint8Array(32), rpId: "localhost", userVerification: "required"}}).then(() => "signed in", (e) => e.name)`, chromedp.EvalAwaitPromise))
	if refused != "NotAllowedError" {
		t.Errorf("get without user verification = %q, want NotAllowedError", refused)
	}
	tab.CheckClean(t, "relying party page")
}

// wireCredential is the JSON webauthn.js posts (PublicKeyCredential.toJSON).
type wireCredential struct {
	ID       string `json:"id"`
	RawID    string `json:"rawId"`
	Type     string `json:"type"`
	Response struct {
		ClientDataJSON    string `json:"clientDataJSON"`
		AttestationObject string `json:"attestationObject"`
		AuthenticatorData string `json:"authenticatorData"`
		Signature         string `json:"signature"`
		UserHandle        string `json:"userHandle"`
	} `json:"response"`
}

// clientData decodes the credential's clientDataJSON.
func (c wireCredential) clientData(t *testing.T) (typ, challenge, origin string) {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(c.Response.ClientDataJSON)
	if err != nil {
		t.Fatalf("clientDataJSON is not base64url: %v", err)
	}
	var cd struct{ Type, Challenge, Origin string }
	if err := json.Unmarshal(raw, &cd); err != nil {
		t.Fatalf("clientDataJSON: %v", err)
	}
	return cd.Type, cd.Challenge, cd.Origin
}

var scriptPage = template.Must(template.New("").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>passkey</title>
<script src="{{.Script}}" defer></script></head>
<body><button id="go" data-webauthn="{{.Kind}}" data-webauthn-options="{{.Options}}" data-webauthn-finish="{{.Finish}}" data-webauthn-csrf="csrf-123" data-webauthn-status="status" hidden disabled>Passkey</button>
<p id="status" role="alert" hidden></p></body></html>`))

// testWebAuthnScript drives templates/static/webauthn.js, served as the
// server serves it and under the CSP of a page with script, through a
// registration and a sign-in with the virtual authenticator: the
// credential JSON reaches the finish URL with the CSRF header, the
// page follows the answer's redirect, and a refusal shows its text.
func testWebAuthnScript(t *testing.T, b *Browser) {
	pgs, err := templates.New()
	if err != nil {
		t.Fatal(err)
	}
	script, _ := pgs.AssetPath("webauthn.js")
	b64 := base64.RawURLEncoding.EncodeToString
	createChallenge, getChallenge := b64([]byte("create-challenge-0123456789abcdef")), b64([]byte("get-challenge-0123456789abcdefgh"))
	userID := b64([]byte("user-handle-ada"))
	options := map[string]string{
		"/register": `{"publicKey":{"rp":{"id":"localhost","name":"idvauth"},"user":{"id":"` + userID + `","name":"ada","displayName":"Ada"},"challenge":"` + createChallenge + `","pubKeyCredParams":[{"type":"public-key","alg":-7}],"authenticatorSelection":{"residentKey":"required","userVerification":"required"},"timeout":60000}}`,
		"/login":    `{"publicKey":{"challenge":"` + getChallenge + `","rpId":"localhost","userVerification":"required","timeout":60000}}`,
		"/refused":  `{"publicKey":{"challenge":"` + getChallenge + `","rpId":"localhost","userVerification":"required"}}`,
	}
	kind := map[string]string{"/register": "create", "/login": "get", "/refused": "get"}
	posted := make(chan wireCredential, 4)
	mux := http.NewServeMux()
	mux.HandleFunc("/assets/", func(w http.ResponseWriter, r *http.Request) {
		a, ok := pgs.Asset(r.URL.Path)
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", a.ContentType)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(a.Body)
	})
	for path := range options {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			var buf bytes.Buffer
			finish := "/finish"
			if path == "/refused" {
				finish = "/finish-refused"
			}
			if err := scriptPage.Execute(&buf, map[string]string{"Script": script, "Kind": kind[path], "Options": options[path], "Finish": finish}); err != nil {
				t.Error(err)
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Content-Security-Policy", pgs.CSPScript())
			_, _ = w.Write(buf.Bytes())
		})
	}
	finish := func(w http.ResponseWriter, r *http.Request) {
		var c wireCredential
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("X-CSRF-Token") != "csrf-123" {
			t.Errorf("finish: %s with Content-Type %q, X-CSRF-Token %q; want a JSON POST with the token", r.Method, r.Header.Get("Content-Type"), r.Header.Get("X-CSRF-Token"))
		}
		if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
			t.Errorf("finish: %v", err)
		}
		posted <- c
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/finish-refused" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_request","error_description":"That passkey is not registered."}`))
			return
		}
		_, _ = w.Write([]byte(`{"redirect":"/done"}`))
	}
	mux.HandleFunc("/finish", finish)
	mux.HandleFunc("/finish-refused", finish)
	mux.HandleFunc("/done", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", strict)
		_, _ = w.Write([]byte(`<!doctype html><title>done</title><p id="done">done`))
	})
	base := serve(t, mux)
	tab := b.NewTab(t)
	tab.AddAuthenticator(t)

	tab.Run(t, chromedp.Navigate(base+"/register"), chromedp.Click(chromedp.ID("go")), chromedp.WaitVisible(chromedp.ID("done")))
	reg := recv(t, posted)
	if typ, ch, origin := reg.clientData(t); typ != "webauthn.create" || ch != createChallenge || origin != base {
		t.Errorf("registration clientData = %s, %s, %s; want webauthn.create, %s, %s", typ, ch, origin, createChallenge, base)
	}
	if reg.ID == "" || reg.RawID != reg.ID || reg.Type != "public-key" || reg.Response.AttestationObject == "" {
		t.Errorf("registration = %+v, want id = rawId, public-key, an attestation object", reg)
	}
	tab.CheckClean(t, "registration")

	tab.Run(t, chromedp.Navigate(base+"/login"), chromedp.Click(chromedp.ID("go")), chromedp.WaitVisible(chromedp.ID("done")))
	login := recv(t, posted)
	if typ, ch, origin := login.clientData(t); typ != "webauthn.get" || ch != getChallenge || origin != base {
		t.Errorf("sign-in clientData = %s, %s, %s; want webauthn.get, %s, %s", typ, ch, origin, getChallenge, base)
	}
	if login.ID != reg.ID || login.Response.UserHandle != userID || login.Response.Signature == "" || login.Response.AuthenticatorData == "" {
		t.Errorf("sign-in = %+v, want the registered credential %s with user handle %s, signed", login, reg.ID, userID)
	}
	tab.CheckClean(t, "sign-in")

	tab.Run(t, chromedp.Navigate(base+"/refused"), chromedp.Click(chromedp.ID("go")), chromedp.WaitVisible(chromedp.ID("status")))
	recv(t, posted)
	if got := Get(t, tab, chromedp.Text(chromedp.ID("status"))); got != "That passkey is not registered." {
		t.Errorf("status after a refusal = %q, want the server's error_description", got)
	}
	if loc := tab.Location(t); loc != base+"/refused" {
		t.Errorf("page after a refusal = %s, want to stay on %s/refused", loc, base)
	}
	tab.CheckClean(t, "refusal")
}

// recv returns the next credential posted, failing t if none comes.
func recv(t *testing.T, ch <-chan wireCredential) wireCredential {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(StepTimeout):
		t.Fatal("no credential posted")
		return wireCredential{}
	}
}
