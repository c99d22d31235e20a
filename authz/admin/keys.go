package admin

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/keys"
)

// keyList is the ring's keys as the admin API shows them.
func (h *Handler) keyList() adminapi.KeyList {
	out := adminapi.KeyList{Keys: []adminapi.KeyJSON{}}
	for _, k := range h.cfg.Keys.Records() {
		out.Keys = append(out.Keys, adminapi.KeyJSON{
			KID: k.ID, Alg: k.Alg, State: k.State,
			CreatedAt: rfc3339(k.CreatedAt), ActivatedAt: rfc3339(k.ActivatedAt), RetiredAt: rfc3339(k.RetiredAt),
		})
	}
	return out
}

// keys serves GET /admin/keys.
func (h *Handler) keys(w http.ResponseWriter, r *http.Request) (reply, error) {
	if r.Method != http.MethodGet {
		return methodNotAllowed(w, "GET")
	}
	if err := h.cfg.Keys.Reload(r.Context()); err != nil {
		return reply{}, err
	}
	return ok(h.keyList())
}

// rotateKeys serves POST /admin/keys/rotate: {} rotates every algorithm,
// {"alg": "ES256"} one.
func (h *Handler) rotateKeys(w http.ResponseWriter, r *http.Request) (reply, error) {
	if r.Method != http.MethodPost {
		return methodNotAllowed(w, "POST")
	}
	var in adminapi.RotateKeysRequest
	if err := web.DecodeJSON(w, r, &in); err != nil {
		return reply{}, err
	}
	algs := keys.Algorithms()
	if in.Alg != "" {
		if !keys.ValidAlg(in.Alg) {
			return reply{}, badRequest(fmt.Sprintf("alg must be one of %s.", strings.Join(algs, ", ")))
		}
		algs = []string{in.Alg}
	}
	for _, alg := range algs {
		var before string
		if k, err := h.cfg.Keys.Active(alg); err == nil {
			before = k.ID
		}
		k, err := h.cfg.Keys.RotateNow(r.Context(), alg)
		if err != nil {
			return reply{}, err
		}
		h.log.Info("signing key rotated by the operator", web.RequestField(r.Context()),
			zap.String("alg", alg), zap.String("active_kid", k.ID), zap.String("previous_kid", before))
	}
	return ok(h.keyList())
}

// retireKey serves POST /admin/keys/{kid}/retire.
func (h *Handler) retireKey(w http.ResponseWriter, r *http.Request) (reply, error) {
	if r.Method != http.MethodPost {
		return methodNotAllowed(w, "POST")
	}
	var in adminapi.RetireKeyRequest
	if err := web.DecodeJSON(w, r, &in); err != nil {
		return reply{}, err
	}
	kid := r.PathValue("kid")
	err := h.cfg.Keys.Retire(r.Context(), kid, in.RevokeTokens)
	if errors.Is(err, keys.ErrNoSuchKey) {
		return reply{}, web.NewError(http.StatusNotFound, "not_found", "No such key.")
	}
	if err != nil {
		return reply{}, err
	}
	h.log.Info("signing key retired by the operator", web.RequestField(r.Context()),
		zap.String("kid", kid), zap.Bool("revoke_tokens", in.RevokeTokens))
	return ok(h.keyList())
}
