// Package authz assembles the idvauth authorization server: the fosite
// composition (client credentials, introspection, revocation), the JWT
// access-token strategy on the key ring, the public OAuth 2.0 endpoints,
// discovery and JWKS, health checks, and the admin API.
//
// New is the one place that wires a server from a Config.
package authz
