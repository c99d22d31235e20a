package memory

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/idvauth/idvauth/storage"
)

// auditLog is the memory store's audit chain. It has its own lock so that
// auditing does not wait on token work.
type auditLog struct {
	entries []storage.AuditEntry // in Seq order
	seq     int64                // Seq of the last entry ever appended
	head    []byte               // Hash of that entry
}

// AppendAudit implements storage.AuditStore.
func (s *Store) AppendAudit(_ context.Context, entries ...storage.AuditEntry) error {
	// Seal first: an entry that cannot be sealed (a Time outside the
	// years 0 to 9999) fails the call before anything is appended.
	sealed := make([]storage.AuditEntry, len(entries))
	for i, e := range entries {
		var err error
		if sealed[i], err = e.Sealed(); err != nil {
			return fmt.Errorf("memory: append audit entries: %w", err)
		}
	}
	s.auditMu.Lock()
	defer s.auditMu.Unlock()
	s.appendAuditLocked(sealed...)
	return nil
}

// CreateTokenAudited implements storage.AuditStore: the token and its
// entry appear together, under both locks.
func (s *Store) CreateTokenAudited(_ context.Context, t storage.Token, e storage.AuditEntry) error {
	sealed, err := e.Sealed()
	if err != nil {
		return fmt.Errorf("memory: append audit entries: %w", err)
	}
	k := tokenKey{t.Kind, t.Signature}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[t.ClientID]; !ok {
		return fmt.Errorf("memory: create token of client %q: %w", t.ClientID, storage.ErrNotFound)
	}
	if _, ok := s.tokens[k]; ok {
		return fmt.Errorf("memory: create %s: %w", t.Kind, storage.ErrAlreadyExists)
	}
	s.auditMu.Lock()
	defer s.auditMu.Unlock()
	s.tokens[k] = cloneToken(t)
	s.appendAuditLocked(sealed)
	return nil
}

// appendAuditLocked chains sealed entries onto the log; s.auditMu must be
// held.
func (s *Store) appendAuditLocked(sealed ...storage.AuditEntry) {
	a := &s.audit
	if a.head == nil {
		a.head = storage.ZeroAuditHash()
	}
	for _, out := range sealed {
		a.seq++
		out.Seq, out.PrevHash, out.Hash = a.seq, a.head, storage.AuditHash(a.head, out.Body)
		a.entries = append(a.entries, out)
		a.head = out.Hash
	}
}

// ListAudit implements storage.AuditStore.
func (s *Store) ListAudit(_ context.Context, f storage.AuditFilter) ([]storage.AuditEntry, error) {
	limit := f.Limit
	if limit <= 0 || limit > storage.MaxAuditPage {
		limit = storage.MaxAuditPage
	}
	s.auditMu.Lock()
	defer s.auditMu.Unlock()
	es := s.audit.entries
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
func (s *Store) DropAuditBefore(_ context.Context, before, now time.Time) (int, error) {
	s.auditMu.Lock()
	defer s.auditMu.Unlock()
	es := s.audit.entries
	n := 0
	for n < len(es) && es[n].Time.Before(before) {
		n++
	}
	if n == 0 {
		return 0, nil
	}
	last := es[n-1]
	cp := storage.AuditEntry{
		Time: now, Type: storage.AuditCheckpoint, Actor: "system", Outcome: "ok",
		Details: map[string]string{
			"dropped_through": strconv.FormatInt(last.Seq, 10),
			"last_hash":       hex.EncodeToString(last.Hash),
			"dropped":         strconv.Itoa(n),
		},
	}
	sealed, err := cp.Sealed()
	if err != nil {
		return 0, fmt.Errorf("memory: drop audit entries: %w", err)
	}
	s.appendAuditLocked(sealed)
	s.audit.entries = slices.Clone(s.audit.entries[n:])
	return n, nil
}

// AuditHead implements storage.AuditStore.
func (s *Store) AuditHead(context.Context) (int64, []byte, error) {
	s.auditMu.Lock()
	defer s.auditMu.Unlock()
	if s.audit.head == nil {
		return 0, storage.ZeroAuditHash(), nil
	}
	return s.audit.seq, slices.Clone(s.audit.head), nil
}
