// Package adminauth decides who may call which admin route: the admin
// scopes, the role of an operator and the scopes it carries, the scope
// each admin route needs, and the check of the credential of an admin
// request (an idvauth access token, or the break-glass token).
//
// The admin API is a resource server of idvauth itself: it accepts the
// access tokens idvauth issues for its audience, checks them as
// introspection does (a revoked token, or one of a deleted client, is
// refused at once on every replica), and reads the operator behind an
// operator's token on every request, so that a disabled operator or a
// lowered role counts at once too.
package adminauth

import (
	"slices"
	"strings"

	"github.com/idvauth/idvauth/scopes"
)

// The admin scopes. A token carries some; each admin route needs one.
const (
	ClientsRead     = "admin:clients:read"
	ClientsWrite    = "admin:clients:write"
	KeysRead        = "admin:keys:read"
	KeysWrite       = "admin:keys:write"
	PeopleRead      = "admin:people:read"
	PeopleWrite     = "admin:people:write"
	PeopleErase     = "admin:people:erase"
	AuditRead       = "admin:audit:read"
	OperatorsWrite  = "admin:operators:write"
	scopePrefix     = "admin:"
	authenticated   = "" // any admin caller: the route needs no scope of its own
	breakGlassActor = "break-glass"
)

// Scopes returns every admin scope, sorted.
func Scopes() []string {
	return []string{AuditRead, ClientsRead, ClientsWrite, KeysRead, KeysWrite, OperatorsWrite, PeopleErase, PeopleRead, PeopleWrite}
}

// IsAdminScope reports whether scope is an admin scope (or claims to be
// one: every scope named admin:... is kept for the admin API).
func IsAdminScope(scope string) bool { return strings.HasPrefix(scope, scopePrefix) }

// ProvesKey reports whether a client of the token endpoint auth method
// proves a key (private_key_jwt, RFC 7523) or a certificate (RFC 8705):
// only such clients may hold an admin scope, never one with a shared
// secret.
func ProvesKey(method string) bool {
	switch method {
	case "private_key_jwt", "tls_client_auth", "self_signed_tls_client_auth":
		return true
	}
	return false
}

// The operator roles.
const (
	Owner   = "owner"
	Admin   = "admin"
	Support = "support"
	Auditor = "auditor"
)

// roles is THE table of what each role may do: the scopes an operator of
// the role may hold. A token of an operator carries at most these (the
// role is the ceiling, checked on every request against the operator's
// current role). Only an owner manages operators; only owners and admins
// change signing keys or erase people; support looks after people and
// reads clients; an auditor reads the trail and the configuration, and no
// personal data.
var roles = map[string][]string{
	Owner:   {ClientsRead, ClientsWrite, KeysRead, KeysWrite, PeopleRead, PeopleWrite, PeopleErase, AuditRead, OperatorsWrite},
	Admin:   {ClientsRead, ClientsWrite, KeysRead, KeysWrite, PeopleRead, PeopleWrite, PeopleErase, AuditRead},
	Support: {ClientsRead, PeopleRead, PeopleWrite, AuditRead},
	Auditor: {ClientsRead, KeysRead, AuditRead},
}

// Roles returns the role names, from most to least powerful.
func Roles() []string { return []string{Owner, Admin, Support, Auditor} }

// RoleScopes returns the scopes of role, sorted; nil for no role.
func RoleScopes(role string) []string {
	s := slices.Clone(roles[role])
	slices.Sort(s)
	return s
}

// ValidRole reports whether role is a role.
func ValidRole(role string) bool { _, ok := roles[role]; return ok }

// routes is THE table of the scope each admin route needs, by "METHOD
// pattern" (the pattern the admin mux matched). A method of a route that
// is not here is not served (the route answers 405 before doing
// anything); a test holds this table to the OpenAPI document, so that
// every operation the API describes is in it and nothing else is.
var routes = map[string]string{
	"GET /admin/clients":                             ClientsRead,
	"POST /admin/clients":                            ClientsWrite,
	"GET /admin/clients/{id}":                        ClientsRead,
	"PUT /admin/clients/{id}":                        ClientsWrite,
	"DELETE /admin/clients/{id}":                     ClientsWrite,
	"POST /admin/clients/{id}/secret":                ClientsWrite,
	"GET /admin/clients/{id}/api-keys":               ClientsRead,
	"POST /admin/clients/{id}/api-keys":              ClientsWrite,
	"DELETE /admin/clients/{id}/api-keys/{key}":      ClientsWrite,
	"POST /admin/clients/{id}/api-keys/{key}/rotate": ClientsWrite,
	"GET /admin/keys":                                KeysRead,
	"POST /admin/keys/rotate":                        KeysWrite,
	"POST /admin/keys/{kid}/retire":                  KeysWrite,
	"GET /admin/users":                               PeopleRead,
	"POST /admin/users":                              PeopleWrite,
	"GET /admin/users/{id}":                          PeopleRead,
	"DELETE /admin/users/{id}":                       PeopleErase,
	"DELETE /admin/users/{id}/consents":              PeopleWrite,
	"POST /admin/users/{id}/erase":                   PeopleErase,
	"GET /admin/users/{id}/export":                   PeopleRead,
	"POST /admin/users/{id}/mfa/reset":               PeopleWrite,
	"PATCH /admin/users/{id}":                        PeopleWrite,
	"POST /admin/users/{id}/password-reset":          PeopleWrite,
	"GET /admin/audit":                               AuditRead,
	"GET /admin/audit/verify":                        AuditRead,
	"GET /admin/audit/head":                          AuditRead,
	"GET /admin/operators":                           OperatorsWrite,
	"POST /admin/operators":                          OperatorsWrite,
	"GET /admin/operators/{id}":                      OperatorsWrite,
	"PUT /admin/operators/{id}":                      OperatorsWrite,
	"POST /admin/operators/{id}/mfa/reset":           OperatorsWrite,
	"GET /admin/openapi.json":                        authenticated,
	// Four-eyes requests: any role may see them; deciding on one needs
	// the scope of its action, which authz/foureyes checks per request.
	"GET /admin/requests":               AuditRead,
	"GET /admin/requests/{id}":          AuditRead,
	"POST /admin/requests/{id}/approve": authenticated,
	"POST /admin/requests/{id}/reject":  authenticated,
}

// RouteScope returns the scope that method on the route pattern needs
// ("" if any admin caller may), and false if the route does not serve
// method.
func RouteScope(method, pattern string) (string, bool) {
	s, ok := routes[method+" "+pattern]
	return s, ok
}

// Operations returns every "METHOD pattern" of the table, sorted.
func Operations() []string {
	out := make([]string, 0, len(routes))
	for op := range routes {
		out = append(out, op)
	}
	slices.Sort(out)
	return out
}

// ScopeRegistry is the scope registry entries of the admin scopes.
func ScopeRegistry() []scopes.Scope {
	var out []scopes.Scope
	for _, sc := range Scopes() {
		out = append(out, scopes.Scope{Name: sc, Description: "Operate idvauth through its admin API (" + sc + ")."})
	}
	return out
}
