package logincmd

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func TestFileSaveLoad(t *testing.T) {
	f := File{Path: filepath.Join(t.TempDir(), "sub", "credentials.json")}
	if _, ok, err := f.Load("http://a"); ok || err != nil {
		t.Fatalf("Load of a missing file = %v, %v; want nothing", ok, err)
	}
	tok := &oauth2.Token{AccessToken: "at", RefreshToken: "rt", TokenType: "Bearer", Expiry: time.Unix(2e9, 0)}
	if err := f.Save("http://a", tok); err != nil {
		t.Fatal(err)
	}
	if err := f.Save("http://b", &oauth2.Token{AccessToken: "other"}); err != nil {
		t.Fatal(err)
	}
	got, ok, err := f.Load("http://a")
	if err != nil || !ok || got.AccessToken != "at" || got.RefreshToken != "rt" || !got.Expiry.Equal(tok.Expiry) {
		t.Fatalf("Load = %+v, %v, %v", got, ok, err)
	}
	st, err := os.Stat(f.Path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("file mode = %v, %v; want 0600", st.Mode().Perm(), err)
	}
	if dir, _ := os.Stat(filepath.Dir(f.Path)); dir.Mode().Perm() != 0o700 {
		t.Errorf("directory mode = %v, want 0700", dir.Mode().Perm())
	}
	if err := f.Save("http://a", nil); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := f.Load("http://a"); ok {
		t.Error("a forgotten token is still there")
	}
	if _, ok, _ := f.Load("http://b"); !ok {
		t.Error("forgetting one admin URL lost another's token")
	}
	if err := os.Chmod(f.Path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.Load("http://b"); err == nil || !strings.Contains(err.Error(), "read by others") {
		t.Errorf("Load of a world-readable file = %v, want refused", err)
	}
}

// A refreshed token is saved at once (its refresh token is good for one
// use), and a refused refresh forgets the sign-in.
func TestTokenSourceRefreshes(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		if calls.Add(1) > 1 || r.PostForm.Get("refresh_token") != "rt1" || r.PostForm.Get("client_id") != "idvauth-cli" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		_, _ = w.Write([]byte(`{"access_token":"at2","refresh_token":"rt2","token_type":"Bearer","expires_in":300}`))
	}))
	defer srv.Close()
	f := File{Path: filepath.Join(t.TempDir(), "credentials.json")}
	if err := f.Save(srv.URL, &oauth2.Token{AccessToken: "at1", RefreshToken: "rt1", Expiry: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	src, ok, err := f.TokenSource(srv.URL)
	if err != nil || !ok {
		t.Fatalf("TokenSource = %v, %v", ok, err)
	}
	ctx := context.Background()
	if tok, err := src(ctx); err != nil || tok != "at2" {
		t.Fatalf("token = %q, %v; want the refreshed at2", tok, err)
	}
	if saved, _, _ := f.Load(srv.URL); saved == nil || saved.RefreshToken != "rt2" {
		t.Fatalf("saved after the refresh = %+v, want rt2", saved)
	}
	if tok, err := src(ctx); err != nil || tok != "at2" || calls.Load() != 1 {
		t.Errorf("second call = %q, %v after %d refreshes; want at2 without another", tok, err, calls.Load())
	}
	// A later run whose refresh is refused forgets the sign-in.
	if err := f.Save(srv.URL, &oauth2.Token{AccessToken: "x", RefreshToken: "rt2", Expiry: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	src, _, _ = f.TokenSource(srv.URL)
	if _, err := src(ctx); err == nil || !strings.Contains(err.Error(), "idvauth login again") {
		t.Errorf("refused refresh = %v, want a message to log in again", err)
	}
	if _, ok, _ := f.Load(srv.URL); ok {
		t.Error("a refused sign-in is still saved")
	}
}
