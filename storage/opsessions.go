package storage

import (
	"context"
	"time"
)

// OperatorSession is an operator's browser session in the web console,
// kept on the server so that signing out ends it everywhere at once.
type OperatorSession struct {
	// Digest is the SHA-256 of the session ID the browser holds (never
	// the ID itself).
	Digest     []byte
	OperatorID string
	CreatedAt  time.Time
	// LastSeenAt is the time of the session's last request: a session
	// idle for longer than the console's idle timeout is over.
	LastSeenAt time.Time
	// ExpiresAt ends the session whatever its use.
	ExpiresAt time.Time
}

// OperatorSessionStore keeps operators' console sessions.
type OperatorSessionStore interface {
	// CreateOperatorSession stores a new session; ErrAlreadyExists if its
	// digest is taken.
	CreateOperatorSession(ctx context.Context, s OperatorSession) error
	// TouchOperatorSession returns the session with digest and sets its
	// LastSeenAt to now, in one step, if at now it has neither expired nor
	// been idle for idle or more; ErrNotFound otherwise (no such session,
	// ended, expired or idle).
	TouchOperatorSession(ctx context.Context, digest []byte, now time.Time, idle time.Duration) (OperatorSession, error)
	// DeleteOperatorSession ends the session with digest; no error if
	// there is none.
	DeleteOperatorSession(ctx context.Context, digest []byte) error
	// DeleteOperatorSessions ends every session of the operator
	// operatorID and returns how many there were.
	DeleteOperatorSessions(ctx context.Context, operatorID string) (int, error)
}
