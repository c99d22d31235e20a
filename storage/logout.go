package storage

import (
	"context"
	"time"
)

// SessionGrant records that a browser session was used to grant a client
// something: an authorization code, and the tokens issued from it (which
// share RequestID). Logging the session out revokes those tokens and
// tells the client (back-channel logout).
type SessionGrant struct {
	// SessionID is the browser session's ID (BrowserSession.ID).
	SessionID string
	// RequestID is the grant's request ID (Token.RequestID).
	RequestID string
	ClientID  string
	// SID is the session's sid claim as the client's ID tokens carry it.
	SID       string
	CreatedAt time.Time
}

// LogoutDelivery is a back-channel logout token still to be delivered to
// a client: it waits in an outbox, so that a delivery survives a restart
// and any replica may make it.
type LogoutDelivery struct {
	// ID is a server-made random identifier.
	ID       string
	ClientID string
	// Subject and SID are the person and the browser session logged out.
	Subject string
	SID     string
	// Attempts is how many deliveries were tried and failed.
	Attempts int
	// NextAttempt is when it is due.
	NextAttempt time.Time
	CreatedAt   time.Time
}

// LogoutStore keeps what logging out needs: the clients each browser
// session was used for, and the outbox of back-channel logout deliveries.
type LogoutStore interface {
	// AddSessionGrant records a grant made in a browser session;
	// ErrNotFound if the session or the client does not exist. Deleting
	// the session (DeleteBrowserSession, DeleteUser, expiry) or the
	// client deletes its grants with it.
	AddSessionGrant(ctx context.Context, g SessionGrant) error
	// ListSessionGrants returns the session's grants ordered by
	// CreatedAt, then RequestID; empty if none (or no such session).
	ListSessionGrants(ctx context.Context, sessionID string) ([]SessionGrant, error)
	// EndBrowserSession logs a browser session out in one step: it
	// deletes the session and its grants, revokes every access and
	// refresh token issued from the grants, and queues deliveries. If
	// the session does not exist it is ErrNotFound and nothing changes.
	EndBrowserSession(ctx context.Context, sessionID string, deliveries []LogoutDelivery) error
	// ExpireBrowserSession ends an expired browser session in one step:
	// it deletes the session and its grants and queues deliveries, as
	// EndBrowserSession does, but leaves the grants' tokens alone (a
	// refresh token is offline access, meant to outlive the session). If
	// the session does not exist it is ErrNotFound and nothing changes.
	ExpireBrowserSession(ctx context.Context, sessionID string, deliveries []LogoutDelivery) error
	// ListExpiredBrowserSessions returns at most limit browser sessions
	// that expired before before and still have grants, earliest expiry
	// first (then by ID): the sessions whose clients are told of the
	// expiry before the janitor deletes them.
	ListExpiredBrowserSessions(ctx context.Context, before time.Time, limit int) ([]BrowserSession, error)
	// ReplaceBrowserSession signs a browser in again as the same person:
	// in one step it creates bs, moves the grants of the session oldID
	// to it (unchanged: they keep their SID, the one their clients
	// know) and deletes oldID. If oldID does not exist it only creates
	// bs. ErrAlreadyExists if bs.ID exists, ErrNotFound if bs.UserID
	// does not, ErrConflict if oldID belongs to another person; nothing
	// changes then.
	ReplaceBrowserSession(ctx context.Context, oldID string, bs BrowserSession) error
	// ClaimLogoutDeliveries returns at most limit deliveries due at now,
	// oldest first, and moves their NextAttempt to now+lease in the same
	// step, so that no other caller (replica) gets them before the lease
	// ends: of concurrent callers each delivery goes to exactly one.
	ClaimLogoutDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]LogoutDelivery, error)
	// RetryLogoutDelivery sets a delivery's Attempts and NextAttempt;
	// ErrNotFound if it is gone.
	RetryLogoutDelivery(ctx context.Context, id string, attempts int, next time.Time) error
	// FinishLogoutDelivery removes a delivery (delivered, or given up);
	// ErrNotFound if it is gone.
	FinishLogoutDelivery(ctx context.Context, id string) error
}
