// Package logincmd is `idvauth login`: an operator signs in to the
// console in their browser and gives the command line a token for the
// admin API (OAuth 2.0 authorization code with PKCE, RFC 8252 loopback
// redirect), kept in the user's configuration directory and refreshed
// silently by every command that calls the admin API.
package logincmd

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"os/exec"
	"runtime"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz/operators"
	"github.com/idvauth/idvauth/authz/opsignin"
)

// Deps is what the command needs of the rest of the CLI.
type Deps struct {
	// AdminURL resolves the admin URL setting of cmd (flag, env, config
	// file, default).
	AdminURL func(cmd *cobra.Command) (string, error)
	// File keeps the tokens; AdminURL may set it (it reads the
	// settings).
	File *File
	// Open opens a URL in the user's browser; nil: OpenBrowser. Tests
	// drive the sign-in with it.
	Open func(url string) error
}

// oauthConfig is the OAuth client of idvauth login at the admin
// listener adminURL, redirected to redirect.
func oauthConfig(adminURL, redirect string) *oauth2.Config {
	return &oauth2.Config{ClientID: operators.CLIClientID, RedirectURL: redirect, Endpoint: oauth2.Endpoint{
		AuthURL: adminURL + opsignin.AuthorizePath, TokenURL: adminURL + opsignin.TokenPath,
		DeviceAuthURL: adminURL + opsignin.DeviceAuthorizationPath, AuthStyle: oauth2.AuthStyleInParams}}
}

// New returns the login command.
func New(d Deps) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Sign in as an operator and keep a token for the admin API",
		Long: `Sign in as an operator: idvauth login opens the console's sign-in in your
browser (password and second factor), asks you to allow the command line,
and keeps the token it gets in the user's configuration directory
(credentials.json under idvauth, mode 0600). Every command that calls the
admin API then uses it when no IDVAUTH_ADMIN_TOKEN is set, and refreshes it
silently; the sign-in lasts at most 12 hours, and ends at once when the
operator is disabled. The token can do what the operator's role allows.

The browser comes back to a listener on 127.0.0.1 that idvauth login opens
for the purpose (RFC 8252). On a host without a browser, --device uses the
device authorization grant (RFC 8628): it prints a code that an operator
signed in to the console enters at /console/device, on any machine.`,
		Example: `  idvauth login
  IDVAUTH_ADMIN_URL=https://idvauth-admin.internal:8081 idvauth login --device
  idvauth clients list -o json   # uses the saved token`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			adminURL, err := d.AdminURL(cmd)
			if err != nil {
				return err
			}
			open := d.Open
			if noBrowser, _ := cmd.Flags().GetBool("no-browser"); noBrowser {
				open = func(string) error { return errors.New("not opened") }
			} else if open == nil {
				open = OpenBrowser
			}
			wait, _ := cmd.Flags().GetDuration("timeout")
			login := loopbackLogin
			if device, _ := cmd.Flags().GetBool("device"); device {
				login = deviceLogin
			}
			tok, err := login(cmd.Context(), cmd.ErrOrStderr(), adminURL, open, wait)
			if err != nil {
				return err
			}
			if err := d.File.Save(adminURL, tok); err != nil {
				return err
			}
			p, _ := d.File.path()
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Logged in to %s. The token is kept in %s and refreshed as needed.\n", adminURL, p)
			return err
		},
	}
	cmd.Flags().Bool("no-browser", false, "print the sign-in URL instead of opening a browser")
	cmd.Flags().Bool("device", false, "sign in from another machine with a code (RFC 8628 device grant), for hosts without a browser")
	cmd.Flags().Duration("timeout", 5*time.Minute, "how long to wait for the sign-in in the browser")
	return cmd
}

// loopbackLogin runs the authorization-code grant with PKCE through a
// listener on 127.0.0.1 and returns the tokens.
func loopbackLogin(ctx context.Context, out io.Writer, adminURL string, open func(string) error, wait time.Duration) (*oauth2.Token, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("login: open a loopback listener for the browser: %w", err)
	}
	defer ln.Close()
	cfg := oauthConfig(adminURL, fmt.Sprintf("http://%s/callback", ln.Addr()))
	verifier, state := oauth2.GenerateVerifier(), rand.Text()
	authURL := cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))
	codes := make(chan result, 1)
	srv := &http.Server{Handler: callback(state, codes), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	if err := open(authURL); err != nil {
		fmt.Fprintf(out, "Open this URL in a browser to sign in:\n\n  %s\n\n", authURL)
	} else {
		fmt.Fprintf(out, "Your browser has been opened to sign in. If it has not, open:\n\n  %s\n\n", authURL)
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("login: no sign-in within %v", wait)
	case r := <-codes:
		if r.err != nil {
			return nil, r.err
		}
		tok, err := cfg.Exchange(ctx, r.code, oauth2.VerifierOption(verifier))
		if err != nil {
			return nil, fmt.Errorf("login: redeem the authorization code: %w", err)
		}
		return tok, nil
	}
}

// deviceLogin runs the device authorization grant: it prints the user
// code and where to enter it, and polls until an operator allowed it.
func deviceLogin(ctx context.Context, out io.Writer, adminURL string, _ func(string) error, wait time.Duration) (*oauth2.Token, error) {
	cfg := oauthConfig(adminURL, "")
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	da, err := cfg.DeviceAuth(ctx)
	if err != nil {
		return nil, fmt.Errorf("login: ask for a device code: %w", err)
	}
	fmt.Fprintf(out, "On a machine with a browser, sign in to the console and open:\n\n  %s\n\nand enter the code  %s\n\nWaiting...\n",
		da.VerificationURIComplete, da.UserCode)
	tok, err := cfg.DeviceAccessToken(ctx, da)
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	return tok, nil
}

type result struct {
	code string
	err  error
}

// callback serves the redirect of the sign-in: it takes the first answer
// that carries state, and tells the browser what happened.
func callback(state string, codes chan<- result) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /callback", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("state") != state {
			http.Error(w, "This sign-in was not started by this idvauth login.", http.StatusBadRequest)
			return
		}
		var res result
		msg := "You are signed in: you may close this tab and go back to the terminal."
		switch {
		case q.Get("error") != "":
			res.err = fmt.Errorf("login: the sign-in was refused: %s: %s", q.Get("error"), q.Get("error_description"))
			msg = "The sign-in was refused: " + q.Get("error") + ". Go back to the terminal."
		case q.Get("code") == "":
			res.err = errors.New("login: the browser came back without an authorization code")
			msg = "The sign-in came back without a code. Go back to the terminal."
		default:
			res.code = q.Get("code")
		}
		select {
		case codes <- res:
		default: // an answer was taken already
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'")
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprintf(w, "<!doctype html><title>idvauth login</title><p>%s</p>\n", html.EscapeString(msg))
	})
	return mux
}

// OpenBrowser opens url in the user's browser.
func OpenBrowser(url string) error {
	var c *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		c = exec.Command("open", url)
	case "windows":
		c = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		c = exec.Command("xdg-open", url)
	}
	return c.Start()
}
