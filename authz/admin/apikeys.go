package admin

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/apikeys"
	"github.com/idvauth/idvauth/authz/internal/adminauth"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/storage"
)

// API key limits.
const (
	// DefaultAPIKeyTTL is the lifetime of a key created without one.
	DefaultAPIKeyTTL = 90 * 24 * time.Hour
	// DefaultAPIKeyGrace is how long a rotated key keeps working.
	DefaultAPIKeyGrace = 24 * time.Hour
	// MaxAPIKeyGrace bounds the grace period of a rotation.
	MaxAPIKeyGrace = 30 * 24 * time.Hour
	maxAPIKeys     = 50
	maxNetworks    = 20
	maxKeyName     = 100
)

// apiKeys serves /admin/clients/{id}/api-keys: list and create.
func (h *Handler) apiKeys(w http.ResponseWriter, r *http.Request) (reply, error) {
	ctx, clientID := r.Context(), r.PathValue("id")
	switch r.Method {
	case http.MethodGet:
		if _, err := h.store.GetClient(ctx, clientID); err != nil {
			return reply{}, err
		}
		list, err := h.store.ListAPIKeys(ctx, clientID)
		if err != nil {
			return reply{}, err
		}
		out := adminapi.APIKeyList{APIKeys: make([]adminapi.APIKeyJSON, 0, len(list))}
		for _, k := range list {
			out.APIKeys = append(out.APIKeys, apiKeyJSON(k, ""))
		}
		return ok(out)
	case http.MethodPost:
		if err := builtinRefused(clientID); err != nil {
			return reply{}, err
		}
		var in adminapi.APIKeyCreate
		if err := web.DecodeJSON(w, r, &in); err != nil {
			return reply{}, err
		}
		k, err := h.newAPIKey(ctx, clientID, in)
		if err != nil {
			return reply{}, err
		}
		key, id, digest := apikeys.New()
		k.ID, k.Digest = id, digest
		if err := h.store.CreateAPIKey(ctx, k); err != nil {
			return reply{}, err
		}
		h.log.Info("API key created", web.RequestField(ctx), clientField(clientID), keyField(id))
		w.Header().Set("Location", "/admin/clients/"+clientID+"/api-keys/"+id)
		return reply{status: http.StatusCreated, body: apiKeyJSON(k, key), event: apiKeyEvent(adminapi.EventAPIKeyCreated, k)}, nil
	}
	return methodNotAllowed(w, "GET, POST")
}

// apiKey serves /admin/clients/{id}/api-keys/{key}: revoke.
func (h *Handler) apiKey(w http.ResponseWriter, r *http.Request) (reply, error) {
	if r.Method != http.MethodDelete {
		return methodNotAllowed(w, "DELETE")
	}
	ctx, clientID, id := r.Context(), r.PathValue("id"), r.PathValue("key")
	k, err := h.store.GetAPIKey(ctx, id)
	if err != nil || k.ClientID != clientID {
		return reply{}, notFoundErr("API key " + id + " of client " + clientID)
	}
	if err := h.store.DeleteAPIKey(ctx, clientID, id); err != nil {
		return reply{}, err
	}
	h.log.Info("API key revoked", web.RequestField(ctx), clientField(clientID), keyField(id))
	return reply{status: http.StatusNoContent, event: apiKeyEvent(adminapi.EventAPIKeyRevoked, k)}, nil
}

// rotateAPIKey serves /admin/clients/{id}/api-keys/{key}/rotate: a new key
// like the old one, which keeps working for the grace period.
func (h *Handler) rotateAPIKey(w http.ResponseWriter, r *http.Request) (reply, error) {
	if r.Method != http.MethodPost {
		return methodNotAllowed(w, "POST")
	}
	ctx, clientID, id := r.Context(), r.PathValue("id"), r.PathValue("key")
	var in adminapi.APIKeyRotate
	if r.ContentLength != 0 {
		if err := web.DecodeJSON(w, r, &in); err != nil {
			return reply{}, err
		}
	}
	grace := DefaultAPIKeyGrace
	if in.GracePeriod != nil {
		if *in.GracePeriod < 0 || *in.GracePeriod > int64(MaxAPIKeyGrace/time.Second) {
			return reply{}, badRequest("grace_period must be from 0 to " + strconv.FormatInt(int64(MaxAPIKeyGrace/time.Second), 10) + " seconds.")
		}
		grace = time.Duration(*in.GracePeriod) * time.Second
	}
	old, err := h.store.GetAPIKey(ctx, id)
	if err != nil || old.ClientID != clientID {
		return reply{}, notFoundErr("API key " + id + " of client " + clientID)
	}
	now := h.now().Truncate(time.Second)
	if !now.Before(old.ExpiresAt) {
		return reply{}, web.NewError(http.StatusConflict, "conflict", "The API key has expired; create a new one.")
	}
	next := old
	key, nid, digest := apikeys.New()
	next.ID, next.Digest, next.CreatedAt, next.LastUsedAt, next.ReplacedBy = nid, digest, now, time.Time{}, ""
	next.ExpiresAt = now.Add(min(old.ExpiresAt.Sub(old.CreatedAt), h.cfg.MaxAPIKeyTTL))
	if err := h.store.RotateAPIKey(ctx, id, now.Add(grace), next); err != nil {
		return reply{}, err
	}
	h.log.Info("API key rotated", web.RequestField(ctx), clientField(clientID), keyField(id))
	ev := apiKeyEvent(adminapi.EventAPIKeyRotated, next)
	oldEnd := now.Add(grace)
	if old.ExpiresAt.Before(oldEnd) {
		oldEnd = old.ExpiresAt
	}
	ev.details["replaces"], ev.details["old_expires_at"] = id, rfc3339(oldEnd)
	return reply{status: http.StatusCreated, body: apiKeyJSON(next, key), event: ev}, nil
}

// newAPIKey checks in for a new key of the client clientID.
func (h *Handler) newAPIKey(ctx context.Context, clientID string, in adminapi.APIKeyCreate) (storage.APIKey, error) {
	c, err := h.store.GetClient(ctx, clientID)
	if err != nil {
		return storage.APIKey{}, err
	}
	if !slices.Contains(c.GrantTypes, "client_credentials") || c.TokenEndpointAuthMethod == "none" {
		return storage.APIKey{}, badRequest("API keys are for confidential clients with the client_credentials grant.")
	}
	if list, err := h.store.ListAPIKeys(ctx, clientID); err != nil {
		return storage.APIKey{}, err
	} else if len(list) >= maxAPIKeys {
		return storage.APIKey{}, badRequest("The client has " + strconv.Itoa(maxAPIKeys) + " API keys, the most it may have; revoke one first.")
	}
	if err := validKeyName(in.Name); err != nil {
		return storage.APIKey{}, err
	}
	// An API key is a shared secret: it never carries an admin scope.
	k := storage.APIKey{ClientID: clientID, Name: in.Name, Scopes: slices.DeleteFunc(slices.Clone(c.Scopes), adminauth.IsAdminScope), Audience: []string{}}
	if in.Scope != "" {
		k.Scopes = strings.Fields(in.Scope)
		for _, sc := range k.Scopes {
			if !slices.Contains(c.Scopes, sc) {
				return storage.APIKey{}, badRequest("The client does not have the scope '" + web.SafeParam(sc) + "'.")
			}
			if adminauth.IsAdminScope(sc) {
				return storage.APIKey{}, badRequest("An API key is a shared secret and cannot carry the admin scope '" + web.SafeParam(sc) + "'.")
			}
		}
		k.Scopes = slices.Compact(k.Scopes)
	}
	for _, a := range in.Audience {
		if !slices.Contains(c.Audience, a) {
			return storage.APIKey{}, badRequest("The client is not registered for the audience '" + web.SafeParam(a) + "'.")
		}
	}
	if len(in.Audience) > 0 {
		k.Audience = slices.Compact(slices.Clone(in.Audience))
	}
	if len(in.Networks) > maxNetworks {
		return storage.APIKey{}, badRequest("At most " + strconv.Itoa(maxNetworks) + " networks.")
	}
	if k.Networks, err = apikeys.ParseNetworks(in.Networks); err != nil {
		return storage.APIKey{}, badRequest("networks: " + web.SafeParam(err.Error()))
	}
	ttl := DefaultAPIKeyTTL
	if in.ExpiresIn != 0 {
		if in.ExpiresIn < 60 || in.ExpiresIn > int64(h.cfg.MaxAPIKeyTTL/time.Second) {
			return storage.APIKey{}, badRequest("expires_in must be from 60 to " + strconv.FormatInt(int64(h.cfg.MaxAPIKeyTTL/time.Second), 10) + " seconds.")
		}
		ttl = time.Duration(in.ExpiresIn) * time.Second
	}
	ttl = min(ttl, h.cfg.MaxAPIKeyTTL)
	k.CreatedAt = h.now().Truncate(time.Second)
	k.ExpiresAt = k.CreatedAt.Add(ttl)
	return k, nil
}

// DefaultMaxAPIKeyTTL bounds the lifetime of API keys unless configured.
const DefaultMaxAPIKeyTTL = 365 * 24 * time.Hour

// validKeyName checks a key's name: 1 to 100 printable characters.
func validKeyName(name string) error {
	if name == "" || utf8.RuneCountInString(name) > maxKeyName || !utf8.ValidString(name) ||
		strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return badRequest("name must be 1 to " + strconv.Itoa(maxKeyName) + " printable characters.")
	}
	return nil
}

func apiKeyJSON(k storage.APIKey, key string) adminapi.APIKeyJSON {
	out := adminapi.APIKeyJSON{
		ID: k.ID, ClientID: k.ClientID, Name: k.Name, Key: key, Scope: strings.Join(k.Scopes, " "),
		Audience: nonNilList(k.Audience), Networks: nonNilList(k.Networks), CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, ReplacedBy: k.ReplacedBy,
	}
	if !k.LastUsedAt.IsZero() {
		t := k.LastUsedAt
		out.LastUsedAt = &t
	}
	return out
}

func apiKeyEvent(typ string, k storage.APIKey) *event {
	return &event{typ: typ, clientID: k.ClientID, details: map[string]string{
		"api_key_id": k.ID, "scope": strings.Join(k.Scopes, " "), "expires_at": rfc3339(k.ExpiresAt),
	}}
}

func nonNilList(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func notFoundErr(what string) *web.Error {
	return web.NewError(http.StatusNotFound, "not_found", "No such resource: "+web.SafeParam(what)+".")
}

func keyField(id string) zap.Field { return zap.String("api_key_id", id) }
