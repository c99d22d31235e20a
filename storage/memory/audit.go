package memory

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/idvauth/idvauth/storage"
)

// auditStore is the storage.AuditStore part of Store: the audit chain. It
// has its own lock so that auditing does not wait on token work; only
// CreateTokenAudited takes both (the tables' first).
type auditStore struct {
	tables *tables // for CreateTokenAudited

	mu      sync.Mutex           // guards what follows
	entries []storage.AuditEntry // in Seq order
	seq     int64                // Seq of the last entry ever appended
	head    []byte               // Hash of that entry
}

// AppendAudit implements storage.AuditStore.
func (s *auditStore) AppendAudit(_ context.Context, entries ...storage.AuditEntry) error {
	// Seal first: an entry that cannot be sealed (a Time outside the
	// years 0 to 9999) fails the call before anything is appended.
	sealed := make([]storage.AuditEntry, len(entries))
	for i, e := range entries {
		var err error
		if sealed[i], err = e.Sealed(); err != nil {
			return fmt.Errorf("memory: append audit entries: %w", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appendLocked(sealed...)
	return nil
}

// CreateTokenAudited implements storage.AuditStore: the token and its
// entry appear together, under both locks.
func (s *auditStore) CreateTokenAudited(_ context.Context, t storage.Token, e storage.AuditEntry) error {
	sealed, err := e.Sealed()
	if err != nil {
		return fmt.Errorf("memory: append audit entries: %w", err)
	}
	s.tables.mu.Lock()
	defer s.tables.mu.Unlock()
	if err := s.tables.addTokenLocked(t); err != nil {
		return err
	}
	// Sealed already, the entry cannot fail to append: the token and its
	// entry are stored both or neither.
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appendLocked(sealed)
	return nil
}

// appendLocked chains sealed entries onto the log; s.mu must be held.
func (s *auditStore) appendLocked(sealed ...storage.AuditEntry) {
	if s.head == nil {
		s.head = storage.ZeroAuditHash()
	}
	for _, out := range sealed {
		s.seq++
		out.Seq, out.PrevHash, out.Hash = s.seq, s.head, storage.AuditHash(s.head, out.Body)
		s.entries = append(s.entries, out)
		s.head = out.Hash
	}
}

// ListAudit implements storage.AuditStore.
func (s *auditStore) ListAudit(_ context.Context, f storage.AuditFilter) ([]storage.AuditEntry, error) {
	limit := f.Limit
	if limit <= 0 || limit > storage.MaxAuditPage {
		limit = storage.MaxAuditPage
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	es := s.entries
	i := sort.Search(len(es), func(i int) bool { return es[i].Seq > f.AfterSeq })
	var out []storage.AuditEntry
	for ; i < len(es) && len(out) < limit; i++ {
		e := es[i]
		if (!f.Since.IsZero() && e.Time.Before(f.Since)) || (!f.Until.IsZero() && !e.Time.Before(f.Until)) ||
			(f.Type != "" && e.Type != f.Type) || (f.ClientID != "" && e.ClientID != f.ClientID) ||
			(f.Subject != "" && e.Subject != f.Subject) {
			continue
		}
		out = append(out, cloneAudit(e))
	}
	return out, nil
}

func cloneAudit(e storage.AuditEntry) storage.AuditEntry {
	var c storage.AuditEntry
	c.Seq, c.PrevHash, c.Hash = e.Seq, slices.Clone(e.PrevHash), slices.Clone(e.Hash)
	_ = storage.DecodeAuditBody(&c, slices.Clone(e.Body))
	return c
}

// DropAuditBefore implements storage.AuditStore.
func (s *auditStore) DropAuditBefore(_ context.Context, before, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	es := s.entries
	n := 0
	for n < len(es) && es[n].Time.Before(before) {
		n++
	}
	if n == 0 {
		return 0, nil
	}
	last := es[n-1]
	cp := storage.NewAuditCheckpoint(now, last.Seq, last.Hash, n)
	sealed, err := cp.Sealed()
	if err != nil {
		return 0, fmt.Errorf("memory: drop audit entries: %w", err)
	}
	s.appendLocked(sealed)
	s.entries = slices.Clone(s.entries[n:])
	return n, nil
}

// AuditHead implements storage.AuditStore.
func (s *auditStore) AuditHead(context.Context) (int64, []byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.head == nil {
		return 0, storage.ZeroAuditHash(), nil
	}
	return s.seq, slices.Clone(s.head), nil
}
