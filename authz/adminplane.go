package authz

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ory/fosite"
	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/apikeys"
	"github.com/idvauth/idvauth/authz/clientauth"
	"github.com/idvauth/idvauth/authz/internal/adminauth"
	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/operators"
	"github.com/idvauth/idvauth/storage"
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
		Audience: ar.GetGrantedAudience(), Bound: sess.CertThumbprint != "" || sess.DPoPJKT != ""}, nil
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
	o, token, err := operators.Create(ctx, st, username, role, time.Now())
	if err != nil {
		return adminapi.Enrollment{}, fmt.Errorf("authz: %w", err)
	}
	e := storage.AuditEntry{Type: adminapi.EventOperatorCreated, Actor: audit.System, Subject: o.ID,
		Details: map[string]string{"role": o.Role, "via": "database"}}
	if err := audit.New(audit.Config{Store: st}).Append(ctx, e); err != nil {
		return adminapi.Enrollment{}, fmt.Errorf("authz: operator %s created, but its audit entry could not be written: %w", o.ID, err)
	}
	return operators.EnrollmentJSON(o, adminURL, token), nil
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
		s.revokeIssued(ctx, ar.GetID())
		return "", fmt.Errorf("authz: the operator token could not be audited: %w", err)
	}
	return resp.GetAccessToken(), nil
}
