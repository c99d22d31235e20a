package clientauth

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"net/url"

	"github.com/ory/fosite"

	"github.com/idvauth/idvauth/authz/apikeys"
	"github.com/idvauth/idvauth/storage"
)

// authenticateAPIKey authenticates a client_credentials request that
// carries an API key ("Authorization: Bearer idvk_..."): the key's client,
// narrowed to what the key may do. Keys have lock-outs of their own
// (counted under the key's ID, so a guessing attacker cannot lock the
// client out), and the rate limit of their client.
func (a *Authenticator) authenticateAPIKey(ctx context.Context, r *http.Request, form url.Values, key, ip string) (*Client, error) {
	switch {
	case form.Has("client_secret") || form.Has("client_assertion") || form.Has("client_assertion_type"):
		return nil, fosite.ErrInvalidRequest.WithHint("Use one client authentication method, not an API key and another.")
	case form.Get("grant_type") != "client_credentials":
		return nil, fosite.ErrInvalidClient.WithHint("An API key authenticates client_credentials token requests only.")
	}
	addr, _ := netip.ParseAddr(ip)
	c, k, err := a.APIKey(ctx, r, key, addr)
	if err != nil {
		return nil, err
	}
	if cid := form.Get("client_id"); cid != "" && cid != k.ClientID {
		return nil, fosite.ErrInvalidRequest.WithHint("The client_id in the body is not the API key's client.")
	}
	a.noteCertificate(r, c)
	if c, err = a.admit(ctx, r, c, apiKeyLockID(key), ip); err != nil {
		return nil, err
	}
	a.cfg.APIKeys.NoteUse(k.ID)
	return c, nil
}

// apiKeyLockID names the failure counters of an API key: its ID, so that
// guessing a key's secret cannot lock its client out.
func apiKeyLockID(key string) string {
	id, _, ok := apikeys.Parse(key)
	if !ok {
		id = "malformed"
	}
	return "apikey:" + id
}

// APIKey checks an API key presented on r, whose holder sent it from src
// (r's own address at the token endpoint; the address a resource server
// got it from at introspection), under the lock-out counted for the
// key's ID and r's address. It returns the key's client narrowed to what
// the key may do, and the key. A wrong, unknown or expired key, or one
// sent from outside its networks, is invalid_client; a key that is
// cooling off, 429; a store failure, temporarily_unavailable.
func (a *Authenticator) APIKey(ctx context.Context, r *http.Request, key string, src netip.Addr) (*Client, storage.APIKey, error) {
	if a.cfg.APIKeys == nil {
		return nil, storage.APIKey{}, fosite.ErrInvalidClient
	}
	lockID, ip := apiKeyLockID(key), a.cfg.IPs.String(r)
	if wait, err := a.clientLocked(ctx, lockID, ip); err != nil {
		return nil, storage.APIKey{}, fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error())
	} else if wait > 0 {
		return nil, storage.APIKey{}, a.coolingOff(r, wait)
	}
	k, err := a.cfg.APIKeys.Check(ctx, key, src)
	switch {
	case errors.Is(err, apikeys.ErrInvalid), errors.Is(err, apikeys.ErrNetwork):
		return nil, storage.APIKey{}, a.fail(ctx, lockID, ip, "API key", err)
	case err != nil:
		return nil, storage.APIKey{}, fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error())
	}
	c, err := a.LoadClient(ctx, k.ClientID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, storage.APIKey{}, a.fail(ctx, lockID, ip, "API key of a deleted client", err)
	case err != nil:
		return nil, storage.APIKey{}, fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error())
	}
	return c.withAPIKey(k), k, nil
}
