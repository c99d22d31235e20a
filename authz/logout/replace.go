package logout

import (
	"context"
	"errors"
	"fmt"

	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/storage"
)

// Replace signs a browser in with the new session bs in place of the
// session oldID its cookie named (empty if none), so that no session's
// clients are left behind: the same person's live session hands its
// grants to bs (they keep their sid), so its clients stay signed in and
// are told when bs ends; another person's session is logged out (End:
// its clients are told, its tokens revoked) before bs exists; an expired
// one is ended as the janitor would (its clients are told). ip is the
// browser's address for the audit trail.
//
// If the sign-in cannot be completed after Replace (its audit entry
// fails), undo puts the old session back with its grants, or deletes bs
// when the old one was ended.
func (s *Service) Replace(ctx context.Context, oldID string, bs storage.BrowserSession, ip string) (undo func(context.Context), err error) {
	old, found := storage.BrowserSession{}, false
	if oldID != "" && oldID != bs.ID {
		old, err = s.cfg.Store.GetBrowserSession(ctx, oldID)
		switch {
		case err == nil:
			found = true
		case !errors.Is(err, storage.ErrNotFound):
			return nil, fmt.Errorf("logout: %w", err)
		}
	}
	drop := func(ctx context.Context) { _ = s.cfg.Store.DeleteBrowserSession(ctx, bs.ID) }
	switch {
	case found && old.UserID == bs.UserID && old.ExpiresAt.After(s.now()):
		if err := s.cfg.Store.ReplaceBrowserSession(ctx, old.ID, bs); err != nil {
			return nil, fmt.Errorf("logout: %w", err)
		}
		return func(ctx context.Context) { _ = s.cfg.Store.ReplaceBrowserSession(ctx, bs.ID, old) }, nil
	case found:
		how := ending{actor: audit.User(bs.UserID), ip: ip, outcome: "replaced", store: s.cfg.Store.EndBrowserSession}
		if old.UserID == bs.UserID {
			how = ending{actor: audit.System, outcome: "expired", store: s.cfg.Store.ExpireBrowserSession}
		}
		if err := s.end(ctx, old, how); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
	}
	if err := s.cfg.Store.CreateBrowserSession(ctx, bs); err != nil {
		return nil, fmt.Errorf("logout: %w", err)
	}
	return drop, nil
}
