package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/postgres/internal/pgconv"
)

// clientStore is the storage.ClientStore part of Store.
type clientStore struct {
	pool  *pgxpool.Pool
	cache *clientCache // nil when disabled
}

const clientCols = `id, name, secret_hash, grant_types, response_types, redirect_uris, scopes, audience,
	token_endpoint_auth_method, access_token_ttl_seconds, introspection_allowed, id_token_signed_response_alg,
	jwks, jwks_uri, tls_client_auth_subject_dn, tls_client_auth_san_dns, tls_client_auth_san_uri,
	tls_client_auth_san_ip, tls_client_auth_san_email, tls_client_certificate_bound_access_tokens,
	created_at, updated_at, token_endpoint_audience_allowed, introspection_audiences, default_acr_values, require_mfa,
	pkce_optional, require_pushed_authorization_requests,
	post_logout_redirect_uris, backchannel_logout_uri, backchannel_logout_session_required, dpop_bound_access_tokens, profile`

func scanClient(row pgx.Row) (storage.Client, error) {
	var c storage.Client
	var ttl int64
	var jwks string
	a := &c.TLSClientAuth
	err := row.Scan(&c.ID, &c.Name, &c.SecretHash, &c.GrantTypes, &c.ResponseTypes, &c.RedirectURIs, &c.Scopes, &c.Audience,
		&c.TokenEndpointAuthMethod, &ttl, &c.IntrospectionAllowed, &c.IDTokenSignedResponseAlg,
		&jwks, &c.JWKSURI, &a.SubjectDN, &a.SANDNS, &a.SANURI, &a.SANIP, &a.SANEmail, &c.CertificateBoundAccessTokens,
		&c.CreatedAt, &c.UpdatedAt, &c.TokenEndpointAudienceAllowed, &c.IntrospectionAudiences, &c.DefaultACRValues, &c.RequireMFA,
		&c.PKCEOptional, &c.RequirePushedAuthorizationRequests,
		&c.PostLogoutRedirectURIs, &c.BackchannelLogoutURI, &c.BackchannelLogoutSessionRequired, &c.DPoPBoundAccessTokens, &c.Profile)
	c.AccessTokenTTL = time.Duration(ttl) * time.Second
	if jwks != "" {
		c.JWKS = []byte(jwks)
	}
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	if len(c.SecretHash) == 0 {
		c.SecretHash = nil
	}
	return c, err
}

func validClient(c storage.Client) error {
	a := c.TLSClientAuth
	if !pgconv.TextOK(c.ID) || !pgconv.TextOK(c.Name) || !pgconv.TextOK(c.Profile) || !pgconv.TextOK(c.TokenEndpointAuthMethod) || !pgconv.TextOK(c.IDTokenSignedResponseAlg) ||
		!pgconv.AllTextOK(c.GrantTypes, c.ResponseTypes, c.RedirectURIs, c.Scopes, c.Audience, c.IntrospectionAudiences, c.DefaultACRValues, c.PostLogoutRedirectURIs) || !pgconv.TextOK(string(c.JWKS)) ||
		!pgconv.AllTextOK([]string{c.JWKSURI, c.BackchannelLogoutURI, a.SubjectDN, a.SANDNS, a.SANURI, a.SANIP, a.SANEmail}) {
		return fmt.Errorf("postgres: client %q holds text PostgreSQL cannot store: %w", c.ID, storage.ErrConflict)
	}
	return nil
}

// CreateClient implements storage.ClientStore.
func (s *clientStore) CreateClient(ctx context.Context, c storage.Client) error {
	if err := validClient(c); err != nil {
		return err
	}
	a := c.TLSClientAuth
	_, err := s.pool.Exec(ctx, `INSERT INTO clients (`+clientCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24,
			$25, $26, $27, $28, $29, $30, $31, $32, $33)`,
		c.ID, c.Name, pgconv.NonNilBytes(c.SecretHash), pgconv.NonNil(c.GrantTypes), pgconv.NonNil(c.ResponseTypes), pgconv.NonNil(c.RedirectURIs), pgconv.NonNil(c.Scopes),
		pgconv.NonNil(c.Audience), c.TokenEndpointAuthMethod, int64(c.AccessTokenTTL/time.Second), c.IntrospectionAllowed,
		c.IDTokenSignedResponseAlg, string(c.JWKS), c.JWKSURI, a.SubjectDN, a.SANDNS, a.SANURI, a.SANIP, a.SANEmail,
		c.CertificateBoundAccessTokens, c.CreatedAt, c.UpdatedAt, c.TokenEndpointAudienceAllowed, pgconv.NonNil(c.IntrospectionAudiences),
		pgconv.NonNil(c.DefaultACRValues), c.RequireMFA, c.PKCEOptional, c.RequirePushedAuthorizationRequests,
		pgconv.NonNil(c.PostLogoutRedirectURIs), c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired, c.DPoPBoundAccessTokens, c.Profile)
	// The ID may be cached as unknown; the trigger tells the other
	// replicas.
	s.forget(c.ID)
	return pgconv.MapErr("create client", err)
}

// GetClient implements storage.ClientStore.
func (s *clientStore) GetClient(ctx context.Context, id string) (storage.Client, error) {
	if !pgconv.TextOK(id) {
		return storage.Client{}, fmt.Errorf("postgres: get client: %w", storage.ErrNotFound)
	}
	var gen uint64
	if s.cache != nil {
		c, ok, unknown, g := s.cache.get(id)
		switch {
		case ok:
			return c, nil
		case unknown:
			return storage.Client{}, fmt.Errorf("postgres: get client: %w", storage.ErrNotFound)
		}
		gen = g
	}
	c, err := scanClient(s.pool.QueryRow(ctx, `SELECT `+clientCols+` FROM clients WHERE id = $1`, id))
	if err != nil {
		err = pgconv.MapErr("get client", err)
		if s.cache != nil && errors.Is(err, storage.ErrNotFound) {
			s.cache.putUnknown(id, gen)
		}
		return storage.Client{}, err
	}
	if s.cache != nil {
		s.cache.put(c, gen)
	}
	return c, nil
}

// forget drops a client from this replica's cache at once; the trigger's
// notification tells the other replicas.
func (s *clientStore) forget(id string) {
	if s.cache != nil {
		s.cache.invalidate(id)
	}
}

// ListClients implements storage.ClientStore.
func (s *clientStore) ListClients(ctx context.Context) ([]storage.Client, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+clientCols+` FROM clients ORDER BY id`)
	if err != nil {
		return nil, pgconv.MapErr("list clients", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Client, error) { return scanClient(r) })
	return out, pgconv.MapErr("list clients", err)
}

// UpdateClient implements storage.ClientStore.
func (s *clientStore) UpdateClient(ctx context.Context, c storage.Client) error {
	if !pgconv.TextOK(c.ID) {
		return fmt.Errorf("postgres: update client: %w", storage.ErrNotFound)
	}
	if err := validClient(c); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `UPDATE clients SET name = $2, grant_types = $3, response_types = $4, redirect_uris = $5,
		scopes = $6, audience = $7, token_endpoint_auth_method = $8, access_token_ttl_seconds = $9,
		introspection_allowed = $10, id_token_signed_response_alg = $11, updated_at = $12,
		jwks = $13, jwks_uri = $14, tls_client_auth_subject_dn = $15, tls_client_auth_san_dns = $16,
		tls_client_auth_san_uri = $17, tls_client_auth_san_ip = $18, tls_client_auth_san_email = $19,
		tls_client_certificate_bound_access_tokens = $20, token_endpoint_audience_allowed = $21,
		introspection_audiences = $22, default_acr_values = $23, require_mfa = $24,
		pkce_optional = $25, require_pushed_authorization_requests = $26,
		post_logout_redirect_uris = $27, backchannel_logout_uri = $28, backchannel_logout_session_required = $29,
		dpop_bound_access_tokens = $30, profile = $31 WHERE id = $1`,
		c.ID, c.Name, pgconv.NonNil(c.GrantTypes), pgconv.NonNil(c.ResponseTypes), pgconv.NonNil(c.RedirectURIs), pgconv.NonNil(c.Scopes), pgconv.NonNil(c.Audience),
		c.TokenEndpointAuthMethod, int64(c.AccessTokenTTL/time.Second), c.IntrospectionAllowed, c.IDTokenSignedResponseAlg, c.UpdatedAt,
		string(c.JWKS), c.JWKSURI, c.TLSClientAuth.SubjectDN, c.TLSClientAuth.SANDNS, c.TLSClientAuth.SANURI,
		c.TLSClientAuth.SANIP, c.TLSClientAuth.SANEmail, c.CertificateBoundAccessTokens, c.TokenEndpointAudienceAllowed,
		pgconv.NonNil(c.IntrospectionAudiences), pgconv.NonNil(c.DefaultACRValues), c.RequireMFA, c.PKCEOptional, c.RequirePushedAuthorizationRequests,
		pgconv.NonNil(c.PostLogoutRedirectURIs), c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired, c.DPoPBoundAccessTokens, c.Profile)
	s.forget(c.ID)
	return pgconv.Affected("update client", tag, err)
}

// SetClientSecret implements storage.ClientStore.
func (s *clientStore) SetClientSecret(ctx context.Context, id string, hash []byte, now time.Time) error {
	if !pgconv.TextOK(id) {
		return fmt.Errorf("postgres: set client secret: %w", storage.ErrNotFound)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE clients SET secret_hash = $2, updated_at = $3 WHERE id = $1`, id, pgconv.NonNilBytes(hash), now)
	s.forget(id)
	return pgconv.Affected("set client secret", tag, err)
}

// DeleteClient implements storage.ClientStore. The foreign key deletes the
// client's tokens in the same statement.
func (s *clientStore) DeleteClient(ctx context.Context, id string) error {
	if !pgconv.TextOK(id) {
		return fmt.Errorf("postgres: delete client: %w", storage.ErrNotFound)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM clients WHERE id = $1`, id)
	s.forget(id)
	return pgconv.Affected("delete client", tag, err)
}
