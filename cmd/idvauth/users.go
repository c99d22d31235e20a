package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/idvauth/idvauth/authz"
)

// maxPasswordInput bounds the password line read from stdin. The server's
// policy sets the real limit; this only keeps a wrong pipe from being read
// whole.
const maxPasswordInput = 1024

func newUsersCmd(env lookupEnv) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "users",
		Short: "Manage the people who sign in, through the admin API",
		Long: `Manage the people who sign in at the login page (authorization_code flow)
through the admin API of a running server.

The admin API is found at IDVAUTH_ADMIN_URL (default http://127.0.0.1:8081)
and authenticated with IDVAUTH_ADMIN_TOKEN. Passwords are never taken as
flags: create prompts for one, or reads it from stdin.`,
		Example: `  export IDVAUTH_ADMIN_TOKEN=...
  idvauth users create --username ada --name "Ada Lovelace" --email ada@example.com
  idvauth users list -o json
  idvauth users export u_3mJr7AoUXx2Wqd9KvYg5Tw
  idvauth users erase u_3mJr7AoUXx2Wqd9KvYg5Tw --yes`,
	})
	cmd.PersistentFlags().String(sAdminURL.flag, sAdminURL.def, sAdminURL.usage+" (env "+sAdminURL.env+")")
	cmd.PersistentFlags().String(sAdminToken.flag, "", "admin API bearer token (prefer env IDVAUTH_ADMIN_TOKEN: flags show in ps)")

	create := &cobra.Command{
		Use:   "create --username USERNAME",
		Short: "Register a person; the password is prompted for or read from stdin",
		Long: `Register a person who can then sign in at the login page.

The password is never a flag (flags show in ps and in shell history). In a
terminal it is asked for twice, without echo. Otherwise, or with
--password-stdin, it is the first line of stdin, without its line ending.

The server checks the password (at least 12 characters, not a well-known
one, not the username or email) and keeps only an argon2id hash of it.`,
		Example: `  # Asked for the password twice
  idvauth users create --username ada --name "Ada Lovelace" --email ada@example.com

  # From a script: the password on stdin
  printf '%s\n' "$ADA_PASSWORD" | idvauth users create --username ada --password-stdin -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			asJSON, err := outputJSON(cmd)
			if err != nil {
				return err
			}
			ac, err := newAdminClient(cmd, env)
			if err != nil {
				return err
			}
			var in authz.UserInput
			in.Username, _ = cmd.Flags().GetString("username")
			in.Name, _ = cmd.Flags().GetString("name")
			in.Email, _ = cmd.Flags().GetString("email")
			fromStdin, _ := cmd.Flags().GetBool("password-stdin")
			if in.Password, err = readPassword(cmd, in.Username, fromStdin); err != nil {
				return err
			}
			body, err := ac.do(cmd.Context(), http.MethodPost, "/admin/users", in)
			if err != nil {
				return err
			}
			return printUser(cmd, body, asJSON)
		},
	}
	create.Flags().String("username", "", "what the person types to sign in (stored lower-case)")
	create.Flags().String("name", "", "the person's full name")
	create.Flags().String("email", "", "the person's email address")
	create.Flags().Bool("password-stdin", false, "read the password from stdin (the default when stdin is not a terminal)")
	_ = create.MarkFlagRequired("username")

	list := &cobra.Command{
		Use:     "list",
		Short:   "List people",
		Long:    "List every registered person, ordered by username (never their passwords).",
		Example: "  idvauth users list\n  idvauth users list -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			asJSON, err := outputJSON(cmd)
			if err != nil {
				return err
			}
			ac, err := newAdminClient(cmd, env)
			if err != nil {
				return err
			}
			body, err := ac.do(cmd.Context(), http.MethodGet, "/admin/users", nil)
			if err != nil {
				return err
			}
			if asJSON {
				_, err = cmd.OutOrStdout().Write(body)
				return err
			}
			var l authz.UserList
			if err := json.Unmarshal(body, &l); err != nil {
				return fmt.Errorf("unexpected admin API answer: %w", err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tUSERNAME\tNAME\tEMAIL\tCREATED")
			for _, u := range l.Users {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.ID, u.Username, dash(u.Name), dash(u.Email), unixTime(u.CreatedAt))
			}
			return tw.Flush()
		},
	}

	get := &cobra.Command{
		Use:     "get USER_ID",
		Short:   "Show one person",
		Long:    "Show one person's record (never their password).",
		Example: "  idvauth users get u_3mJr7AoUXx2Wqd9KvYg5Tw -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := outputJSON(cmd)
			if err != nil {
				return err
			}
			ac, err := newAdminClient(cmd, env)
			if err != nil {
				return err
			}
			body, err := ac.do(cmd.Context(), http.MethodGet, "/admin/users/"+url.PathEscape(args[0]), nil)
			if err != nil {
				return err
			}
			return printUser(cmd, body, asJSON)
		},
	}

	del := &cobra.Command{
		Use:   "delete USER_ID",
		Short: "Delete a person, end their sessions and revoke their tokens",
		Long: `Delete a person with their consents. Their browser sessions end and every
token issued for them is revoked at once: introspection answers active: false.
There is no confirmation prompt.`,
		Example: "  idvauth users delete u_3mJr7AoUXx2Wqd9KvYg5Tw\n  idvauth users delete u_3mJr7AoUXx2Wqd9KvYg5Tw -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := outputJSON(cmd)
			if err != nil {
				return err
			}
			ac, err := newAdminClient(cmd, env)
			if err != nil {
				return err
			}
			if _, err := ac.do(cmd.Context(), http.MethodDelete, "/admin/users/"+url.PathEscape(args[0]), nil); err != nil {
				return err
			}
			if asJSON {
				fmt.Fprintf(cmd.OutOrStdout(), "{\"deleted\":%s}\n", strconv.Quote(args[0]))
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted user %s\n", args[0])
			return nil
		},
	}

	withdraw := &cobra.Command{
		Use:   "withdraw-consents USER_ID",
		Short: "Withdraw a person's consents, to every client or to one",
		Long: `Withdraw what a person consented to: to one client with --client, to every
client otherwise. The client must ask for consent again the next time the
person signs in. Tokens already issued are not revoked (delete the person to
end those at once).`,
		Example: `  idvauth users withdraw-consents u_3mJr7AoUXx2Wqd9KvYg5Tw
  idvauth users withdraw-consents u_3mJr7AoUXx2Wqd9KvYg5Tw --client kyc-web -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := outputJSON(cmd)
			if err != nil {
				return err
			}
			ac, err := newAdminClient(cmd, env)
			if err != nil {
				return err
			}
			path := "/admin/users/" + url.PathEscape(args[0]) + "/consents"
			client, _ := cmd.Flags().GetString("client")
			if client != "" {
				path += "?" + url.Values{"client_id": {client}}.Encode()
			}
			body, err := ac.do(cmd.Context(), http.MethodDelete, path, nil)
			if err != nil {
				return err
			}
			if asJSON {
				_, err = cmd.OutOrStdout().Write(body)
				return err
			}
			var cw authz.ConsentWithdrawal
			if err := json.Unmarshal(body, &cw); err != nil {
				return fmt.Errorf("unexpected admin API answer: %w", err)
			}
			noun := "consents"
			if cw.Withdrawn == 1 {
				noun = "consent"
			}
			to := ""
			if client != "" {
				to = " to client " + client
			}
			fmt.Fprintf(cmd.OutOrStdout(), "withdrew %d %s of user %s%s\n", cw.Withdrawn, noun, cw.UserID, to)
			return nil
		},
	}
	withdraw.Flags().String("client", "", "withdraw only the consent to this client_id")

	erase := &cobra.Command{
		Use:   "erase USER_ID --yes",
		Short: "Erase a person for good (GDPR right to erasure); needs --yes",
		Long: `Erase a person: their profile, password hash, consents, browser sessions,
refresh tokens and codes are removed and their access tokens stop working
(introspection answers active: false), in one step. The audit trail keeps
only the opaque user ID. It cannot be undone: save 'idvauth users export'
first if the person asked for their data too.

Nothing is asked interactively (scripts and CI have no terminal): without
--yes the command refuses and erases nothing.`,
		Example: `  idvauth users export u_3mJr7AoUXx2Wqd9KvYg5Tw > ada.json
  idvauth users erase u_3mJr7AoUXx2Wqd9KvYg5Tw --yes
  idvauth users erase u_3mJr7AoUXx2Wqd9KvYg5Tw --yes -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := outputJSON(cmd)
			if err != nil {
				return err
			}
			if yes, _ := cmd.Flags().GetBool("yes"); !yes {
				return fmt.Errorf("users erase removes user %s and everything held about them for good; add --yes to confirm (nothing was erased)", args[0])
			}
			ac, err := newAdminClient(cmd, env)
			if err != nil {
				return err
			}
			body, err := ac.do(cmd.Context(), http.MethodPost, "/admin/users/"+url.PathEscape(args[0])+"/erase", nil)
			if err != nil {
				return err
			}
			if asJSON {
				_, err = cmd.OutOrStdout().Write(body)
				return err
			}
			var ue authz.UserErasure
			if err := json.Unmarshal(body, &ue); err != nil {
				return fmt.Errorf("unexpected admin API answer: %w", err)
			}
			if !ue.Erased || ue.UserID != args[0] {
				return fmt.Errorf("the admin API did not confirm the erasure of user %s", args[0])
			}
			fmt.Fprintf(cmd.OutOrStdout(), "erased user %s: profile, password hash, consents, sessions and tokens removed\n", ue.UserID)
			return nil
		},
	}
	erase.Flags().Bool("yes", false, "confirm the erasure (required: it cannot be undone)")

	export := &cobra.Command{
		Use:   "export USER_ID",
		Short: "Print everything held about a person, as JSON (GDPR right of access)",
		Long: `Print everything idvauth holds about a person, as indented JSON: their
record, consents, browser sessions, the records of their tokens (never token
values, which are not kept) and the audit entries about them. The password
hash is held but not exported. The output is JSON either way: there is no
-o flag.

It holds personal data: write it somewhere only the person and you can read.`,
		Example: `  idvauth users export u_3mJr7AoUXx2Wqd9KvYg5Tw
  (umask 077; idvauth users export u_3mJr7AoUXx2Wqd9KvYg5Tw > ada.json)`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ac, err := newAdminClient(cmd, env)
			if err != nil {
				return err
			}
			body, err := ac.do(cmd.Context(), http.MethodGet, "/admin/users/"+url.PathEscape(args[0])+"/export", nil)
			if err != nil {
				return err
			}
			var out bytes.Buffer
			if err := json.Indent(&out, body, "", "  "); err != nil {
				return fmt.Errorf("unexpected admin API answer: %w", err)
			}
			if !bytes.HasSuffix(out.Bytes(), []byte("\n")) {
				out.WriteByte('\n')
			}
			_, err = cmd.OutOrStdout().Write(out.Bytes())
			return err
		},
	}

	for _, c := range []*cobra.Command{create, list, get, del, withdraw, erase} {
		addOutputFlag(c)
		cmd.AddCommand(c)
	}
	cmd.AddCommand(export)
	return cmd
}

// readPassword returns the new user's password: the first line of stdin
// when asked to or when stdin is not a terminal, otherwise typed twice at
// a prompt on stderr without echo.
func readPassword(cmd *cobra.Command, username string, fromStdin bool) (string, error) {
	in := cmd.InOrStdin()
	fd, tty := terminalFd(in)
	switch {
	case fromStdin && tty:
		return "", errors.New("--password-stdin: stdin is a terminal; pipe the password in, or leave out --password-stdin to be prompted")
	case tty:
		return promptPassword(cmd.Context(), fd, cmd.ErrOrStderr(), username)
	}
	return readPasswordLine(in)
}

// terminalFd returns the file descriptor of r if r is a terminal.
func terminalFd(r io.Reader) (int, bool) {
	f, ok := r.(interface{ Fd() uintptr })
	if !ok {
		return 0, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}

// readPasswordLine reads the first line of r, without its \n or \r\n.
func readPasswordLine(r io.Reader) (string, error) {
	// +2 for the line ending, +1 to see a line that is too long.
	line, err := bufio.NewReader(io.LimitReader(r, maxPasswordInput+3)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from stdin: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	switch {
	case line == "":
		return "", errors.New("no password on stdin: give it as the first line of stdin, or run in a terminal to be prompted")
	case len(line) > maxPasswordInput:
		return "", fmt.Errorf("the password on stdin is longer than %d bytes", maxPasswordInput)
	}
	return line, nil
}

// promptPassword asks for the password twice on the terminal fd, without
// echo. An interrupt restores the terminal (echo on) and ends the command
// instead of leaving the terminal silent.
func promptPassword(ctx context.Context, fd int, w io.Writer, username string) (string, error) {
	state, err := term.GetState(fd)
	if err != nil {
		return "", fmt.Errorf("read the password from the terminal: %w", err)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	type result struct {
		password string
		err      error
	}
	done := make(chan result, 1)
	go func() {
		pw, err := askTwice(fd, w, username)
		done <- result{pw, err}
	}()
	select {
	case r := <-done:
		return r.password, r.err
	case <-ctx.Done():
		// The read goroutine stays blocked on the terminal; the process
		// is about to exit.
		_ = term.Restore(fd, state)
		fmt.Fprintln(w)
		return "", errors.New("interrupted: no user created")
	}
}

func askTwice(fd int, w io.Writer, username string) (string, error) {
	read := func(prompt string) (string, error) {
		fmt.Fprint(w, prompt)
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(w) // the Enter the terminal did not echo
		if err != nil {
			return "", fmt.Errorf("read the password from the terminal: %w", err)
		}
		return string(b), nil
	}
	pw, err := read("Password for " + username + ": ")
	if err != nil {
		return "", err
	}
	if pw == "" {
		return "", errors.New("empty password: no user created")
	}
	again, err := read("Repeat the password: ")
	if err != nil {
		return "", err
	}
	if again != pw {
		return "", errors.New("the passwords do not match: no user created")
	}
	return pw, nil
}

// printUser prints a UserJSON answer: as the API returned it with -o json,
// as a two-column table otherwise.
func printUser(cmd *cobra.Command, body []byte, asJSON bool) error {
	w := cmd.OutOrStdout()
	if asJSON {
		_, err := w.Write(body)
		return err
	}
	var u authz.UserJSON
	if err := json.Unmarshal(body, &u); err != nil {
		return fmt.Errorf("unexpected admin API answer: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "id\t%s\n", u.ID)
	fmt.Fprintf(tw, "username\t%s\n", u.Username)
	fmt.Fprintf(tw, "name\t%s\n", dash(u.Name))
	fmt.Fprintf(tw, "email\t%s\n", dash(u.Email))
	fmt.Fprintf(tw, "created\t%s\n", unixTime(u.CreatedAt))
	fmt.Fprintf(tw, "updated\t%s\n", unixTime(u.UpdatedAt))
	return tw.Flush()
}

// unixTime shows Unix seconds as RFC 3339 UTC, "-" for none.
func unixTime(sec int64) string {
	if sec <= 0 {
		return "-"
	}
	return time.Unix(sec, 0).UTC().Format(time.RFC3339)
}
