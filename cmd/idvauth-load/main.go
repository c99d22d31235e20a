package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Environment variables that may carry the secrets instead of the flags.
const (
	envClientSecret     = "IDVAUTH_LOAD_CLIENT_SECRET"
	envIntrospectSecret = "IDVAUTH_LOAD_INTROSPECT_SECRET"
	envAPIKey           = "IDVAUTH_LOAD_API_KEY"
)

// errNoSuccess is returned, after the report, when no request succeeded.
var errNoSuccess = errors.New("no request succeeded")

func main() {
	if err := run(os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "idvauth-load: %v\n", err)
		os.Exit(1)
	}
}

// run parses args, with secrets from getenv when their flags are empty,
// runs the load until it ends or an interrupt arrives, and writes the
// report, or the usage for -help, to stdout. It returns errNoSuccess,
// wrapped, if no request succeeded.
func run(args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, output, err := parseArgs(args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := load(ctx, cfg)
	if err != nil {
		return err
	}
	if output == "json" {
		err = writeJSON(stdout, r)
	} else {
		err = writeText(stdout, r)
	}
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if r.OK == 0 {
		return fmt.Errorf("%w (%d requests, %d errors)", errNoSuccess, r.Requests, r.Errors)
	}
	return nil
}

// parseArgs maps args and the environment to a config and an output
// format. For -help it writes the usage to stdout and returns flag.ErrHelp.
func parseArgs(args []string, getenv func(string) string, stdout io.Writer) (config, string, error) {
	var (
		cfg                            config
		output                         string
		clientSecret, introspectSecret string
	)
	fs := flag.NewFlagSet("idvauth-load", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned; -help goes to stdout
	fs.StringVar(&cfg.Target, "target", "http://127.0.0.1:8080", "base `URL` of the idvauth server; the host must be loopback")
	fs.StringVar(&cfg.Mode, "mode", modeToken, "what to load: token (client_credentials grants) or introspect")
	fs.IntVar(&cfg.Workers, "workers", 8, fmt.Sprintf("concurrent workers, 1 to %d", maxWorkers))
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, fmt.Sprintf("how long to run, at most %v", maxDuration))
	fs.Int64Var(&cfg.Requests, "requests", 0, "stop after this many requests; 0 means no cap (-duration still bounds the run)")
	fs.StringVar(&cfg.ClientID, "client-id", "", "`client` that requests tokens, with client_secret_basic")
	fs.StringVar(&clientSecret, "client-secret", "", "`secret` of -client-id; prefer "+envClientSecret+", which ps does not show")
	fs.StringVar(&cfg.IntrospectClientID, "introspect-client-id", "", "`client` that calls introspection in introspect mode")
	fs.StringVar(&introspectSecret, "introspect-client-secret", "", "`secret` of -introspect-client-id; prefer "+envIntrospectSecret)
	fs.StringVar(&cfg.Scope, "scope", "", "space-separated `scopes` to request with each token")
	fs.BoolVar(&cfg.DPoP, "dpop", false, "token mode: send a DPoP proof (RFC 9449, ES256, one key per worker, a fresh proof per request) and expect DPoP tokens; -target must be the issuer's URL (the proofs' htu)")
	fs.IntVar(&cfg.Tokens, "tokens", 64, fmt.Sprintf("introspect mode: distinct tokens to fetch first and cycle through, 1 to %d", maxTokens))
	fs.IntVar(&cfg.ServerPID, "server-pid", 0, "`PID` of the server, on this machine: report its CPU time per request (from /proc)")
	fs.StringVar(&output, "o", "text", "output `format`: text or json")
	fs.Usage = func() { usage(fs) }

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return config{}, "", err
		}
		return config{}, "", fmt.Errorf("%w (see -help)", err)
	}
	if fs.NArg() > 0 {
		return config{}, "", fmt.Errorf("unexpected argument %q (see -help)", fs.Arg(0))
	}
	if output != "text" && output != "json" {
		return config{}, "", fmt.Errorf("output format %q: want text or json", output)
	}
	if clientSecret == "" {
		clientSecret = getenv(envClientSecret)
	}
	if introspectSecret == "" {
		introspectSecret = getenv(envIntrospectSecret)
	}
	cfg.ClientSecret = secret(clientSecret)
	cfg.IntrospectClientSecret = secret(introspectSecret)
	cfg.APIKey = secret(getenv(envAPIKey))
	return cfg, output, nil
}

// usage writes the help text of fs to its output.
func usage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprintf(w, `Usage: idvauth-load [flags]

Send a bounded load of OAuth 2.0 requests to an idvauth server on loopback
and report throughput, latency (p50, p90, p99, max) and the CPU time per
request of the load tool and, with -server-pid, of the server: on a shared
machine, the two figures say how much of its cores each took. The run stops by
itself after -duration or -requests, whichever comes first. Targets that
are not loopback (127.0.0.0/8, ::1, localhost) are refused.

Examples:
  read -rs %[1]s && export %[1]s
  idvauth-load -mode token -workers 8 -duration 10s -client-id demo-service

  idvauth-load -mode introspect -client-id demo-service \
    -introspect-client-id demo-api -tokens 64 -requests 100000 -o json

  # Server and load tool CPU per request, beside throughput and latency
  idvauth-load -mode token -workers 32 -duration 8s -client-id demo-service \
    -server-pid "$(pgrep -x idvauth)"

  # Introspect an API key instead of tokens
  read -rs %[3]s && export %[3]s
  idvauth-load -mode introspect -introspect-client-id demo-api -duration 8s

Environment:
  %[1]s      secret of -client-id (a non-empty flag wins)
  %[2]s  secret of -introspect-client-id (a non-empty flag wins)
  %[3]s            introspect mode: an API key to introspect instead of tokens

Flags:
`, envClientSecret, envIntrospectSecret, envAPIKey)
	fs.PrintDefaults()
}
