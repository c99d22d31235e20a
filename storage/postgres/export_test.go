package postgres

// Test hooks into the group committers.

// HoldTokenFlushes makes s run one group insert at a time and calls hook
// before each.
func HoldTokenFlushes(s *Store, hook func()) {
	s.inserter.Max = 1
	s.inserter.BeforeFlush = hook
}

// QueuedTokens is how many tokens wait for a group insert.
func QueuedTokens(s *Store) int { return s.inserter.Queued() }

// HoldAuditFlushes makes s run one audit append at a time and calls hook
// before each.
func HoldAuditFlushes(s *Store, hook func()) {
	s.auditor.Max = 1
	s.auditor.BeforeFlush = hook
}

// QueuedAudit is how many AppendAudit calls wait for a group append.
func QueuedAudit(s *Store) int { return s.auditor.Queued() }

// SetAuditFlushers sets how many audit group appends s runs at once.
func SetAuditFlushers(s *Store, n int) { s.auditor.Max = n }

// CachedUnknown reports whether s's client cache holds id as unknown.
func CachedUnknown(s *Store, id string) bool {
	if s.cache == nil {
		return false
	}
	_, _, unknown, _ := s.cache.get(id)
	return unknown
}
