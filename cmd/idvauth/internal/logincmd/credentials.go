package logincmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// File is where `idvauth login` keeps operators' tokens: one entry per
// admin URL, in a file only its owner may read (0600, in a 0700
// directory).
type File struct {
	// Path is the file; DefaultPath() if empty.
	Path string
}

// DefaultPath is credentials.json in the user's configuration directory
// (os.UserConfigDir: $XDG_CONFIG_HOME or ~/.config on Linux), under
// idvauth.
func DefaultPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("login: no configuration directory for the tokens: %w", err)
	}
	return filepath.Join(dir, "idvauth", "credentials.json"), nil
}

// saved is one admin URL's tokens as the file keeps them.
type saved struct {
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	TokenType    string    `json:"token_type,omitempty"`
	Expiry       time.Time `json:"expiry"`
}

func (f File) path() (string, error) {
	if f.Path != "" {
		return f.Path, nil
	}
	return DefaultPath()
}

// read returns every entry of the file; none if it does not exist. A
// file others may read is refused: tokens in it may have leaked.
func (f File) read() (map[string]saved, error) {
	p, err := f.path()
	if err != nil {
		return nil, err
	}
	fh, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]saved{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("login: %s may be read by others (mode %v): delete it and run idvauth login again", p, st.Mode().Perm())
	}
	all := map[string]saved{}
	if err := json.NewDecoder(fh).Decode(&all); err != nil {
		return nil, fmt.Errorf("login: %s is not a credentials file: %w", p, err)
	}
	return all, nil
}

// Load returns the token saved for adminURL; false if there is none.
func (f File) Load(adminURL string) (*oauth2.Token, bool, error) {
	all, err := f.read()
	if err != nil {
		return nil, false, err
	}
	s, ok := all[adminURL]
	if !ok || s.AccessToken == "" {
		return nil, false, nil
	}
	return &oauth2.Token{AccessToken: s.AccessToken, RefreshToken: s.RefreshToken, TokenType: s.TokenType, Expiry: s.Expiry}, true, nil
}

// Save keeps tok for adminURL (nil: forgets it), replacing the file
// atomically so that a crash leaves the old file or the new one.
func (f File) Save(adminURL string, tok *oauth2.Token) error {
	all, err := f.read()
	if err != nil {
		return err
	}
	if tok == nil {
		delete(all, adminURL)
	} else {
		all[adminURL] = saved{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, TokenType: tok.TokenType, Expiry: tok.Expiry}
	}
	p, err := f.path()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	b, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".credentials-*")
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, nothing to remove
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("login: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("login: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("login: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	return nil
}

// TokenSource returns the bearer tokens of the operator who ran
// `idvauth login` against adminURL, refreshed when they expire; each
// refreshed token is saved at once (a refresh token is good for one
// use). false if nobody logged in there.
func (f File) TokenSource(adminURL string) (func(context.Context) (string, error), bool, error) {
	tok, ok, err := f.Load(adminURL)
	if err != nil || !ok {
		return nil, false, err
	}
	cfg := oauthConfig(adminURL, "")
	var mu sync.Mutex
	return func(ctx context.Context) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if tok.Valid() {
			return tok.AccessToken, nil
		}
		if tok.RefreshToken == "" {
			return "", errors.New("login: the token of idvauth login has expired: run idvauth login again")
		}
		next, err := cfg.TokenSource(ctx, tok).Token()
		if err != nil {
			var re *oauth2.RetrieveError
			if errors.As(err, &re) && re.ErrorCode == "invalid_grant" {
				_ = f.Save(adminURL, nil)
				return "", errors.New("login: the sign-in of idvauth login has ended (expired, revoked or the operator disabled): run idvauth login again")
			}
			return "", fmt.Errorf("login: refresh the token of idvauth login: %w", err)
		}
		if err := f.Save(adminURL, next); err != nil {
			return "", err
		}
		tok = next
		return tok.AccessToken, nil
	}, true, nil
}
