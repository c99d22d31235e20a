// Package logout ends people's browser sessions the OpenID Connect way.
//
// RP-Initiated Logout 1.0: Parse checks an end-session request
// (id_token_hint verified with the server's own keys, expired or not;
// client_id; post_logout_redirect_uri matched exactly against the
// client's registration; state). The login package serves the pages and
// asks Parse and End.
//
// Back-Channel Logout 1.0: every authorization code issued in a browser
// session is recorded with the session (Granted); End logs the session
// out in one store step, which also revokes the access and refresh tokens
// of those grants and queues a logout token delivery for every client
// with a backchannel_logout_uri. Run delivers the queue in the
// background: signed logout tokens (typ logout+jwt) POSTed with bounded
// timeouts, through the outbound policy that keeps requests off the
// server's own network, retried with backoff a bounded number of times,
// each outcome audited. The queue is in the store: with PostgreSQL a
// delivery survives a restart and any replica makes it.
//
// The sid claim of a session is an HMAC of its stored ID under a key
// derived from the server's secrets: stable for the session, the same on
// every replica, and neither guessable nor the cookie value.
package logout
