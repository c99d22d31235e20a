package authz

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/keys"
)

// notifyKeysChanged wakes the key loop; it never blocks.
func (s *Server) notifyKeysChanged() {
	select {
	case s.keysChanged <- struct{}{}:
	default:
	}
}

// MaintainKeys reloads the signing keys and takes every rotation step that
// is due; Serve calls it every KeyCheckInterval.
func (s *Server) MaintainKeys(ctx context.Context) error {
	before := s.activeKIDs()
	changed, err := s.ring.Maintain(ctx)
	if err != nil {
		return fmt.Errorf("authz: key rotation: %w", err)
	}
	if changed {
		s.logKeyChange("signing keys rotated", before)
	}
	return nil
}

// ReloadKeys reads the signing keys again, as after another replica's
// change.
func (s *Server) ReloadKeys(ctx context.Context) error {
	before := s.activeKIDs()
	if err := s.ring.Reload(ctx); err != nil {
		return fmt.Errorf("authz: reload keys: %w", err)
	}
	s.logKeyChange("signing keys reloaded", before)
	return nil
}

func (s *Server) activeKIDs() map[string]string {
	m := make(map[string]string)
	for _, alg := range keys.Algorithms() {
		if k, err := s.ring.Active(alg); err == nil {
			m[alg] = k.ID
		}
	}
	return m
}

// logKeyChange logs the active keys if they differ from before. Key IDs
// are public (they are in the JWKS).
func (s *Server) logKeyChange(msg string, before map[string]string) {
	after := s.activeKIDs()
	for alg, kid := range after {
		if before[alg] != kid {
			s.log.Info(msg, zap.String("alg", alg), zap.String("active_kid", kid), zap.String("previous_kid", before[alg]))
		}
	}
}

// runKeys keeps the key ring current until ctx is done: a reload at once
// when the store reports a change, and a reload with any due rotation
// step every KeyCheckInterval.
func (s *Server) runKeys(ctx context.Context) {
	t := time.NewTicker(s.cfg.KeyCheckInterval)
	defer t.Stop()
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case <-s.keysChanged:
			err = s.ReloadKeys(ctx)
		case <-t.C:
			err = s.MaintainKeys(ctx)
		}
		if err != nil && ctx.Err() == nil {
			s.log.Warn("signing keys not refreshed; retrying", zap.Error(err))
		}
	}
}

func (s *Server) keyList() KeyList {
	out := KeyList{Keys: []KeyJSON{}}
	for _, k := range s.ring.Records() {
		out.Keys = append(out.Keys, KeyJSON{
			KID: k.ID, Alg: k.Alg, State: k.State,
			CreatedAt: rfc3339(k.CreatedAt), ActivatedAt: rfc3339(k.ActivatedAt), RetiredAt: rfc3339(k.RetiredAt),
		})
	}
	return out
}

func (s *Server) adminKeys(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		web.MethodNotAllowed(w, "GET")
		return
	}
	if err := s.ring.Reload(r.Context()); err != nil {
		s.writeAdminError(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, s.keyList())
}

func (s *Server) adminRotateKeys(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		web.MethodNotAllowed(w, "POST")
		return
	}
	var in RotateKeysRequest
	if err := web.DecodeJSON(w, r, &in); err != nil {
		s.writeAdminError(w, r, err)
		return
	}
	algs := keys.Algorithms()
	if in.Alg != "" {
		if !keys.ValidAlg(in.Alg) {
			s.writeAdminError(w, r, badRequest(fmt.Sprintf("alg must be one of %s.", strings.Join(algs, ", "))))
			return
		}
		algs = []string{in.Alg}
	}
	for _, alg := range algs {
		before := s.activeKIDs()[alg]
		k, err := s.ring.RotateNow(r.Context(), alg)
		if err != nil {
			s.writeAdminError(w, r, err)
			return
		}
		s.log.Info("signing key rotated by the operator", web.RequestField(r.Context()),
			zap.String("alg", alg), zap.String("active_kid", k.ID), zap.String("previous_kid", before))
	}
	web.WriteJSON(w, http.StatusOK, s.keyList())
}

func (s *Server) adminRetireKey(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		web.MethodNotAllowed(w, "POST")
		return
	}
	var in RetireKeyRequest
	if err := web.DecodeJSON(w, r, &in); err != nil {
		s.writeAdminError(w, r, err)
		return
	}
	kid := r.PathValue("kid")
	err := s.ring.Retire(r.Context(), kid, in.RevokeTokens)
	if errors.Is(err, keys.ErrNoSuchKey) {
		web.WriteError(w, http.StatusNotFound, "not_found", "No such key.")
		return
	}
	if err != nil {
		s.writeAdminError(w, r, err)
		return
	}
	s.log.Info("signing key retired by the operator", web.RequestField(r.Context()),
		zap.String("kid", kid), zap.Bool("revoke_tokens", in.RevokeTokens))
	web.WriteJSON(w, http.StatusOK, s.keyList())
}

// Reencrypt seals every signing key in the store under the first of
// secrets, so that the others can be dropped; it returns how many keys it
// rewrote. It works on the store directly, without a running server.
func Reencrypt(ctx context.Context, databaseURL string, secrets []string) (int, error) {
	sealer, err := keys.NewSealer(secrets, nil)
	if err != nil {
		return 0, fmt.Errorf("authz: %w", err)
	}
	st, err := openStore(ctx, Config{DatabaseURL: databaseURL}, zap.NewNop(), nil, nil)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	return keys.Reencrypt(ctx, st, sealer)
}
