// Package adminapi is the admin API of idvauth as its callers see it: the
// JSON types of its requests and answers, the names of audit events, and
// Client, a Go client for its routes.
//
// The server (package authz) answers with these types; the idvauth CLI
// calls it through Client. Nothing here knows the server's internals: the
// package imports only the standard library.
//
// Every answer is JSON. A refusal is {"error": "...",
// "error_description": "..."} with a 4xx or 5xx status, which Client
// returns as an *Error.
package adminapi
