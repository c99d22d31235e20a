package refresh

import (
	"testing"

	"github.com/ory/fosite"
)

// boundSession is a session that says whether its refresh token was
// stored bound.
type boundSession struct {
	fosite.DefaultSession
	bound bool
}

func (s *boundSession) StoredBound() bool { return s.bound }

// TestKeeps: a refresh token is kept only if its client keeps them and it
// was stored bound; a session that cannot say is taken as unbound.
func TestKeeps(t *testing.T) {
	for _, tt := range []struct {
		name        string
		sess        fosite.Session
		clientKeeps bool
		want        bool
	}{
		{"bound, client keeps", &boundSession{bound: true}, true, true},
		{"unbound, client keeps", &boundSession{}, true, false},
		{"bound, client rotates", &boundSession{bound: true}, false, false},
		{"session that cannot say", &fosite.DefaultSession{}, true, false},
	} {
		h := &Handler{Keep: func(fosite.Client) bool { return tt.clientKeeps }}
		ar := fosite.NewAccessRequest(tt.sess)
		ar.Client = &fosite.DefaultClient{ID: "c"}
		if got := h.keeps(ar); got != tt.want {
			t.Errorf("%s: keeps = %t, want %t", tt.name, got, tt.want)
		}
	}
}
