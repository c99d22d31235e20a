package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ory/fosite"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/clientauth"
	"github.com/idvauth/idvauth/authz/internal/adminauth"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/authz/mfa"
	"github.com/idvauth/idvauth/authz/operators"
	"github.com/idvauth/idvauth/keys"
	"github.com/idvauth/idvauth/scopes"
	"github.com/idvauth/idvauth/storage"
)

// clientInput is what create and update accept: ClientJSON without the
// server-set fields, so that sending one of those is an unknown field.
type clientInput = adminapi.ClientMetadata

// Limits of client metadata.
const (
	maxAdminBody    = 64 << 10
	maxNameLen      = 200
	maxAudiences    = 20
	maxAudienceLen  = 256
	maxRedirectURIs = 20
	maxRedirectLen  = 2000
)

// validRedirectURI checks one redirect URI at registration (RFC 6749
// section 3.1.2, RFC 8252 for native apps): absolute, no fragment, no
// user info, no wildcard; https, or http on a loopback host; a public
// (native) client may also use a private-use scheme with a dot in it
// (reverse domain name, RFC 8252 section 7.1).
func validRedirectURI(raw string, public bool) error {
	if raw == "" || len(raw) > maxRedirectLen || !utf8.ValidString(raw) || strings.ContainsAny(raw, "*\x00 ") || strings.IndexFunc(raw, unicode.IsControl) >= 0 {
		return fmt.Errorf("must be 1 to %d characters without spaces, wildcards or control characters", maxRedirectLen)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return errors.New("must be an absolute URI")
	}
	switch {
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return errors.New("must not have a fragment")
	case u.User != nil:
		return errors.New("must not hold user information")
	case u.Scheme == "https":
		if u.Host == "" {
			return errors.New("must name a host")
		}
	case u.Scheme == "http":
		if !fosite.IsLocalhost(u) {
			return errors.New("http is allowed only for loopback hosts (127.0.0.1, [::1], localhost); use https")
		}
	case strings.Contains(u.Scheme, "."):
		if !public {
			return errors.New("private-use URI schemes are for public (native) clients only")
		}
	default:
		return errors.New("must use https (or http on a loopback host, or a reverse-domain scheme for native apps)")
	}
	return nil
}

var clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$`)

func clientJSON(c storage.Client) adminapi.ClientJSON {
	out := adminapi.ClientJSON{
		ClientID:                 c.ID,
		ClientName:               c.Name,
		GrantTypes:               nonNil(c.GrantTypes),
		ResponseTypes:            nonNil(c.ResponseTypes),
		RedirectURIs:             nonNil(c.RedirectURIs),
		Scope:                    strings.Join(c.Scopes, " "),
		TokenEndpointAuthMethod:  c.TokenEndpointAuthMethod,
		Audience:                 nonNil(c.Audience),
		AccessTokenTTL:           int64(c.AccessTokenTTL / time.Second),
		IntrospectionAllowed:     c.IntrospectionAllowed,
		IntrospectionAudiences:   nonNil(c.IntrospectionAudiences),
		IDTokenSignedResponseAlg: c.IDTokenSignedResponseAlg,
		DefaultACRValues:         nonNil(c.DefaultACRValues),
		RequireMFA:               c.RequireMFA,
		ClientIDIssuedAt:         c.CreatedAt.Unix(),
		UpdatedAt:                c.UpdatedAt.Unix(),
		JWKS:                     c.JWKS,
		JWKSURI:                  c.JWKSURI,
		TLSClientAuthSubjectDN:   c.TLSClientAuth.SubjectDN,
		TLSClientAuthSANDNS:      c.TLSClientAuth.SANDNS,
		TLSClientAuthSANURI:      c.TLSClientAuth.SANURI,
		TLSClientAuthSANIP:       c.TLSClientAuth.SANIP,
		TLSClientAuthSANEmail:    c.TLSClientAuth.SANEmail,

		TLSClientCertificateBoundAccessTokens: c.CertificateBoundAccessTokens,
		TokenEndpointAudienceAllowed:          c.TokenEndpointAudienceAllowed,
		RequirePKCE:                           new(!c.PKCEOptional),
		RequirePushedAuthorizationRequests:    c.RequirePushedAuthorizationRequests,
		PostLogoutRedirectURIs:                nonNil(c.PostLogoutRedirectURIs),
		BackchannelLogoutURI:                  c.BackchannelLogoutURI,
		BackchannelLogoutSessionRequired:      c.BackchannelLogoutSessionRequired,
		DPoPBoundAccessTokens:                 c.DPoPBoundAccessTokens,
		Profile:                               c.Profile,
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// validClient checks client metadata and turns it into a record (without
// ID, secret or times). The checks run in this order, each on what the
// ones before it set in the record; the first failure is the answer.
func (h *Handler) validClient(in clientInput) (storage.Client, error) {
	c := storage.Client{Name: strings.TrimSpace(in.ClientName), IntrospectionAllowed: in.IntrospectionAllowed}
	for _, check := range []func(clientInput, *storage.Client) *web.Error{
		validName,
		validAuthMethod,
		h.validAuthMetadata,
		validGrantTypes,
		validGrantUse,
		validResponseTypes,
		validRedirectURIs,
		validIDTokenAlg,
		validStepUp,
		validCodeFlowRules,
		validLogout(h.cfg),
		h.validScopes,
		validAudiences,
		validIntrospectionAudiences,
		h.validTTL,
		profileRules(h.cfg.Profile),
	} {
		if err := check(in, &c); err != nil {
			return c, err
		}
	}
	return c, nil
}

// printable reports whether s is valid UTF-8 of at most n bytes without
// control characters.
func printable(s string, n int) bool {
	return len(s) <= n && utf8.ValidString(s) && strings.IndexFunc(s, unicode.IsControl) < 0
}

// validName checks the client name validClient has trimmed into c.
func validName(_ clientInput, c *storage.Client) *web.Error {
	if !printable(c.Name, maxNameLen) {
		return invalidMetadata(fmt.Sprintf("client_name must be at most %d printable characters", maxNameLen))
	}
	return nil
}

// validAuthMethod sets the token endpoint auth method: the given one, or
// client_secret_basic.
func validAuthMethod(in clientInput, c *storage.Client) *web.Error {
	switch {
	case in.TokenEndpointAuthMethod == "":
		c.TokenEndpointAuthMethod = clientauth.MethodBasic
	case slices.Contains(clientauth.Supported(), in.TokenEndpointAuthMethod):
		c.TokenEndpointAuthMethod = in.TokenEndpointAuthMethod
	default:
		return invalidMetadata(fmt.Sprintf("token_endpoint_auth_method %q is not supported (use one of %s)", web.Truncate(in.TokenEndpointAuthMethod, 40), strings.Join(clientauth.Supported(), ", ")))
	}
	return nil
}

// validGrantTypes sets the grant types: the given ones, each known and
// listed once; without any, authorization_code for a client with redirect
// URIs and client_credentials for one without.
func validGrantTypes(in clientInput, c *storage.Client) *web.Error {
	switch {
	case in.GrantTypes == nil && len(in.RedirectURIs) > 0:
		c.GrantTypes = []string{adminapi.GrantAuthorizationCode}
		return nil
	case in.GrantTypes == nil:
		c.GrantTypes = []string{adminapi.GrantClientCredentials}
		return nil
	}
	c.GrantTypes = []string{}
	for _, g := range in.GrantTypes {
		if !slices.Contains(adminapi.Grants(), g) {
			return invalidMetadata(fmt.Sprintf("grant type %q is not supported (supported: %s)", g, strings.Join(adminapi.Grants(), ", ")))
		}
		if slices.Contains(c.GrantTypes, g) {
			return invalidMetadata(fmt.Sprintf("grant type %q is listed twice", g))
		}
		c.GrantTypes = append(c.GrantTypes, g)
	}
	return nil
}

// validGrantUse checks that the grant types fit together, and fit the
// auth method, introspection and the redirect URIs and response types.
func validGrantUse(in clientInput, c *storage.Client) *web.Error {
	public := c.TokenEndpointAuthMethod == clientauth.MethodNone
	code := slices.Contains(c.GrantTypes, adminapi.GrantAuthorizationCode)
	switch {
	case slices.Contains(c.GrantTypes, adminapi.GrantRefreshToken) && !code:
		return invalidMetadata("the refresh_token grant needs the authorization_code grant")
	case public && slices.Contains(c.GrantTypes, adminapi.GrantClientCredentials):
		return invalidMetadata("a public client (token_endpoint_auth_method none) cannot use client_credentials: it has no secret")
	case public && in.IntrospectionAllowed:
		return invalidMetadata("a public client (token_endpoint_auth_method none) cannot be allowed to introspect")
	case code && len(in.RedirectURIs) == 0:
		return invalidMetadata("the authorization_code grant needs at least one redirect_uris entry")
	case !code && (len(in.RedirectURIs) > 0 || len(in.ResponseTypes) > 0):
		return invalidMetadata("redirect_uris and response_types are for clients with the authorization_code grant")
	}
	return nil
}

// validResponseTypes sets the response types: code for a client with the
// authorization_code grant, none for others.
func validResponseTypes(in clientInput, c *storage.Client) *web.Error {
	switch {
	case !slices.Contains(c.GrantTypes, adminapi.GrantAuthorizationCode):
		c.ResponseTypes = []string{}
	case in.ResponseTypes == nil || len(in.ResponseTypes) == 1 && in.ResponseTypes[0] == "code":
		c.ResponseTypes = []string{"code"}
	default:
		return invalidMetadata(`response_types must be ["code"]: the only response type this server supports`)
	}
	return nil
}

// validRedirectURIs sets the redirect URIs: at most maxRedirectURIs, each
// valid for the client and listed once.
func validRedirectURIs(in clientInput, c *storage.Client) *web.Error {
	if len(in.RedirectURIs) > maxRedirectURIs {
		return invalidMetadata(fmt.Sprintf("at most %d redirect_uris", maxRedirectURIs))
	}
	public := c.TokenEndpointAuthMethod == clientauth.MethodNone
	c.RedirectURIs = []string{}
	for _, u := range in.RedirectURIs {
		if err := validRedirectURI(u, public); err != nil {
			return invalidMetadata(fmt.Sprintf("redirect_uris: %q: %v", web.Truncate(u, 80), err))
		}
		if slices.Contains(c.RedirectURIs, u) {
			return invalidMetadata(fmt.Sprintf("redirect_uris: %q is listed twice", web.Truncate(u, 80)))
		}
		c.RedirectURIs = append(c.RedirectURIs, u)
	}
	return nil
}

// validIDTokenAlg sets the ID token signing algorithm: one of the key
// ring's (RS256, ES256, PS256), or empty for the server's choice.
func validIDTokenAlg(in clientInput, c *storage.Client) *web.Error {
	if in.IDTokenSignedResponseAlg == "" || keys.ValidAlg(in.IDTokenSignedResponseAlg) {
		c.IDTokenSignedResponseAlg = in.IDTokenSignedResponseAlg
		return nil
	}
	return invalidMetadata(fmt.Sprintf("id_token_signed_response_alg %q is not supported (use %s)", web.Truncate(in.IDTokenSignedResponseAlg, 20),
		strings.Join(keys.Algorithms(), ", ")))
}

// validScopes sets the scopes: known ones, and offline_access only with
// the refresh_token grant.
func (h *Handler) validScopes(in clientInput, c *storage.Client) *web.Error {
	sc, err := h.cfg.Scopes.Parse(in.Scope)
	if err != nil {
		return invalidMetadata(fmt.Sprintf("scope: %v (known scopes: %s)", err, strings.Join(h.cfg.Scopes.Names(), ", ")))
	}
	c.Scopes = sc
	if slices.Contains(c.Scopes, scopes.OfflineAccess) && !slices.Contains(c.GrantTypes, adminapi.GrantRefreshToken) {
		return invalidMetadata("scope offline_access needs the refresh_token grant")
	}
	return validAdminScopes(c)
}

// validAdminScopes checks that a client granted an admin scope is an
// automation client that proves a key: the client_credentials grant
// alone, and private_key_jwt or (self-signed) tls_client_auth, so that no
// shared secret ever carries an admin scope.
func validAdminScopes(c *storage.Client) *web.Error {
	i := slices.IndexFunc(c.Scopes, adminauth.IsAdminScope)
	if i < 0 {
		return nil
	}
	if !slices.Equal(c.GrantTypes, []string{adminapi.GrantClientCredentials}) {
		return invalidMetadata(fmt.Sprintf("scope %s: admin scopes are for clients of the client_credentials grant alone", c.Scopes[i]))
	}
	if adminauth.ProvesKey(c.TokenEndpointAuthMethod) {
		return nil
	}
	return invalidMetadata(fmt.Sprintf("scope %s: a client with an admin scope must authenticate with private_key_jwt, tls_client_auth or "+
		"self_signed_tls_client_auth, never a shared secret (token_endpoint_auth_method is %s)", c.Scopes[i], c.TokenEndpointAuthMethod))
}

// validAudiences sets the audience: at most maxAudiences values, each
// valid and listed once.
func validAudiences(in clientInput, c *storage.Client) *web.Error {
	var err *web.Error
	c.Audience, err = audienceList("audience", in.Audience)
	return err
}

// validStepUp sets default_acr_values (each a supported acr value, once)
// and require_mfa, which are for clients that sign people in.
func validStepUp(in clientInput, c *storage.Client) *web.Error {
	if (len(in.DefaultACRValues) > 0 || in.RequireMFA) && !slices.Contains(c.GrantTypes, "authorization_code") {
		return invalidMetadata("default_acr_values and require_mfa are for clients of the authorization_code grant")
	}
	for _, v := range in.DefaultACRValues {
		if !mfa.ValidACR(v) || slices.Contains(c.DefaultACRValues, v) {
			return invalidMetadata(fmt.Sprintf("default_acr_values: %q is not a supported acr value listed once (use %s)",
				web.Truncate(v, 40), strings.Join(mfa.Supported(), " or ")))
		}
		c.DefaultACRValues = append(c.DefaultACRValues, v)
	}
	c.RequireMFA = in.RequireMFA
	return nil
}

// validIntrospectionAudiences sets the introspection audiences, which
// only a client allowed to introspect may have; checked like audience.
func validIntrospectionAudiences(in clientInput, c *storage.Client) *web.Error {
	if len(in.IntrospectionAudiences) > 0 && !c.IntrospectionAllowed {
		return invalidMetadata("introspection_audiences is for clients with introspection_allowed")
	}
	var err *web.Error
	c.IntrospectionAudiences, err = audienceList("introspection_audiences", in.IntrospectionAudiences)
	return err
}

// audienceList checks the audience values in of metadata field name: at
// most maxAudiences, each valid and listed once. The list is never nil.
func audienceList(name string, in []string) ([]string, *web.Error) {
	if len(in) > maxAudiences {
		return nil, invalidMetadata(fmt.Sprintf("at most %d %s values", maxAudiences, name))
	}
	out := []string{}
	for _, a := range in {
		if err := ValidAudience(a); err != nil {
			return nil, invalidMetadata(name + ": " + err.Error())
		}
		if slices.Contains(out, a) {
			return nil, invalidMetadata(fmt.Sprintf("%s %q is listed twice", name, a))
		}
		out = append(out, a)
	}
	return out, nil
}

// validTTL sets the access token lifetime: 0 (the server's default) up to
// the configured maximum, in whole seconds.
func (h *Handler) validTTL(in clientInput, c *storage.Client) *web.Error {
	maxTTL := int64(h.cfg.MaxAccessTokenTTL / time.Second)
	if in.AccessTokenTTL < 0 || in.AccessTokenTTL > maxTTL {
		return invalidMetadata(fmt.Sprintf("access_token_ttl must be between 1 and %d seconds, or 0 for the server default", maxTTL))
	}
	c.AccessTokenTTL = time.Duration(in.AccessTokenTTL) * time.Second
	return nil
}

// ValidAudience checks one audience value: 1 to 256 printable characters
// without spaces.
func ValidAudience(a string) error {
	if a == "" || len(a) > maxAudienceLen || !utf8.ValidString(a) {
		return fmt.Errorf("each value must be 1 to %d characters of valid UTF-8", maxAudienceLen)
	}
	if strings.IndexFunc(a, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return errors.New("values must not contain spaces or control characters")
	}
	return nil
}

// newSecret returns a client secret of 256 random bits and its digest.
func newSecret() (string, []byte) {
	secret := web.RandomToken()
	sum := sha256.Sum256([]byte(secret))
	return secret, sum[:]
}

// CreateClient registers a client from its JSON metadata and returns it
// with its new secret, the only time the secret is shown. A client_id may
// be given; otherwise one is generated.
func (h *Handler) CreateClient(ctx context.Context, in adminapi.ClientJSON) (adminapi.ClientJSON, error) {
	if in.ClientSecret != "" {
		return adminapi.ClientJSON{}, invalidMetadata("client_secret is generated by the server and cannot be set")
	}
	return h.createClient(ctx, in.Metadata())
}

func (h *Handler) createClient(ctx context.Context, in clientInput) (adminapi.ClientJSON, error) {
	c, err := h.validClient(in)
	if err != nil {
		return adminapi.ClientJSON{}, err
	}
	c.ID = in.ClientID
	if c.ID == "" {
		c.ID = newClientID()
	} else if !clientIDPattern.MatchString(c.ID) {
		return adminapi.ClientJSON{}, invalidMetadata("client_id must be 1 to 128 characters: letters, digits and . _ ~ - (starting with a letter or digit)")
	} else if operators.IsBuiltin(c.ID) {
		return adminapi.ClientJSON{}, invalidMetadata("client_id must not start with " + operators.ReservedPrefix + " (the built-in clients' IDs do)")
	} else if strings.HasPrefix(c.ID, "u_") {
		// A client's tokens have its ID as subject; people's IDs start
		// with u_, and must stay theirs alone.
		return adminapi.ClientJSON{}, invalidMetadata("client_id must not start with u_ (people's IDs do)")
	}
	if c.Name == "" {
		c.Name = c.ID
	}
	var secret string
	if clientauth.HasSecret(c.TokenEndpointAuthMethod) {
		secret, c.SecretHash = newSecret()
	}
	c.CreatedAt = h.now().Truncate(time.Second)
	c.UpdatedAt = c.CreatedAt
	if err := h.store.CreateClient(ctx, c); err != nil {
		return adminapi.ClientJSON{}, err
	}
	out := clientJSON(c)
	out.ClientSecret = secret
	return out, nil
}

// newClientID is a generated client ID: 96 random bits, hex.
func newClientID() string {
	var raw [12]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails (Go 1.24 and later)
	return hex.EncodeToString(raw[:])
}

// RotateSecret gives the client id a new secret and returns the client
// with it, the only time it is shown.
func (h *Handler) RotateSecret(ctx context.Context, id string) (adminapi.ClientJSON, error) {
	if c, err := h.store.GetClient(ctx, id); err != nil {
		return adminapi.ClientJSON{}, err
	} else if c.TokenEndpointAuthMethod == clientauth.MethodNone {
		return adminapi.ClientJSON{}, badRequest("This is a public client (token_endpoint_auth_method none): it has no secret to rotate.")
	} else if !clientauth.HasSecret(c.TokenEndpointAuthMethod) {
		return adminapi.ClientJSON{}, badRequest(fmt.Sprintf("This client authenticates with %s, not a secret: it has no secret to rotate.", c.TokenEndpointAuthMethod))
	}
	secret, hash := newSecret()
	if err := h.store.SetClientSecret(ctx, id, hash, h.now().Truncate(time.Second)); err != nil {
		return adminapi.ClientJSON{}, err
	}
	c, err := h.store.GetClient(ctx, id)
	if err != nil {
		return adminapi.ClientJSON{}, err
	}
	out := clientJSON(c)
	out.ClientSecret = secret
	return out, nil
}

// clientEvent is the audit event of a client change.
func clientEvent(typ string, c adminapi.ClientJSON) *event {
	details := map[string]string{
		"grant_types": strings.Join(c.GrantTypes, " "), "scope": c.Scope, "auth_method": c.TokenEndpointAuthMethod}
	if c.TokenEndpointAudienceAllowed {
		// The weaker assertion audience is worth finding in the trail;
		// absent means off, as for every client before the switch.
		details["token_endpoint_audience_allowed"] = "true"
	}
	codeFlowDetails(details, c)
	logoutDetails(details, c)
	return &event{typ: typ, clientID: c.ClientID, details: details}
}

// clients serves /admin/clients: list (GET) and create (POST).
func (h *Handler) clients(w http.ResponseWriter, r *http.Request) (reply, error) {
	ctx := r.Context()
	switch r.Method {
	case http.MethodGet:
		list, err := h.store.ListClients(ctx)
		if err != nil {
			return reply{}, err
		}
		out := adminapi.ClientList{Clients: make([]adminapi.ClientJSON, 0, len(list))}
		for _, c := range list {
			out.Clients = append(out.Clients, clientJSON(c))
		}
		return ok(out)
	case http.MethodPost:
		var in clientInput
		if err := web.DecodeJSON(w, r, &in); err != nil {
			return reply{}, err
		}
		if err := callerOutranks(r, strings.Fields(in.Scope)); err != nil {
			return reply{}, err
		}
		out, err := h.createClient(ctx, in)
		if err != nil {
			return reply{}, err
		}
		h.log.Info("client created", web.RequestField(ctx), clientField(out.ClientID))
		w.Header().Set("Location", "/admin/clients/"+out.ClientID)
		return reply{status: http.StatusCreated, body: out, event: clientEvent(adminapi.EventClientCreated, out)}, nil
	}
	return methodNotAllowed(w, "GET, POST")
}

// client serves /admin/clients/{id}: read, replace, delete.
func (h *Handler) client(w http.ResponseWriter, r *http.Request) (reply, error) {
	ctx := r.Context()
	id := r.PathValue("id")
	switch r.Method {
	case http.MethodGet:
		c, err := h.store.GetClient(ctx, id)
		if err != nil {
			return reply{}, err
		}
		return ok(clientJSON(c))
	case http.MethodPut:
		var in clientInput
		if err := web.DecodeJSON(w, r, &in); err != nil {
			return reply{}, err
		}
		if in.ClientID != "" && in.ClientID != id {
			return reply{}, invalidMetadata("client_id in the body differs from the one in the path")
		}
		c, err := h.validClient(in)
		if err != nil {
			return reply{}, err
		}
		if err := h.callerOutranksClient(r, id, c.Scopes); err != nil {
			return reply{}, err
		}
		c.ID = id
		if c.Name == "" {
			c.Name = id
		}
		c.UpdatedAt = h.now().Truncate(time.Second)
		if err := h.store.UpdateClient(ctx, c); err != nil {
			return reply{}, err
		}
		got, err := h.store.GetClient(ctx, id)
		if err != nil {
			return reply{}, err
		}
		h.log.Info("client updated", web.RequestField(ctx), clientField(id))
		out := clientJSON(got)
		return reply{status: http.StatusOK, body: out, event: clientEvent(adminapi.EventClientUpdated, out)}, nil
	case http.MethodDelete:
		if err := h.callerOutranksClient(r, id, nil); err != nil {
			return reply{}, err
		}
		if err := h.store.DeleteClient(ctx, id); err != nil {
			return reply{}, err
		}
		h.log.Info("client deleted", web.RequestField(ctx), clientField(id))
		return reply{status: http.StatusNoContent, event: &event{typ: adminapi.EventClientDeleted, clientID: id}}, nil
	}
	return methodNotAllowed(w, "GET, PUT, DELETE")
}

// clientSecret serves POST /admin/clients/{id}/secret: a new secret.
func (h *Handler) clientSecret(w http.ResponseWriter, r *http.Request) (reply, error) {
	if r.Method != http.MethodPost {
		return methodNotAllowed(w, "POST")
	}
	if err := h.callerOutranksClient(r, r.PathValue("id"), nil); err != nil {
		return reply{}, err
	}
	out, err := h.RotateSecret(r.Context(), r.PathValue("id"))
	if err != nil {
		return reply{}, err
	}
	h.log.Info("client secret rotated", web.RequestField(r.Context()), clientField(out.ClientID))
	return reply{status: http.StatusOK, body: out, event: &event{typ: adminapi.EventClientSecret, clientID: out.ClientID}}, nil
}

// callerOutranks refuses admin scopes the caller of r does not hold: no
// one grants a client more admin rights than their own. A call from inside
// the server (no caller) is not limited.
func callerOutranks(r *http.Request, scopes []string) error {
	if p, ok := adminauth.PrincipalOf(r.Context()); ok {
		return p.Outranks(scopes)
	}
	return nil
}

// callerOutranksClient refuses a change of client id (to scopes, if any)
// unless the caller holds every admin scope the client holds now and will
// hold: whoever could replace its keys could act with its rights.
func (h *Handler) callerOutranksClient(r *http.Request, id string, scopes []string) error {
	if err := builtinRefused(id); err != nil {
		return err
	}
	if _, ok := adminauth.PrincipalOf(r.Context()); !ok {
		return nil
	}
	cur, err := h.store.GetClient(r.Context(), id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return callerOutranks(r, scopes) // the route answers 404
	case err != nil:
		return err
	}
	return callerOutranks(r, append(slices.Clone(cur.Scopes), scopes...))
}

// builtinRefused refuses, with a 403, a change of the built-in client id
// (the console's, idvauth login's): idvauth sets them at every start.
func builtinRefused(id string) error {
	if !operators.IsBuiltin(id) {
		return nil
	}
	return web.NewError(http.StatusForbidden, "builtin_client", "The client "+id+" is built in: idvauth manages it, and it cannot be changed, deleted or given API keys.")
}
