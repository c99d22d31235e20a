// Package authz assembles the idvauth authorization server. New is the one
// place that wires a server from a Config: the store, the audit trail, the
// key ring and its rotation loop, client authentication (package
// clientauth), the fosite composition (client credentials, authorization
// code with PKCE and OpenID Connect, refresh tokens, introspection,
// revocation), the login pages (package login) and the admin API (package
// admin).
//
// authz itself serves the token, introspection, revocation, userinfo,
// discovery, JWKS and health endpoints, and holds the JWT access-token and
// ID-token strategies and the one adapter between fosite and the store.
// Serve runs both listeners, the janitor and the key loop until its
// context ends.
package authz
