package authz

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/idvauth/idvauth/authz/apikeys"
	"github.com/idvauth/idvauth/authz/clientauth"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/storage"
)

// apiKeyUseInterval is how often the last use of API keys is stored.
const apiKeyUseInterval = 10 * time.Second

// introspectAPIKey answers the introspection of an API key (RFC 7662 with
// token_type "api_key"). The resource server names the address it got the
// key from in source_ip; a key bound to networks is active only with one
// of them. The key counts as active for caller only if their audiences
// meet, as for tokens. It returns false (having answered nothing) when
// the key is not active, for the caller's inactive answer.
func (s *Server) introspectAPIKey(ctx context.Context, w http.ResponseWriter, r *http.Request, caller *clientauth.Client, key string, scopes []string, e *storage.AuditEntry) bool {
	src, _ := netip.ParseAddr(r.PostForm.Get("source_ip"))
	c, k, err := s.clients.APIKey(ctx, r, key, src)
	switch {
	case err == nil:
	case fosite.ErrorToRFC6749Error(err).CodeField >= 500:
		web.LogFosite(ctx, s.log, "introspect", err)
		web.WriteUnavailable(w, "The token could not be checked; retry.")
		return true
	default:
		return false
	}
	e.Details["api_key_id"] = k.ID
	if !slices.ContainsFunc(c.Audience, func(a string) bool { return slices.Contains(caller.IntrospectionAudiences(), a) }) {
		e.Details["reason"] = "audience"
		return false
	}
	for _, sc := range scopes {
		if !slices.Contains(c.Rec.Scopes, sc) {
			return false
		}
	}
	resp := introspection{
		Active: true, Scope: strings.Join(c.Rec.Scopes, " "), ClientID: k.ClientID, Subject: k.ClientID,
		Audience: c.Audience, Issuer: s.cfg.Issuer, Expiry: k.ExpiresAt.Unix(), IssuedAt: k.CreatedAt.Unix(),
		TokenType: apikeys.TokenType,
	}
	e.Subject = k.ClientID
	e.Details = map[string]string{"active": "true", "api_key_id": k.ID, "token_client_id": k.ClientID}
	if s.trail.AppendRead(ctx, *e) != nil {
		web.WriteUnavailable(w, "The request could not be recorded; retry.")
		return true
	}
	s.apiKeys.NoteUse(k.ID)
	_ = json.NewEncoder(w).Encode(resp)
	s.metrics.Introspected(true)
	return true
}
