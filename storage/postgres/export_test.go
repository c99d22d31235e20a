package postgres

// Test hooks into the group inserter.

// HoldTokenFlushes makes s run one group insert at a time and calls hook
// before each.
func HoldTokenFlushes(s *Store, hook func()) {
	s.inserter.max = 1
	s.inserter.beforeFlush = hook
}

// QueuedTokens is how many tokens wait for a group insert.
func QueuedTokens(s *Store) int {
	s.inserter.mu.Lock()
	defer s.inserter.mu.Unlock()
	return len(s.inserter.queue)
}
