// Command idvauth-load sends a bounded load of OAuth 2.0 requests to an
// idvauth server on loopback and reports throughput and latency. It is the
// tool behind the "measured, never assumed" numbers of the hot path: run it
// beside the signing benchmark of the same machine and compare ratios, not
// absolutes.
//
// It has two modes:
//
//   - token: every request is a client_credentials grant, a POST to
//     {target}/oauth2/token authenticated with client_secret_basic as
//     -client-id. A request succeeds on HTTP 200 with an "access_token" in
//     the body. With -dpop each request also carries a DPoP proof (RFC
//     9449): every worker has an ES256 key of its own and signs a fresh
//     proof per request (a random jti, iat now, htm POST, htu the target's
//     token URL, so -target must be the issuer's URL and server nonces
//     off); a request succeeds only if the answer's token_type is DPoP.
//   - introspect: idvauth-load first fetches -tokens access tokens as
//     -client-id, then POSTs them round-robin to {target}/oauth2/introspect,
//     authenticated with HTTP Basic as -introspect-client-id. A request
//     succeeds on HTTP 200 with "active": true; an inactive answer counts as
//     an error.
//
// Usage:
//
//	read -rs IDVAUTH_LOAD_CLIENT_SECRET && export IDVAUTH_LOAD_CLIENT_SECRET
//	idvauth-load -mode token -workers 8 -duration 10s -client-id demo-service
//
// The secrets come from -client-secret and -introspect-client-secret or, so
// that they need not appear in ps, from IDVAUTH_LOAD_CLIENT_SECRET and
// IDVAUTH_LOAD_INTROSPECT_SECRET; a non-empty flag wins over the variable.
// Neither a secret nor a token is ever printed.
//
// The tool is safe to leave in a script: it refuses any target whose host is
// not localhost or a loopback address (127.0.0.0/8, ::1) before sending a
// request, dials only loopback addresses, ignores proxy settings and does not
// follow redirects. Every run ends by itself after -duration (at most 10m) or
// -requests requests, whichever comes first; an interrupt ends it early and
// still prints the report.
//
// The report gives the mode, workers, the duration actually run, the
// requests sent, how many succeeded and failed (with up to five error kinds,
// such as status_401, inactive or timeout), the successful requests per
// second and the p50, p90, p99 and maximum latency of all requests. With
// -o json it is one JSON object:
//
//	idvauth-load -mode introspect -client-id demo-service -introspect-client-id demo-api -o json
//
// idvauth-load exits with status 1 if no request succeeded.
package main
