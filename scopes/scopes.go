// Package scopes is the registry of OAuth 2.0 scopes that idvauth knows:
// their names, the texts shown to people on consent pages, and the policy
// of which client may be granted which scope.
//
// A Registry is immutable after New and safe for concurrent use.
package scopes

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Built-in scopes of the IDV API.
const (
	Verify     = "identity.verify"
	ReadStatus = "identity.read_status"
)

// Built-in OpenID Connect scopes.
const (
	// OpenID asks for an ID token: who signed in.
	OpenID = "openid"
	// Profile releases the name and username at the userinfo endpoint.
	Profile = "profile"
	// Email releases the email address at the userinfo endpoint.
	Email = "email"
	// OfflineAccess asks for a refresh token.
	OfflineAccess = "offline_access"
)

// MaxLen is the longest scope name the registry accepts.
const MaxLen = 128

// Scope is one scope name with its human-readable description.
type Scope struct {
	Name        string `json:"name" yaml:"name"`
	Description string `json:"description" yaml:"description"`
}

// Builtin returns the scopes every idvauth server knows.
func Builtin() []Scope {
	return []Scope{
		{Name: Verify, Description: "Start identity verifications (documents, selfie, address checks) on your behalf."},
		{Name: ReadStatus, Description: "Read the status and outcome of identity verifications."},
		{Name: OpenID, Description: "Confirm who you are when you sign in."},
		{Name: Profile, Description: "See your name and username."},
		{Name: Email, Description: "See your email address."},
		{Name: OfflineAccess, Description: "Keep access while you are not signed in, until you withdraw it."},
	}
}

// ErrUnknown is returned (wrapped) for a scope the registry does not know.
var ErrUnknown = errors.New("unknown scope")

// ErrInvalid is returned (wrapped) for a scope name that breaks RFC 6749
// section 3.3 syntax or the length limit.
var ErrInvalid = errors.New("invalid scope")

// Registry knows a fixed set of scopes.
type Registry struct {
	byName map[string]Scope
	names  []string // sorted
}

// New builds a registry of the built-in scopes plus extra. An extra scope
// with a built-in or repeated name, an invalid name or an empty
// description is an error.
func New(extra []Scope) (*Registry, error) {
	r := &Registry{byName: make(map[string]Scope)}
	for i, s := range append(Builtin(), extra...) {
		if err := ValidName(s.Name); err != nil {
			return nil, fmt.Errorf("scopes: scope %d: %w", i, err)
		}
		if strings.TrimSpace(s.Description) == "" {
			return nil, fmt.Errorf("scopes: scope %q has no description", s.Name)
		}
		if _, dup := r.byName[s.Name]; dup {
			return nil, fmt.Errorf("scopes: scope %q is defined twice", s.Name)
		}
		r.byName[s.Name] = s
		r.names = append(r.names, s.Name)
	}
	sort.Strings(r.names)
	return r, nil
}

// Known reports whether name is a registered scope.
func (r *Registry) Known(name string) bool {
	_, ok := r.byName[name]
	return ok
}

// Get returns the scope called name.
func (r *Registry) Get(name string) (Scope, bool) {
	s, ok := r.byName[name]
	return s, ok
}

// Names returns the registered scope names, sorted. The caller must not
// modify the slice.
func (r *Registry) Names() []string { return r.names }

// Parse splits a space-separated scope string (RFC 6749 section 3.3) and
// checks that every scope is well formed and registered. Repeated scopes
// are kept once; the order of first appearance is kept. An empty string
// gives an empty list.
func (r *Registry) Parse(s string) ([]string, error) {
	fields := strings.Split(s, " ")
	out := make([]string, 0, len(fields))
	for _, f := range fields {
		if f == "" {
			continue
		}
		if err := ValidName(f); err != nil {
			return nil, err
		}
		if !r.Known(f) {
			return nil, fmt.Errorf("%w %q", ErrUnknown, f)
		}
		if !contains(out, f) {
			out = append(out, f)
		}
	}
	return out, nil
}

// Allowed reports whether a client registered for the scopes in allowed may
// be granted scope: it must be registered for it, exactly, and the scope
// must still be known to the registry (a scope removed from configuration
// is granted to nobody).
func (r *Registry) Allowed(allowed []string, scope string) bool {
	return r.Known(scope) && contains(allowed, scope)
}

// ValidName checks a scope name against the scope-token grammar of RFC 6749
// section 3.3 (%x21 / %x23-5B / %x5D-7E) and MaxLen.
func ValidName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty name", ErrInvalid)
	}
	if len(name) > MaxLen {
		return fmt.Errorf("%w: longer than %d characters", ErrInvalid, MaxLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
			return fmt.Errorf("%w: %q has a character not allowed in a scope", ErrInvalid, name)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
