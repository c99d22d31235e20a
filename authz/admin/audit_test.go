package admin

import (
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/memory"
)

// alteredAudit is a store whose audit trail reads as if entries were
// removed (hide) or its head were another (head).
type alteredAudit struct {
	*memory.Store
	hide    func(seq int64) bool
	head    func(seq int64, hash []byte) (int64, []byte)
	listErr error
}

func (s alteredAudit) ListAudit(ctx context.Context, f storage.AuditFilter) ([]storage.AuditEntry, error) {
	if s.listErr != nil {
		return nil, s.listErr
	}
	limit := f.Limit
	f.Limit = storage.MaxAuditPage
	list, err := s.Store.ListAudit(ctx, f)
	if s.hide != nil {
		list = slices.DeleteFunc(list, func(e storage.AuditEntry) bool { return s.hide(e.Seq) })
	}
	return list[:min(len(list), limit)], err
}

func (s alteredAudit) AuditHead(ctx context.Context) (int64, []byte, error) {
	seq, hash, err := s.Store.AuditHead(ctx)
	if s.head != nil {
		seq, hash = s.head(seq, hash)
	}
	return seq, hash, err
}

// auditTrail is a memory store with n entries, the first drop of them
// dropped by retention; hashes[i] is the hash of entry i+1.
func auditTrail(t testing.TB, n, drop int) (*memory.Store, [][]byte) {
	t.Helper()
	ctx := context.Background()
	s := memory.New()
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for i := range n {
		e := storage.AuditEntry{Time: start.Add(time.Duration(i) * time.Minute), Type: "test.event", Actor: "admin", Outcome: "ok"}
		if err := s.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if drop > 0 {
		if _, err := s.DropAuditBefore(ctx, start.Add(time.Duration(drop)*time.Minute), start.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	var hashes [][]byte
	list, err := s.ListAudit(ctx, storage.AuditFilter{Limit: storage.MaxAuditPage})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range list {
		for int64(len(hashes)) < e.Seq-1 {
			hashes = append(hashes, nil)
		}
		hashes = append(hashes, e.Hash)
	}
	return s, hashes
}

// TestVerifyAudit pins what VerifyAudit reports for whole, partial and
// altered trails.
func TestVerifyAudit(t *testing.T) {
	ctx := context.Background()
	h := func(s Store) *Handler { return &Handler{store: s} }
	hx := hex.EncodeToString
	for _, tc := range []struct {
		name  string
		n     int
		drop  int
		alter func(*alteredAudit, [][]byte)
		from  func([][]byte) *adminapi.AuditAnchor
		limit int64
		want  func([][]byte) adminapi.AuditVerification
	}{
		{name: "empty", want: func([][]byte) adminapi.AuditVerification {
			return adminapi.AuditVerification{OK: true, Complete: true}
		}},
		{name: "whole", n: 5, want: func(hs [][]byte) adminapi.AuditVerification {
			return adminapi.AuditVerification{OK: true, Complete: true, Entries: 5, FirstSeq: 1, LastSeq: 5, LastHash: hx(hs[4])}
		}},
		{name: "limit", n: 5, limit: 2, want: func(hs [][]byte) adminapi.AuditVerification {
			return adminapi.AuditVerification{OK: true, Entries: 2, FirstSeq: 1, LastSeq: 2, LastHash: hx(hs[1])}
		}},
		{name: "limit is the rest", n: 5, limit: 5, want: func(hs [][]byte) adminapi.AuditVerification {
			return adminapi.AuditVerification{OK: true, Complete: true, Entries: 5, FirstSeq: 1, LastSeq: 5, LastHash: hx(hs[4])}
		}},
		{name: "from", n: 5, from: anchorAt(2), want: func(hs [][]byte) adminapi.AuditVerification {
			return adminapi.AuditVerification{OK: true, Complete: true, Entries: 3, FirstSeq: 3, LastSeq: 5, LastHash: hx(hs[4])}
		}},
		{name: "from with limit", n: 5, from: anchorAt(2), limit: 2, want: func(hs [][]byte) adminapi.AuditVerification {
			return adminapi.AuditVerification{OK: true, Entries: 2, FirstSeq: 3, LastSeq: 4, LastHash: hx(hs[3])}
		}},
		{name: "from the head", n: 5, from: anchorAt(5), want: func(hs [][]byte) adminapi.AuditVerification {
			return adminapi.AuditVerification{OK: true, Complete: true, LastSeq: 5, LastHash: hx(hs[4])}
		}},
		{name: "from a rewritten entry", n: 5, from: func(hs [][]byte) *adminapi.AuditAnchor {
			return &adminapi.AuditAnchor{Seq: 2, Hash: hs[2]}
		}, want: func([][]byte) adminapi.AuditVerification {
			return adminapi.AuditVerification{BrokenAt: 2, Reason: "its hash is not the one kept for it (the chain was rewritten up to here)"}
		}},
		{name: "from beyond the head", n: 3, from: func(hs [][]byte) *adminapi.AuditAnchor {
			return &adminapi.AuditAnchor{Seq: 4, Hash: hs[2]}
		}, want: func([][]byte) adminapi.AuditVerification {
			return adminapi.AuditVerification{BrokenAt: 4,
				Reason: "the chain head says the last entry is 3, but entry 4 was checked before (entries removed from the end)"}
		}},
		{name: "after retention", n: 5, drop: 2, want: func(hs [][]byte) adminapi.AuditVerification {
			return adminapi.AuditVerification{OK: true, Complete: true, Entries: 4, FirstSeq: 3, LastSeq: 6, LastHash: hx(hs[5])}
		}},
		{name: "after retention in parts", n: 5, drop: 2, limit: 1, want: func(hs [][]byte) adminapi.AuditVerification {
			return adminapi.AuditVerification{OK: true, Entries: 1, FirstSeq: 3, LastSeq: 3, LastHash: hx(hs[2])}
		}},
		{name: "leading entries deleted", n: 5, alter: hideSeqs(1, 2), want: func(hs [][]byte) adminapi.AuditVerification {
			return adminapi.AuditVerification{Complete: true, Entries: 3, FirstSeq: 3, LastSeq: 5, LastHash: hx(hs[4]), BrokenAt: 3,
				Reason: "entries before 3 are missing and no checkpoint accounts for them (deleted leading entries)"}
		}},
		{name: "leading entries deleted in parts", n: 5, alter: hideSeqs(1, 2), limit: 1, want: func(hs [][]byte) adminapi.AuditVerification {
			return adminapi.AuditVerification{Entries: 1, FirstSeq: 3, LastSeq: 3, LastHash: hx(hs[2]), BrokenAt: 3,
				Reason: "entries before 3 are missing and no checkpoint accounts for them (deleted leading entries)"}
		}},
		{name: "entry deleted", n: 5, alter: hideSeqs(3), want: func(hs [][]byte) adminapi.AuditVerification {
			return adminapi.AuditVerification{Entries: 2, FirstSeq: 1, LastSeq: 2, LastHash: hx(hs[1]), BrokenAt: 3,
				Reason: "entries 3 to 3 are missing (deleted entries)"}
		}},
		{name: "tail deleted", n: 5, alter: hideSeqs(4, 5), want: func(hs [][]byte) adminapi.AuditVerification {
			return adminapi.AuditVerification{Complete: true, Entries: 3, FirstSeq: 1, LastSeq: 3, LastHash: hx(hs[2]), BrokenAt: 4,
				Reason: "the chain head says the last entry is 5, but the trail ends at 3 (entries removed from the end)"}
		}},
		{name: "head hash differs", n: 5, alter: func(s *alteredAudit, hs [][]byte) {
			s.head = func(seq int64, _ []byte) (int64, []byte) { return seq, hs[0] }
		}, want: func(hs [][]byte) adminapi.AuditVerification {
			return adminapi.AuditVerification{Complete: true, Entries: 5, FirstSeq: 1, LastSeq: 5, LastHash: hx(hs[4]), BrokenAt: 5,
				Reason: "the last entry's hash differs from the chain head's"}
		}},
		{name: "appended while walking", n: 5, alter: func(s *alteredAudit, hs [][]byte) {
			s.head = func(int64, []byte) (int64, []byte) { return 3, hs[2] }
		}, want: func(hs [][]byte) adminapi.AuditVerification {
			return adminapi.AuditVerification{OK: true, Complete: true, Entries: 3, FirstSeq: 1, LastSeq: 3, LastHash: hx(hs[2])}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem, hashes := auditTrail(t, tc.n, tc.drop)
			s := &alteredAudit{Store: mem}
			if tc.alter != nil {
				tc.alter(s, hashes)
			}
			var from *adminapi.AuditAnchor
			if tc.from != nil {
				from = tc.from(hashes)
			}
			got, err := h(s).VerifyAudit(ctx, from, tc.limit)
			if want := tc.want(hashes); err != nil || got != want {
				t.Errorf("VerifyAudit(%v, %d) = %+v, %v, want %+v", from, tc.limit, got, err, want)
			}
		})
	}
}

// TestVerifyAuditInParts: verifying in parts, each from where the last
// ended, checks the whole trail once.
func TestVerifyAuditInParts(t *testing.T) {
	mem, hashes := auditTrail(t, 7, 3)
	h := &Handler{store: mem}
	var from *adminapi.AuditAnchor
	var entries int64
	for calls := 0; ; calls++ {
		if calls > 10 {
			t.Fatal("VerifyAudit in parts does not end")
		}
		v, err := h.VerifyAudit(context.Background(), from, 2)
		if err != nil || !v.OK {
			t.Fatalf("VerifyAudit(%v, 2) = %+v, %v", from, v, err)
		}
		entries += v.Entries
		if v.Complete {
			if entries != 5 || v.LastSeq != 8 || v.LastHash != hex.EncodeToString(hashes[7]) {
				t.Errorf("VerifyAudit in parts: %d entries up to %d, want 5 up to 8", entries, v.LastSeq)
			}
			return
		}
		raw, _ := hex.DecodeString(v.LastHash)
		from = &adminapi.AuditAnchor{Seq: v.LastSeq, Hash: raw}
	}
}

func TestVerifyAuditFailures(t *testing.T) {
	ctx := context.Background()
	mem, hashes := auditTrail(t, 5, 2)
	t.Run("from dropped", func(t *testing.T) {
		_, err := (&Handler{store: mem}).VerifyAudit(ctx, &adminapi.AuditAnchor{Seq: 1, Hash: hashes[2]}, 0)
		var we *web.Error
		if !errors.As(err, &we) || we.Status != http.StatusBadRequest || !strings.HasPrefix(we.Description, "Entry 1 is no longer in the audit trail") {
			t.Errorf("VerifyAudit(from a dropped entry) = %v, want a 400 naming entry 1", err)
		}
	})
	t.Run("store fails", func(t *testing.T) {
		boom := errors.New("boom")
		_, err := (&Handler{store: alteredAudit{Store: mem, listErr: boom}}).VerifyAudit(ctx, nil, 0)
		if !errors.Is(err, boom) || err.Error() != "admin: read audit trail: boom" {
			t.Errorf("VerifyAudit(failing store) = %v, want admin: read audit trail: boom", err)
		}
	})
}

func anchorAt(seq int64) func([][]byte) *adminapi.AuditAnchor {
	return func(hs [][]byte) *adminapi.AuditAnchor { return &adminapi.AuditAnchor{Seq: seq, Hash: hs[seq-1]} }
}

func hideSeqs(seqs ...int64) func(*alteredAudit, [][]byte) {
	return func(s *alteredAudit, _ [][]byte) {
		s.hide = func(seq int64) bool { return slices.Contains(seqs, seq) }
	}
}
