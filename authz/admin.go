package authz

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
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

	"github.com/idvauth/idvauth/authz/clientauth"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/keys"
	"github.com/idvauth/idvauth/scopes"
	"github.com/idvauth/idvauth/storage"
)

// clientInput is what create and update accept: ClientJSON without the
// server-set fields, so that sending one of those is an unknown field.
type clientInput struct {
	ClientID                string          `json:"client_id"`
	ClientName              string          `json:"client_name"`
	GrantTypes              []string        `json:"grant_types"`
	ResponseTypes           []string        `json:"response_types"`
	RedirectURIs            []string        `json:"redirect_uris"`
	Scope                   string          `json:"scope"`
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method"`
	JWKS                    json.RawMessage `json:"jwks"`
	JWKSURI                 string          `json:"jwks_uri"`
	TLSClientAuthSubjectDN  string          `json:"tls_client_auth_subject_dn"`
	TLSClientAuthSANDNS     string          `json:"tls_client_auth_san_dns"`
	TLSClientAuthSANURI     string          `json:"tls_client_auth_san_uri"`
	TLSClientAuthSANIP      string          `json:"tls_client_auth_san_ip"`
	TLSClientAuthSANEmail   string          `json:"tls_client_auth_san_email"`

	TLSClientCertificateBoundAccessTokens bool     `json:"tls_client_certificate_bound_access_tokens"`
	Audience                              []string `json:"audience"`
	AccessTokenTTL                        int64    `json:"access_token_ttl"`
	IntrospectionAllowed                  bool     `json:"introspection_allowed"`
	IDTokenSignedResponseAlg              string   `json:"id_token_signed_response_alg"`
}

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

func clientJSON(c storage.Client) ClientJSON {
	out := ClientJSON{
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
		IDTokenSignedResponseAlg: c.IDTokenSignedResponseAlg,
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
// ID, secret or times).
func (s *Server) validClient(in clientInput) (storage.Client, error) {
	c := storage.Client{Name: strings.TrimSpace(in.ClientName), IntrospectionAllowed: in.IntrospectionAllowed}
	if len(c.Name) > maxNameLen || !utf8.ValidString(c.Name) || strings.IndexFunc(c.Name, unicode.IsControl) >= 0 {
		return c, invalidMetadata(fmt.Sprintf("client_name must be at most %d printable characters", maxNameLen))
	}
	switch {
	case in.TokenEndpointAuthMethod == "":
		c.TokenEndpointAuthMethod = clientauth.MethodBasic
	case slices.Contains(clientauth.Supported(), in.TokenEndpointAuthMethod):
		c.TokenEndpointAuthMethod = in.TokenEndpointAuthMethod
	default:
		return c, invalidMetadata(fmt.Sprintf("token_endpoint_auth_method %q is not supported (use one of %s)", web.Truncate(in.TokenEndpointAuthMethod, 40), strings.Join(clientauth.Supported(), ", ")))
	}
	if err := validAuthMetadata(in, &c); err != nil {
		return c, err
	}
	public := c.TokenEndpointAuthMethod == clientauth.MethodNone
	switch {
	case in.GrantTypes == nil && len(in.RedirectURIs) > 0:
		c.GrantTypes = []string{grantAuthorizationCode}
	case in.GrantTypes == nil:
		c.GrantTypes = []string{grantClientCredentials}
	default:
		c.GrantTypes = []string{}
		for _, g := range in.GrantTypes {
			if !slices.Contains(supportedGrants, g) {
				return c, invalidMetadata(fmt.Sprintf("grant type %q is not supported (supported: %s)", g, strings.Join(supportedGrants, ", ")))
			}
			if slices.Contains(c.GrantTypes, g) {
				return c, invalidMetadata(fmt.Sprintf("grant type %q is listed twice", g))
			}
			c.GrantTypes = append(c.GrantTypes, g)
		}
	}
	code := slices.Contains(c.GrantTypes, grantAuthorizationCode)
	switch {
	case slices.Contains(c.GrantTypes, grantRefreshToken) && !code:
		return c, invalidMetadata("the refresh_token grant needs the authorization_code grant")
	case public && slices.Contains(c.GrantTypes, grantClientCredentials):
		return c, invalidMetadata("a public client (token_endpoint_auth_method none) cannot use client_credentials: it has no secret")
	case public && in.IntrospectionAllowed:
		return c, invalidMetadata("a public client (token_endpoint_auth_method none) cannot be allowed to introspect")
	case code && len(in.RedirectURIs) == 0:
		return c, invalidMetadata("the authorization_code grant needs at least one redirect_uris entry")
	case !code && (len(in.RedirectURIs) > 0 || len(in.ResponseTypes) > 0):
		return c, invalidMetadata("redirect_uris and response_types are for clients with the authorization_code grant")
	}
	if code {
		switch {
		case in.ResponseTypes == nil:
			c.ResponseTypes = []string{"code"}
		case len(in.ResponseTypes) == 1 && in.ResponseTypes[0] == "code":
			c.ResponseTypes = []string{"code"}
		default:
			return c, invalidMetadata(`response_types must be ["code"]: the only response type this server supports`)
		}
	} else {
		c.ResponseTypes = []string{}
	}
	if len(in.RedirectURIs) > maxRedirectURIs {
		return c, invalidMetadata(fmt.Sprintf("at most %d redirect_uris", maxRedirectURIs))
	}
	c.RedirectURIs = []string{}
	for _, u := range in.RedirectURIs {
		if err := validRedirectURI(u, public); err != nil {
			return c, invalidMetadata(fmt.Sprintf("redirect_uris: %q: %v", web.Truncate(u, 80), err))
		}
		if slices.Contains(c.RedirectURIs, u) {
			return c, invalidMetadata(fmt.Sprintf("redirect_uris: %q is listed twice", web.Truncate(u, 80)))
		}
		c.RedirectURIs = append(c.RedirectURIs, u)
	}
	switch in.IDTokenSignedResponseAlg {
	case "", keys.RS256, keys.ES256:
		c.IDTokenSignedResponseAlg = in.IDTokenSignedResponseAlg
	default:
		return c, invalidMetadata(fmt.Sprintf("id_token_signed_response_alg %q is not supported (use %s or %s)", web.Truncate(in.IDTokenSignedResponseAlg, 20), keys.RS256, keys.ES256))
	}
	sc, err := s.scopes.Parse(in.Scope)
	if err != nil {
		return c, invalidMetadata(fmt.Sprintf("scope: %v (known scopes: %s)", err, strings.Join(s.scopes.Names(), ", ")))
	}
	c.Scopes = sc
	if slices.Contains(c.Scopes, scopes.OfflineAccess) && !slices.Contains(c.GrantTypes, grantRefreshToken) {
		return c, invalidMetadata("scope offline_access needs the refresh_token grant")
	}
	if len(in.Audience) > maxAudiences {
		return c, invalidMetadata(fmt.Sprintf("at most %d audience values", maxAudiences))
	}
	c.Audience = []string{}
	for _, a := range in.Audience {
		if err := validAudience(a); err != nil {
			return c, invalidMetadata("audience: " + err.Error())
		}
		if slices.Contains(c.Audience, a) {
			return c, invalidMetadata(fmt.Sprintf("audience %q is listed twice", a))
		}
		c.Audience = append(c.Audience, a)
	}
	maxTTL := int64(s.cfg.MaxAccessTokenTTL / time.Second)
	if in.AccessTokenTTL < 0 || in.AccessTokenTTL > maxTTL {
		return c, invalidMetadata(fmt.Sprintf("access_token_ttl must be between 1 and %d seconds, or 0 for the server default", maxTTL))
	}
	c.AccessTokenTTL = time.Duration(in.AccessTokenTTL) * time.Second
	return c, nil
}

// validAudience checks one audience value: 1 to 256 printable characters
// without spaces.
func validAudience(a string) error {
	if a == "" || len(a) > maxAudienceLen || !utf8.ValidString(a) {
		return fmt.Errorf("each value must be 1 to %d characters of valid UTF-8", maxAudienceLen)
	}
	if strings.IndexFunc(a, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return errors.New("values must not contain spaces or control characters")
	}
	return nil
}

// newSecret returns a client secret of 256 random bits and its digest.
func newSecret() (string, []byte, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", nil, fmt.Errorf("generate secret: %w", err)
	}
	secret := base64.RawURLEncoding.EncodeToString(raw[:])
	sum := sha256.Sum256([]byte(secret))
	return secret, sum[:], nil
}

// CreateClient registers a client from its JSON metadata and returns it
// with its new secret, the only time the secret is shown. A client_id may
// be given; otherwise one is generated.
func (s *Server) CreateClient(ctx context.Context, in ClientJSON) (ClientJSON, error) {
	if in.ClientSecret != "" {
		return ClientJSON{}, invalidMetadata("client_secret is generated by the server and cannot be set")
	}
	return s.createClient(ctx, clientInput{
		ClientID: in.ClientID, ClientName: in.ClientName, GrantTypes: in.GrantTypes, ResponseTypes: in.ResponseTypes,
		RedirectURIs: in.RedirectURIs, Scope: in.Scope, TokenEndpointAuthMethod: in.TokenEndpointAuthMethod, JWKS: in.JWKS,
		JWKSURI: in.JWKSURI, TLSClientAuthSubjectDN: in.TLSClientAuthSubjectDN, TLSClientAuthSANDNS: in.TLSClientAuthSANDNS,
		TLSClientAuthSANURI: in.TLSClientAuthSANURI, TLSClientAuthSANIP: in.TLSClientAuthSANIP, TLSClientAuthSANEmail: in.TLSClientAuthSANEmail,
		TLSClientCertificateBoundAccessTokens: in.TLSClientCertificateBoundAccessTokens, Audience: in.Audience,
		AccessTokenTTL: in.AccessTokenTTL, IntrospectionAllowed: in.IntrospectionAllowed,
		IDTokenSignedResponseAlg: in.IDTokenSignedResponseAlg,
	})
}

func (s *Server) createClient(ctx context.Context, in clientInput) (ClientJSON, error) {
	c, err := s.validClient(in)
	if err != nil {
		return ClientJSON{}, err
	}
	c.ID = in.ClientID
	if c.ID == "" {
		var raw [12]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return ClientJSON{}, err
		}
		c.ID = hex.EncodeToString(raw[:])
	} else if !clientIDPattern.MatchString(c.ID) {
		return ClientJSON{}, invalidMetadata("client_id must be 1 to 128 characters: letters, digits and . _ ~ - (starting with a letter or digit)")
	} else if strings.HasPrefix(c.ID, "u_") {
		// A client's tokens have its ID as subject; people's IDs start
		// with u_, and must stay theirs alone.
		return ClientJSON{}, invalidMetadata("client_id must not start with u_ (people's IDs do)")
	}
	if c.Name == "" {
		c.Name = c.ID
	}
	var secret string
	if clientauth.HasSecret(c.TokenEndpointAuthMethod) {
		var err error
		if secret, c.SecretHash, err = newSecret(); err != nil {
			return ClientJSON{}, err
		}
	}
	c.CreatedAt = s.now().Truncate(time.Second)
	c.UpdatedAt = c.CreatedAt
	if err := s.store.CreateClient(ctx, c); err != nil {
		return ClientJSON{}, err
	}
	out := clientJSON(c)
	out.ClientSecret = secret
	return out, nil
}

// AdminHandler returns the handler of the admin listener. Every request
// needs the admin bearer token.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/admin/clients", s.adminClients)
	mux.HandleFunc("/admin/clients/{id}", s.adminClient)
	mux.HandleFunc("/admin/clients/{id}/secret", s.adminClientSecret)
	mux.HandleFunc("/admin/users", s.adminUsers)
	mux.HandleFunc("/admin/users/{id}", s.adminUser)
	mux.HandleFunc("/admin/users/{id}/consents", s.adminUserConsents)
	mux.HandleFunc("/admin/users/{id}/erase", s.adminUserErase)
	mux.HandleFunc("/admin/users/{id}/export", s.adminUserExport)
	mux.HandleFunc("/admin/keys", s.adminKeys)
	mux.HandleFunc("/admin/keys/rotate", s.adminRotateKeys)
	mux.HandleFunc("/admin/keys/{kid}/retire", s.adminRetireKey)
	mux.HandleFunc("/admin/audit", s.adminAudit)
	mux.HandleFunc("/admin/audit/verify", s.adminAuditVerify)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		web.WriteError(w, http.StatusNotFound, "not_found", "No such endpoint.")
	})
	outer := http.NewServeMux()
	outer.Handle("/metrics", s.metricsHandler())
	outer.Handle("/", s.auditAdmin(s.requireAdmin(mux)))
	return s.middleware("admin", outer)
}

// requireAdmin checks the admin bearer token in constant time.
func (s *Server) requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		tok, ok := strings.CutPrefix(auth, "Bearer ")
		sum := sha256.Sum256([]byte(tok))
		if !ok || subtle.ConstantTimeCompare(sum[:], s.adminTokenHash[:]) != 1 {
			s.writeAdminError(w, r, web.NewError(http.StatusUnauthorized, "unauthorized", "A valid admin bearer token is required."))
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

func (s *Server) adminClients(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	switch r.Method {
	case http.MethodGet:
		list, err := s.store.ListClients(ctx)
		if err != nil {
			s.writeAdminError(w, r, err)
			return
		}
		out := ClientList{Clients: make([]ClientJSON, 0, len(list))}
		for _, c := range list {
			out.Clients = append(out.Clients, clientJSON(c))
		}
		web.WriteJSON(w, http.StatusOK, out)
	case http.MethodPost:
		var in clientInput
		if err := web.DecodeJSON(w, r, &in); err != nil {
			s.writeAdminError(w, r, err)
			return
		}
		out, err := s.createClient(ctx, in)
		if err != nil {
			s.writeAdminError(w, r, err)
			return
		}
		s.log.Info("client created", web.RequestField(ctx), clientField(out.ClientID))
		noteAdmin(ctx, EventClientCreated, out.ClientID, "", map[string]string{"grant_types": strings.Join(out.GrantTypes, " "), "scope": out.Scope, "auth_method": out.TokenEndpointAuthMethod})
		w.Header().Set("Location", "/admin/clients/"+out.ClientID)
		web.WriteJSON(w, http.StatusCreated, out)
	default:
		web.MethodNotAllowed(w, "GET, POST")
	}
}

func (s *Server) adminClient(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	switch r.Method {
	case http.MethodGet:
		c, err := s.store.GetClient(ctx, id)
		if err != nil {
			s.writeAdminError(w, r, err)
			return
		}
		web.WriteJSON(w, http.StatusOK, clientJSON(c))
	case http.MethodPut:
		var in clientInput
		if err := web.DecodeJSON(w, r, &in); err != nil {
			s.writeAdminError(w, r, err)
			return
		}
		if in.ClientID != "" && in.ClientID != id {
			s.writeAdminError(w, r, invalidMetadata("client_id in the body differs from the one in the path"))
			return
		}
		c, err := s.validClient(in)
		if err != nil {
			s.writeAdminError(w, r, err)
			return
		}
		c.ID = id
		if c.Name == "" {
			c.Name = id
		}
		c.UpdatedAt = s.now().Truncate(time.Second)
		if err := s.store.UpdateClient(ctx, c); err != nil {
			s.writeAdminError(w, r, err)
			return
		}
		got, err := s.store.GetClient(ctx, id)
		if err != nil {
			s.writeAdminError(w, r, err)
			return
		}
		s.log.Info("client updated", web.RequestField(ctx), clientField(id))
		noteAdmin(ctx, EventClientUpdated, id, "", map[string]string{"grant_types": strings.Join(got.GrantTypes, " "), "scope": strings.Join(got.Scopes, " "), "auth_method": got.TokenEndpointAuthMethod})
		web.WriteJSON(w, http.StatusOK, clientJSON(got))
	case http.MethodDelete:
		if err := s.store.DeleteClient(ctx, id); err != nil {
			s.writeAdminError(w, r, err)
			return
		}
		s.log.Info("client deleted", web.RequestField(ctx), clientField(id))
		noteAdmin(ctx, EventClientDeleted, id, "", nil)
		w.WriteHeader(http.StatusNoContent)
	default:
		web.MethodNotAllowed(w, "GET, PUT, DELETE")
	}
}

func (s *Server) adminClientSecret(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.Method != http.MethodPost {
		web.MethodNotAllowed(w, "POST")
		return
	}
	id := r.PathValue("id")
	if c, err := s.store.GetClient(ctx, id); err != nil {
		s.writeAdminError(w, r, err)
		return
	} else if c.TokenEndpointAuthMethod == clientauth.MethodNone {
		s.writeAdminError(w, r, badRequest("This is a public client (token_endpoint_auth_method none): it has no secret to rotate."))
		return
	} else if !clientauth.HasSecret(c.TokenEndpointAuthMethod) {
		s.writeAdminError(w, r, badRequest(fmt.Sprintf("This client authenticates with %s, not a secret: it has no secret to rotate.", c.TokenEndpointAuthMethod)))
		return
	}
	secret, hash, err := newSecret()
	if err != nil {
		s.writeAdminError(w, r, err)
		return
	}
	if err := s.store.SetClientSecret(ctx, id, hash, s.now().Truncate(time.Second)); err != nil {
		s.writeAdminError(w, r, err)
		return
	}
	c, err := s.store.GetClient(ctx, id)
	if err != nil {
		s.writeAdminError(w, r, err)
		return
	}
	s.log.Info("client secret rotated", web.RequestField(ctx), clientField(id))
	noteAdmin(ctx, EventClientSecret, id, "", nil)
	out := clientJSON(c)
	out.ClientSecret = secret
	web.WriteJSON(w, http.StatusOK, out)
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
