package logout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/fapi"
	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/keys"
	"github.com/idvauth/idvauth/storage"
)

// EventBackchannel is the events claim member of a logout token.
const EventBackchannel = "http://schemas.openid.net/event/backchannel-logout"

// batch is how many deliveries are claimed, and made at once, per round.
const batch = 16

// Run delivers queued logout tokens until ctx is done: at once when End
// queues some, and every PollInterval for those left by another replica,
// a failed attempt, or an earlier run. Deliveries in flight when ctx ends
// stay queued (their lease runs out) and are made by the next run.
func (s *Service) Run(ctx context.Context) {
	tick := time.NewTicker(s.cfg.PollInterval)
	defer tick.Stop()
	for {
		for s.deliverDue(ctx) == batch && ctx.Err() == nil {
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-tick.C:
		}
	}
}

// deliverDue claims the deliveries due now and makes them side by side;
// it returns how many it claimed.
func (s *Service) deliverDue(ctx context.Context) int {
	// The lease outlasts an attempt, so that no replica claims one still
	// in flight.
	due, err := s.cfg.Store.ClaimLogoutDeliveries(ctx, s.now(), 2*s.cfg.Timeout+time.Second, batch)
	if err != nil {
		if ctx.Err() == nil {
			s.cfg.Log.Warn("claim back-channel logout deliveries", zap.Error(err))
		}
		return 0
	}
	var wg sync.WaitGroup
	for _, d := range due {
		wg.Go(func() { s.deliver(ctx, d) })
	}
	wg.Wait()
	return len(due)
}

// deliver makes one attempt of d and records its outcome: finished when
// delivered, dropped (client gone, or no longer registered for it) or out
// of attempts; otherwise due again after a backoff.
func (s *Service) deliver(ctx context.Context, d storage.LogoutDelivery) {
	c, err := s.cfg.Store.GetClient(ctx, d.ClientID)
	if errors.Is(err, storage.ErrNotFound) || err == nil && c.BackchannelLogoutURI == "" {
		s.finish(ctx, d, "dropped", "the client is gone or has no backchannel_logout_uri")
		return
	}
	if err != nil {
		s.cfg.Log.Warn("back-channel logout: read client", zap.String("client_id", d.ClientID), zap.Error(err))
		return // claimed: due again when the lease ends
	}
	jti, status, err := s.post(ctx, c, d)
	if ctx.Err() != nil {
		return // shutting down: left queued
	}
	if err == nil {
		s.finish(ctx, d, "delivered", "", "jti", jti)
		return
	}
	attempts := d.Attempts + 1
	reason := err.Error()
	if attempts >= s.cfg.MaxAttempts {
		s.finish(ctx, d, "failed", reason, "jti", jti, "attempts", strconv.Itoa(attempts), "status", status)
		return
	}
	wait := min(s.cfg.RetryBase<<(attempts-1), maxRetryDelay)
	if err := s.cfg.Store.RetryLogoutDelivery(ctx, d.ID, attempts, s.now().Add(wait)); err != nil {
		s.cfg.Log.Warn("back-channel logout: schedule retry", zap.String("client_id", d.ClientID), zap.Error(err))
	}
	s.audit(ctx, d, "retry", reason, "jti", jti, "attempts", strconv.Itoa(attempts), "status", status, "retry_in", wait.String())
	time.AfterFunc(wait, s.Wake)
}

// finish removes d from the queue and audits outcome.
func (s *Service) finish(ctx context.Context, d storage.LogoutDelivery, outcome, reason string, details ...string) {
	if err := s.cfg.Store.FinishLogoutDelivery(ctx, d.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		s.cfg.Log.Warn("back-channel logout: finish delivery", zap.String("client_id", d.ClientID), zap.Error(err))
	}
	s.audit(ctx, d, outcome, reason, details...)
}

func (s *Service) audit(ctx context.Context, d storage.LogoutDelivery, outcome, reason string, kv ...string) {
	details := map[string]string{"sid": d.SID}
	if reason != "" {
		details["reason"] = web.Truncate(reason, 200)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			details[kv[i]] = kv[i+1]
		}
	}
	if err := s.cfg.Audit.Append(ctx, storage.AuditEntry{Type: adminapi.EventBackchannelLogout, Actor: audit.System, ClientID: d.ClientID,
		Subject: d.Subject, Outcome: outcome, Details: details}); err != nil {
		s.cfg.Log.Error("audit back-channel logout", zap.String("client_id", d.ClientID), zap.Error(err))
	}
	s.cfg.Log.Info("back-channel logout", zap.String("client_id", d.ClientID), zap.String("outcome", outcome))
}

// post signs a logout token for d and POSTs it to c's back-channel logout
// URI. It returns the token's jti, and the answer's status if any.
func (s *Service) post(ctx context.Context, c storage.Client, d storage.LogoutDelivery) (jti, status string, err error) {
	token, jti, err := s.Token(c, d.Subject, d.SID)
	if err != nil {
		return "", "", err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BackchannelLogoutURI,
		strings.NewReader(url.Values{"logout_token": {token}}.Encode()))
	if err != nil {
		return jti, "", errors.New("backchannel_logout_uri cannot be requested")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.client.Do(req)
	if err != nil {
		// The error names the URL and the cause (refused address,
		// timeout); never the token, which is in the body.
		return jti, "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	status = strconv.Itoa(resp.StatusCode)
	if resp.StatusCode/100 != 2 {
		return jti, status, fmt.Errorf("the relying party answered %d", resp.StatusCode)
	}
	return jti, status, nil
}

// logoutClaims are the claims of a logout token (OpenID Connect
// Back-Channel Logout 1.0 section 2.4): never a nonce.
type logoutClaims struct {
	Issuer   string                       `json:"iss"`
	Subject  string                       `json:"sub"`
	Audience string                       `json:"aud"`
	IssuedAt int64                        `json:"iat"`
	Expiry   int64                        `json:"exp"`
	JTI      string                       `json:"jti"`
	SID      string                       `json:"sid,omitempty"`
	Events   map[string]map[string]string `json:"events"`
}

// Token signs a logout token for client c about subject's session sid
// (sub and sid both: sid is always known, and clients that need only one
// ignore the other). It returns the token and its jti.
func (s *Service) Token(c storage.Client, subject, sid string) (token, jti string, err error) {
	alg := s.cfg.IDTokenAlg
	if c.IDTokenSignedResponseAlg != "" {
		alg = c.IDTokenSignedResponseAlg
	}
	if fapi.Applies(s.cfg.Profile, c.Profile) {
		alg = fapi.IDTokenAlgOf(alg) // as its ID tokens (a registration older than the profile)
	}
	key, err := s.cfg.Keys.Active(alg)
	if err != nil {
		return "", "", err
	}
	now := s.now()
	jti = web.Random(16)
	payload, err := json.Marshal(logoutClaims{Issuer: s.cfg.Issuer, Subject: subject, Audience: c.ID, IssuedAt: now.Unix(),
		Expiry: now.Add(tokenTTL).Unix(), JTI: jti, SID: sid, Events: map[string]map[string]string{EventBackchannel: {}}})
	if err != nil {
		return "", "", err
	}
	token, _, err = key.SignJWT(keys.TypeLogout, payload)
	return token, jti, err
}
