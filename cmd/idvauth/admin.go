package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/cmd/idvauth/internal/clikit"
	"github.com/idvauth/idvauth/cmd/idvauth/internal/logincmd"
)

// This file holds what every command that calls the admin API shares: its
// flags, its client, and the printing of the answer as JSON or as text.

// addAdminFlags adds --admin-url and --admin-token to a command group
// whose commands call the admin API.
func addAdminFlags(group *cobra.Command) {
	f := group.PersistentFlags()
	f.String(sAdminURL.Flag, sAdminURL.Def, sAdminURL.Usage+" (env "+sAdminURL.Env+")")
	f.String(sAdminToken.Flag, "", "admin API bearer token (prefer env IDVAUTH_ADMIN_TOKEN: flags show in ps)")
	f.String(sCredentials.Flag, "", sCredentials.Usage+" (env "+sCredentials.Env+")")
}

// newAdminClient builds the admin API client from the admin URL and token
// settings (flag, env, config file).
func newAdminClient(cmd *cobra.Command, env lookupEnv) (*adminapi.Client, error) {
	r, err := newResolver(cmd, env)
	if err != nil {
		return nil, err
	}
	base, _ := r.Get(sAdminURL)
	base = strings.TrimSuffix(base, "/")
	token, _ := r.Get(sAdminToken)
	cfg := adminapi.Config{BaseURL: base, Token: token}
	if token == "" {
		// The operator's own sign-in, from idvauth login.
		if cfg.TokenSource, _, err = credentials(r).TokenSource(base); err != nil {
			return nil, err
		}
	}
	c, err := adminapi.New(cfg)
	switch {
	case errors.Is(err, adminapi.ErrBaseURL):
		return nil, fmt.Errorf("%s: %q is not an http(s) URL", r.Where(sAdminURL), base)
	case errors.Is(err, adminapi.ErrNoToken):
		return nil, errors.New("no admin token: set IDVAUTH_ADMIN_TOKEN (serve --dev prints one), or sign in as an operator with idvauth login")
	}
	return c, err
}

// credentials is the file of idvauth login's tokens that r's settings
// name.
func credentials(r *resolver) logincmd.File {
	p, _ := r.Get(sCredentials)
	return logincmd.File{Path: p}
}

// newLoginCmd is idvauth login.
func newLoginCmd(env lookupEnv) *cobra.Command {
	var file logincmd.File
	cmd := logincmd.New(logincmd.Deps{File: &file, AdminURL: func(cmd *cobra.Command) (string, error) {
		r, err := newResolver(cmd, env)
		if err != nil {
			return "", err
		}
		file = credentials(r)
		base, _ := r.Get(sAdminURL)
		return strings.TrimSuffix(base, "/"), nil
	}})
	f := cmd.Flags()
	f.String(sAdminURL.Flag, sAdminURL.Def, sAdminURL.Usage+" (env "+sAdminURL.Env+")")
	f.String(sCredentials.Flag, "", sCredentials.Usage+" (env "+sCredentials.Env+")")
	return cmd
}

// adminCall is one run of a command that calls the admin API.
type adminCall struct {
	ctx  context.Context
	cmd  *cobra.Command
	out  io.Writer
	api  *adminapi.Client
	json bool // -o json: print the answers as the admin API sent them
}

// adminRunE is the RunE of a command that calls the admin API: it reads
// -o (if the command has it), then runs check (nil: none), the checks of
// the command's flags and arguments that need no server, then builds the
// client and hands all to run.
func adminRunE(env lookupEnv, check func(*cobra.Command, []string) error, run func(*adminCall, []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		asJSON, err := clikit.OutputJSON(cmd)
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(cmd, args); err != nil {
				return err
			}
		}
		api, err := newAdminClient(cmd, env)
		if err != nil {
			return err
		}
		return run(&adminCall{ctx: cmd.Context(), cmd: cmd, out: cmd.OutOrStdout(), api: api, json: asJSON}, args)
	}
}

// show returns what prints the answer of an admin API call: as the API
// sent it with -o json, through text otherwise. A failed call's error is
// returned as it is:
//
//	return show(a, adminapi.WriteUser)(a.api.GetUser(a.ctx, id))
func show[T any](a *adminCall, text func(io.Writer, T) error) func(T, []byte, error) error {
	return func(v T, raw []byte, err error) error {
		if err != nil {
			return held(a, err)
		}
		if a.json {
			_, err := a.out.Write(raw)
			return err
		}
		return text(a.out, v)
	}
}

// showDeleted prints that id was deleted, unless the call failed: the
// admin API answers a delete with no body, so -o json prints
// {"deleted":"ID"}.
func showDeleted(a *adminCall, err error, id, text string) error {
	if err != nil {
		return held(a, err)
	}
	if a.json {
		_, err = fmt.Fprintf(a.out, "{\"deleted\":%s}\n", strconv.Quote(id))
	} else {
		_, err = fmt.Fprintln(a.out, text)
	}
	return err
}

// held prints, with -o json, the pending request of a call that the
// server held for a second operator (four-eyes), and returns err: the
// call has not happened, so the command fails (the error says how to
// approve it).
func held(a *adminCall, err error) error {
	var p *adminapi.Pending
	if a.json && errors.As(err, &p) {
		if _, werr := a.out.Write(p.Raw); werr != nil {
			return werr
		}
	}
	return err
}
