package logincmd

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"
)

// fakeServer is an authorization server for idvauth-cli that allows
// every request: the authorize endpoint redirects with a code at once,
// and the token endpoint checks the code's PKCE verifier.
func fakeServer(t *testing.T) *httptest.Server {
	var mu sync.Mutex
	challenges := map[string]string{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /console/oauth2/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("client_id") != "idvauth-cli" || q.Get("code_challenge_method") != "S256" || !strings.HasPrefix(q.Get("redirect_uri"), "http://127.0.0.1:") {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		mu.Lock()
		challenges["code-1"] = q.Get("code_challenge")
		mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?code=code-1&state="+url.QueryEscape(q.Get("state")), http.StatusSeeOther)
	})
	mux.HandleFunc("POST /console/oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		mu.Lock()
		want, ok := challenges[r.PostForm.Get("code")]
		delete(challenges, r.PostForm.Get("code"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if !ok || base64.RawURLEncoding.EncodeToString(sum[:]) != want {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		_, _ = w.Write([]byte(`{"access_token":"tok-ACCESS-123","refresh_token":"tok-REFRESH-456","token_type":"Bearer","expires_in":300}`))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// idvauth login, with the test as the browser: the loopback redirect
// brings the code back, the code is redeemed with PKCE, the token saved.
func TestLoginLoopback(t *testing.T) {
	srv := fakeServer(t)
	file := &File{Path: filepath.Join(t.TempDir(), "credentials.json")}
	browser := &http.Client{}
	cmd := New(Deps{File: file, AdminURL: func(*cobra.Command) (string, error) { return srv.URL, nil },
		Open: func(u string) error {
			go func() {
				if resp, err := browser.Get(u); err == nil {
					resp.Body.Close()
				}
			}()
			return nil
		}})
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(nil)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("login: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "Logged in to "+srv.URL) || !strings.Contains(errOut.String(), srv.URL+"/console/oauth2/authorize?") {
		t.Errorf("stdout %q, stderr %q", out.String(), errOut.String())
	}
	tok, ok, err := file.Load(srv.URL)
	if err != nil || !ok || tok.AccessToken != "tok-ACCESS-123" || tok.RefreshToken != "tok-REFRESH-456" {
		t.Fatalf("saved = %+v, %v, %v", tok, ok, err)
	}
	if all := out.String() + errOut.String(); strings.Contains(all, "tok-ACCESS") || strings.Contains(all, "tok-REFRESH") {
		t.Errorf("a token was printed: %q", all)
	}
}
