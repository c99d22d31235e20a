package main

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/idvauth/idvauth/authz/adminapi"
)

// consoleClient is a browser for the console: a cookie jar, and no
// automatic redirects (each hop is looked at).
type consoleClient struct {
	t *testing.T
	c *http.Client
}

func newConsoleClient(t *testing.T) *consoleClient {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &consoleClient{t: t, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// do sends req and returns the status, the Location and the body.
func (c *consoleClient) do(req *http.Request, err error) (int, string, string) {
	c.t.Helper()
	if err != nil {
		c.t.Fatal(err)
	}
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

func (c *consoleClient) get(u string) (int, string, string) {
	c.t.Helper()
	return c.do(http.NewRequest(http.MethodGet, u, nil))
}

func (c *consoleClient) post(u string, v url.Values) (int, string, string) {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(v.Encode()))
	if err == nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return c.do(req, err)
}

var (
	hiddenPattern     = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
	totpSecretPattern = regexp.MustCompile(`<code id="totp-secret">([A-Z2-7]+)</code>`)
)

// hidden returns the hidden fields of a page's forms.
func hidden(body string) url.Values {
	v := url.Values{}
	for _, m := range hiddenPattern.FindAllStringSubmatch(body, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	return v
}

// enrolledOperator creates an operator of role with `idvauth operators
// create` and enrolls them through the console (password, then the
// authenticator app): the client returned holds their console session.
func enrolledOperator(t *testing.T, env map[string]string, adminURL, username, role string) *consoleClient {
	t.Helper()
	var e adminapi.Enrollment
	if err := json.Unmarshal([]byte(mustCLI(t, env, "operators", "create", "--username", username, "--role", role, "-o", "json")), &e); err != nil {
		t.Fatal(err)
	}
	c := newConsoleClient(t)
	status, _, body := c.get(e.EnrollmentURL)
	if status != http.StatusOK {
		t.Fatalf("enrollment link: %d", status)
	}
	v := hidden(body)
	const pw = "a long operator pass phrase"
	v.Set("password", pw)
	v.Set("password2", pw)
	status, loc, _ := c.post(adminURL+"/console/enroll", v)
	if status != http.StatusSeeOther {
		t.Fatalf("enrollment password: %d", status)
	}
	_, _, body = c.get(adminURL + loc)
	m := totpSecretPattern.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("the enrollment shows no TOTP secret")
	}
	code, err := totp.GenerateCode(m[1], time.Now())
	if err != nil {
		t.Fatal(err)
	}
	v = hidden(body)
	v.Set("code", code)
	if status, loc, _ := c.post(adminURL+"/console/enroll/totp", v); status != http.StatusSeeOther || loc != "/console/" {
		t.Fatalf("enrollment code: %d to %q, want 303 to the console", status, loc)
	}
	return c
}

// runLogin runs `idvauth login args...` in the background; wait returns
// its exit code and output once it ends.
func runLogin(t *testing.T, env map[string]string, args ...string) (errOut *syncBuffer, done chan struct{}, wait func() (int, string)) {
	var out syncBuffer
	errOut, done = &syncBuffer{}, make(chan struct{})
	var code int
	go func() {
		defer close(done)
		code = run(t.Context(), append([]string{"login"}, args...), envOf(env), strings.NewReader(""), &out, errOut)
	}()
	return errOut, done, func() (int, string) {
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Fatal("idvauth login did not end")
		}
		return code, out.String() + errOut.String()
	}
}

// savedToken reads the access token idvauth login kept for adminURL, and
// checks the file is the owner's only.
func savedToken(t *testing.T, path, adminURL string) string {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials file mode %v, want 0600", fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(b, &all); err != nil {
		t.Fatalf("credentials file: %v", err)
	}
	tok := all[adminURL].AccessToken
	if tok == "" {
		t.Fatalf("no access token kept for %s", adminURL)
	}
	return tok
}

// TestLoginLive: `idvauth login` against a live server (serve --dev). The
// loopback redirect (RFC 8252): the test, as an operator's browser signed
// in to the console, follows the printed sign-in URL, allows the command
// line, and follows the redirect to the CLI's listener; the CLI keeps the
// token (file mode 0600) and admin commands work with it alone. Then
// --device: the operator enters the printed code at /console/device and
// allows it, and the CLI receives its token. No token is printed.
func TestLoginLive(t *testing.T) {
	t.Parallel()
	d := startDev(t, map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken})
	breakGlass := map[string]string{"IDVAUTH_ADMIN_URL": d.adminURL, "IDVAUTH_ADMIN_TOKEN": adminToken}
	c := enrolledOperator(t, breakGlass, d.adminURL, "olive", "owner")
	creds := filepath.Join(t.TempDir(), "credentials.json")
	env := map[string]string{"IDVAUTH_ADMIN_URL": d.adminURL, "IDVAUTH_CREDENTIALS": creds}
	if code, _, _ := cli(t, env, "clients", "list"); code == 0 {
		t.Fatal("clients list without a token or a login: exit 0")
	}

	// The loopback redirect.
	errOut, done, wait := runLogin(t, env, "--no-browser", "--timeout", "1m")
	authURL := regexp.MustCompile(`http://\S+/console/oauth2/authorize\?\S+`)
	waitFor(t, "the sign-in URL", done, func() bool { return authURL.MatchString(errOut.String()) })
	status, _, body := c.get(authURL.FindString(errOut.String()))
	if status != http.StatusOK || !strings.Contains(body, `value="allow"`) {
		t.Fatalf("the sign-in URL with a console session: %d, no consent", status)
	}
	v := hidden(body)
	v.Set("decision", "allow")
	status, loc, _ := c.post(d.adminURL+"/console/oauth2/authorize", v)
	if status/100 != 3 || !strings.HasPrefix(loc, "http://127.0.0.1:") || !strings.Contains(loc, "/callback?") {
		t.Fatalf("allow: %d to %q, want a redirect to the loopback listener", status, redact(loc))
	}
	if status, _, _ := c.get(loc); status != http.StatusOK {
		t.Fatalf("the loopback listener answered %d", status)
	}
	code, output := wait()
	if code != 0 || !strings.Contains(output, "Logged in to "+d.adminURL) {
		t.Fatalf("login = exit %d:\n%s", code, redact(output))
	}
	tok := savedToken(t, creds, d.adminURL)
	if strings.Contains(output, tok) {
		t.Error("idvauth login printed the access token")
	}
	if out := mustCLI(t, env, "operators", "list"); !strings.Contains(out, "olive") {
		t.Errorf("operators list with the login's token: %q", out)
	}
	mustCLI(t, env, "clients", "list")

	// The device grant.
	devCreds := filepath.Join(t.TempDir(), "credentials.json")
	devEnv := map[string]string{"IDVAUTH_ADMIN_URL": d.adminURL, "IDVAUTH_CREDENTIALS": devCreds}
	errOut, done, wait = runLogin(t, devEnv, "--device", "--timeout", "1m")
	prompt := regexp.MustCompile(`open:\s+(\S+)\s+and enter the code\s+(\S+)`)
	waitFor(t, "the device code", done, func() bool { return prompt.MatchString(errOut.String()) })
	m := prompt.FindStringSubmatch(errOut.String())
	if !strings.HasPrefix(m[1], d.adminURL+"/console/device") {
		t.Errorf("verification URI %q, want %s/console/device...", m[1], d.adminURL)
	}
	status, _, body = c.get(d.adminURL + "/console/device")
	if status != http.StatusOK {
		t.Fatalf("device page: %d", status)
	}
	v = hidden(body)
	v.Set("user_code", m[2])
	status, _, body = c.post(d.adminURL+"/console/device", v)
	if status != http.StatusOK || !strings.Contains(body, `value="allow"`) {
		t.Fatalf("device code entered: %d, no consent", status)
	}
	v = hidden(body)
	v.Set("decision", "allow")
	if status, _, _ := c.post(d.adminURL+"/console/device", v); status != http.StatusOK {
		t.Fatalf("device allowed: %d", status)
	}
	code, output = wait()
	if code != 0 || !strings.Contains(output, "Logged in to "+d.adminURL) {
		t.Fatalf("login --device = exit %d:\n%s", code, redact(output))
	}
	if tok := savedToken(t, devCreds, d.adminURL); strings.Contains(output, tok) {
		t.Error("idvauth login --device printed the access token")
	}
	if out := mustCLI(t, devEnv, "operators", "list"); !strings.Contains(out, "olive") {
		t.Errorf("operators list with the device login's token: %q", out)
	}
}
