package authz

import (
	"context"
	"errors"
	"net/http"

	"github.com/ory/fosite"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/clientauth"
	"github.com/idvauth/idvauth/authz/fapi"
	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/storage"
)

// handleRevoke serves /oauth2/revoke (RFC 7009). A client can revoke only
// its own tokens; a token that is unknown, invalid or another client's is
// answered 200 and left alone, as RFC 7009 section 2.2 asks. A store
// failure is a 503, never a 200 that did not revoke.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if oe := web.ReadForm(w, r); oe != nil {
		oe.Write(w)
		return
	}
	if !s.dpop.CheckEndpoint(w, r, s.cfg.Issuer+"/oauth2/revoke") {
		return
	}
	if !r.PostForm.Has("token") {
		web.WriteError(w, http.StatusBadRequest, "invalid_request", "The 'token' parameter is missing.")
		return
	}
	// The client authenticates here, not inside fosite, so that its ID
	// reaches the audit entry (a client_assertion need not name it).
	cid := clientauth.ClaimedID(r)
	caller, err := fapi.Authenticate(s.cfg.Profile, s.clients.Authenticate)(ctx, r, r.PostForm)
	if err == nil {
		cid = caller.GetID()
		err = revokeToken(ctx, s.revokers, r.PostForm.Get("token"), fosite.TokenType(r.PostForm.Get("token_type_hint")), caller)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	e := storage.AuditEntry{Type: adminapi.EventTokenRevoked, Actor: audit.Anonymous, ClientID: cid, IP: s.ips.String(r),
		Details: map[string]string{"token_type_hint": web.Truncate(r.PostForm.Get("token_type_hint"), 32)}}
	switch {
	case err == nil:
		e.Actor = audit.Client(cid)
	case errors.Is(err, fosite.ErrUnauthorizedClient):
		// Another client's token: answered 200 and left alone.
		e.Actor, e.Outcome = audit.Client(cid), "not_own_token"
	default:
		e.Outcome = fosite.ErrorToRFC6749Error(err).ErrorField
	}
	if e.Outcome != "too_many_requests" && s.trail.Append(ctx, e) != nil {
		web.WriteError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The request could not be recorded; retry.")
		return
	}
	switch {
	case err == nil, errors.Is(err, fosite.ErrUnauthorizedClient):
		w.WriteHeader(http.StatusOK)
	default:
		web.LogFosite(ctx, s.log, "revoke", err)
		if errors.Is(err, fosite.ErrTemporarilyUnavailable) || fosite.ErrorToRFC6749Error(err).CodeField >= 500 {
			web.WriteError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The token could not be revoked; retry.")
			return
		}
		writeFositeJSON(w, err)
	}
}

// revokeToken runs the revocation handlers on token for the authenticated
// client, as fosite's NewRevocationRequest does after it authenticated the
// client itself: a token no handler knows is fine (RFC 7009 section 2.2).
func revokeToken(ctx context.Context, handlers fosite.RevocationHandlers, token string, hint fosite.TokenType, c fosite.Client) error {
	for _, h := range handlers {
		if err := h.RevokeToken(ctx, token, hint, c); err != nil && !errors.Is(err, fosite.ErrUnknownRequest) {
			return err
		}
	}
	return nil
}
