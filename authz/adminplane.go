package authz

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"
	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/apikeys"
	"github.com/idvauth/idvauth/authz/clientauth"
	"github.com/idvauth/idvauth/authz/console"
	"github.com/idvauth/idvauth/authz/internal/adminauth"
	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/authz/operators"
	"github.com/idvauth/idvauth/authz/opsignin"
	"github.com/idvauth/idvauth/keys"
	"github.com/idvauth/idvauth/templates"
)

// adminIntrospect checks an access token for the admin API exactly as
// introspection does (signature, expiry, its record: revoked tokens and
// those of deleted clients have none), so that a revocation is refused at
// once on every replica.
func (s *Server) adminIntrospect(ctx context.Context, token string) (adminauth.Token, error) {
	if apikeys.Looks(token) || len(token) > maxTokenLen {
		return adminauth.Token{}, adminauth.ErrInactive // an API key is a shared secret: no admin rights
	}
	_, ar, err := s.provider.IntrospectToken(ctx, token, fosite.AccessToken, &session{})
	if err != nil {
		if errors.Is(err, fosite.ErrTemporarilyUnavailable) || fosite.ErrorToRFC6749Error(err).CodeField >= 500 {
			return adminauth.Token{}, err
		}
		return adminauth.Token{}, adminauth.ErrInactive
	}
	sess := ar.GetSession().(*session)
	return adminauth.Token{ClientID: ar.GetClient().GetID(), Subject: sess.Subject, JTI: sess.JTI, Scopes: ar.GetGrantedScopes(),
		Audience: ar.GetGrantedAudience(), CertThumbprint: sess.CertThumbprint, JKT: sess.DPoPJKT}, nil
}

// CreateOperator creates an operator of role directly in the database
// (the bootstrap of the first owner, before anyone can call the admin
// API) and returns it with its single-use enrollment link on the admin
// listener at adminURL. The creation is audited, by the system.
func CreateOperator(ctx context.Context, databaseURL, username, role, adminURL string) (adminapi.Enrollment, error) {
	st, err := dialStore(ctx, Config{DatabaseURL: databaseURL}, zap.NewNop(), nil, nil)
	if err != nil {
		return adminapi.Enrollment{}, err
	}
	defer st.Close()
	e, err := operators.Bootstrap(ctx, st, audit.New(audit.Config{Store: st}), username, role, adminURL, time.Now())
	if err != nil {
		return e, fmt.Errorf("authz: %w", err)
	}
	return e, nil
}

// operatorToken issues an access token for the admin API to the operator
// operatorID with scopes (each an admin scope), through the built-in
// client clientID: signed by the key ring and recorded, so that
// introspection, revocation and every replica see it as any other token,
// and audited. The console calls it for the operator signed in to it,
// whose second factor it checked.
func (s *Server) operatorToken(ctx context.Context, clientID, operatorID string, scopes []string) (string, error) {
	c, err := s.fstore.GetClient(ctx, clientID)
	if err != nil {
		return "", err
	}
	// The built-in public clients have no client_credentials grant (the
	// token endpoint refuses public clients that grant anyway): this
	// in-process issuance, for an operator the console checked, uses a
	// copy that has it, for this one request.
	if cc, ok := c.(*clientauth.Client); ok && !slices.Contains(cc.Rec.GrantTypes, grantClientCredentials) {
		cp := *cc
		cp.Rec.GrantTypes = append(slices.Clone(cc.Rec.GrantTypes), grantClientCredentials)
		c = &cp
	}
	now := s.now().Truncate(time.Second)
	sess := &session{Subject: operatorID, AccessExp: now.Add(fosite.GetEffectiveLifespan(c, fosite.GrantType(grantAuthorizationCode), fosite.AccessToken, s.cfg.AccessTokenTTL))}
	ar := fosite.NewAccessRequest(sess)
	ar.GrantTypes = fosite.Arguments{grantClientCredentials}
	ar.Client, ar.RequestedAt = c, now
	for _, sc := range scopes {
		if !adminauth.IsAdminScope(sc) {
			return "", fmt.Errorf("authz: %q is not an admin scope", sc)
		}
		ar.AppendRequestedScope(sc)
		ar.GrantScope(sc)
	}
	ar.GrantAudience(s.cfg.AdminAudience)
	resp, err := s.provider.NewAccessResponse(ctx, ar)
	if err != nil {
		return "", err
	}
	e := issuedEntryOf("console", "", ar)
	if err := s.trail.Append(ctx, e); err != nil {
		s.revokeIssued(ctx, ar.GetID(), false)
		return "", fmt.Errorf("authz: the operator token could not be audited: %w", err)
	}
	return resp.GetAccessToken(), nil
}

// newOpSignin builds the sign-in of operators on the admin listener of s.
func newOpSignin(s *Server, pages *templates.Pages) (*opsignin.Handler, error) {
	sealer, err := keys.NewSealerFor("idvauth device grant v1", s.cfg.Secrets, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("authz: %w", err)
	}
	h, err := opsignin.New(opsignin.Config{Tokens: s.store, Sealer: sealer, AdminURL: s.cfg.AdminURL, Provider: s.provider, Operators: s.store, Audience: s.cfg.AdminAudience, Issuer: s.cfg.Issuer,
		NewSession: newGrantSession,
		SignedIn:   s.console.SignedIn, SignInURL: console.SignInURL,
		Pages: pages, Cookies: web.Cookies{Secure: strings.HasPrefix(s.cfg.AdminURL, "https://")}, Audit: s.trail,
		Now: s.cfg.Now, Log: s.log.Named("opsignin"),
	})
	if err != nil {
		return nil, fmt.Errorf("authz: %w", err)
	}
	return h, nil
}

// assembleOperatorPages builds the operators' pages on the admin
// listener: the console, and the sign-in of idvauth login.
func assembleOperatorPages(s *Server, pages *templates.Pages) (err error) {
	cfg := s.cfg
	if s.console, err = console.New(console.Config{Store: s.store, API: s.admin, TokenTTL: cfg.AccessTokenTTL,
		Token: func(ctx context.Context, id string, sc []string) (string, error) {
			return s.operatorToken(ctx, operators.ConsoleClientID, id, sc)
		},
		Sealer: s.sealer, Hasher: s.hasher, Audit: s.trail, IPs: s.ips, AdminURL: cfg.AdminURL, ThrottleSecret: s.throttleSecret,
		MaxFailures: cfg.LoginMaxFailures, MaxFailuresPerIP: cfg.LoginMaxFailuresPerIP, Window: cfg.LoginWindow, Now: cfg.Now, Log: s.log,
		Manage: console.Manage{Stats: s.metrics.TokensLastHour, KeySchedule: cfg.KeySchedule()},
	}); err != nil {
		return fmt.Errorf("authz: %w", err)
	}
	if s.opsignin, err = newOpSignin(s, pages); err != nil {
		return err
	}
	return nil
}
