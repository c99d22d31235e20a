package authz

import (
	"time"

	"github.com/ory/fosite"
)

// session is the fosite session of one grant. It holds no personal data:
// the subject is an opaque identifier (a client ID for client credentials).
type session struct {
	Subject    string
	AccessExp  time.Time
	RefreshExp time.Time
	CodeExp    time.Time
	// KeyID and JTI are set by the access-token strategy when it signs.
	KeyID string
	JTI   string
}

var _ fosite.Session = (*session)(nil)

func (s *session) SetExpiresAt(t fosite.TokenType, exp time.Time) {
	switch t {
	case fosite.AccessToken:
		s.AccessExp = exp
	case fosite.RefreshToken:
		s.RefreshExp = exp
	case fosite.AuthorizeCode:
		s.CodeExp = exp
	}
}

func (s *session) GetExpiresAt(t fosite.TokenType) time.Time {
	switch t {
	case fosite.AccessToken:
		return s.AccessExp
	case fosite.RefreshToken:
		return s.RefreshExp
	case fosite.AuthorizeCode:
		return s.CodeExp
	}
	return time.Time{}
}

func (s *session) GetUsername() string { return "" }
func (s *session) GetSubject() string  { return s.Subject }

func (s *session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	c := *s
	return &c
}
