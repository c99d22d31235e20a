package storagetest

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/idvauth/idvauth/storage/storagetest/internal/fixture"

	"github.com/idvauth/idvauth/storage"
)

// auditTests are the audit trail's part of the contract.
var auditTests = []struct {
	name string
	fn   func(t *testing.T, s storage.Store)
}{
	{"AuditAppendList", testAuditAppendList},
	{"AuditFilters", testAuditFilters},
	{"AuditPagination", testAuditPagination},
	{"AuditPageCap", testAuditPageCap},
	{"AuditOddValues", testAuditOddValues},
	{"AuditTimeOutOfRange", testAuditTimeOutOfRange},
	{"AuditConcurrentAppend", testAuditConcurrentAppend},
	{"AuditDropConcurrent", testAuditDropConcurrent},
	{"CreateTokenAudited", testCreateTokenAudited},
	{"ListTokensBySubject", testListTokensBySubject},
	{"ListBrowserSessions", testListBrowserSessions},
}

// auditEntry is an event at at, with a request id naming it.
func auditEntry(at time.Time, typ, clientID, subject string) storage.AuditEntry {
	return storage.AuditEntry{
		Time: at, Type: typ, Actor: "client:" + clientID, RequestID: fixture.ID("req"), ClientID: clientID,
		Subject: subject, IP: "192.0.2.7", Outcome: "ok", Details: map[string]string{"grant": "client_credentials"},
	}
}

func mustAppendAudit(t testing.TB, s storage.Store, es ...storage.AuditEntry) {
	t.Helper()
	if err := s.AppendAudit(context.Background(), es...); err != nil {
		t.Fatalf("AppendAudit(%d entries) = %v", len(es), err)
	}
}

func mustListAudit(t testing.TB, s storage.Store, f storage.AuditFilter) []storage.AuditEntry {
	t.Helper()
	es, err := s.ListAudit(context.Background(), f)
	if err != nil {
		t.Fatalf("ListAudit(%+v) = %v", f, err)
	}
	return es
}

// allAudit reads the whole trail, a few entries per page.
func allAudit(t testing.TB, s storage.Store) []storage.AuditEntry {
	t.Helper()
	var all []storage.AuditEntry
	f := storage.AuditFilter{Limit: 7}
	for {
		page := mustListAudit(t, s, f)
		all = append(all, page...)
		if len(page) < f.Limit {
			return all
		}
		f.AfterSeq = page[len(page)-1].Seq
	}
}

// verifyAudit checks the whole trail with storage.AuditVerifier, page by
// page, and returns how many entries it checked.
func verifyAudit(t testing.TB, s storage.Store) int64 {
	t.Helper()
	var v storage.AuditVerifier
	for _, e := range allAudit(t, s) {
		if err := v.Add(e); err != nil {
			t.Fatalf("AuditVerifier.Add(entry %d) = %v", e.Seq, err)
		}
	}
	n, err := v.Finish()
	if err != nil {
		t.Fatalf("AuditVerifier.Finish() = %v", err)
	}
	return n
}

// wantStored checks that got is want as a store keeps it: the event
// fields of its canonical form, with Seq, hashes and Body set.
func wantStored(t testing.TB, got, want storage.AuditEntry) {
	t.Helper()
	var w storage.AuditEntry
	if err := storage.DecodeAuditBody(&w, want.Canonical()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Body, w.Body) {
		t.Errorf("entry %d body = %s, want %s", got.Seq, got.Body, w.Body)
	}
	if !bytes.Equal(got.Hash, storage.AuditHash(got.PrevHash, got.Body)) {
		t.Errorf("entry %d hash = %x, want SHA-256(prev || body)", got.Seq, got.Hash)
	}
	if !got.Time.Equal(w.Time) || got.Time.Location() != time.UTC {
		t.Errorf("entry %d time = %v, want %v (UTC)", got.Seq, got.Time, w.Time)
	}
	g := got
	g.Seq, g.PrevHash, g.Hash, g.Body, g.Time, w.Body, w.Time = 0, nil, nil, nil, time.Time{}, nil, time.Time{}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("entry %d =\n%+v\nwant\n%+v", got.Seq, g, w)
	}
}

func testAuditAppendList(t *testing.T, s storage.Store) {
	if seq, hash, err := s.AuditHead(context.Background()); err != nil || seq != 0 || !bytes.Equal(hash, storage.ZeroAuditHash()) {
		t.Errorf("AuditHead() of an empty trail = %d, %x, %v; want 0 and the zero hash", seq, hash, err)
	}
	base := fixture.Now().Add(-time.Hour)
	in := []storage.AuditEntry{
		auditEntry(base.Add(123456789*time.Nanosecond), "token.issued", fixture.ID("c"), ""),
		auditEntry(base.Add(time.Second), "login.failed", "", fixture.ID("sub")),
		auditEntry(base.Add(2*time.Second), "client.created", fixture.ID("c"), ""),
	}
	in[1].Outcome, in[1].Details, in[1].IP, in[1].Actor = "access_denied", nil, "", "anonymous"
	mustAppendAudit(t, s, in[0])
	mustAppendAudit(t, s, in[1:]...)
	got := mustListAudit(t, s, storage.AuditFilter{})
	if len(got) != len(in) {
		t.Fatalf("ListAudit() = %d entries, want %d", len(got), len(in))
	}
	prev := storage.ZeroAuditHash()
	for i, e := range got {
		if e.Seq != int64(i+1) {
			t.Errorf("entry %d: Seq = %d, want %d", i, e.Seq, i+1)
		}
		if !bytes.Equal(e.PrevHash, prev) {
			t.Errorf("entry %d: PrevHash = %x, want %x", e.Seq, e.PrevHash, prev)
		}
		prev = e.Hash
		wantStored(t, e, in[i])
	}
	if n := verifyAudit(t, s); n != int64(len(in)) {
		t.Errorf("verified %d entries, want %d", n, len(in))
	}
	seq, hash, err := s.AuditHead(context.Background())
	if last := got[len(got)-1]; err != nil || seq != last.Seq || !bytes.Equal(hash, last.Hash) {
		t.Errorf("AuditHead() = %d, %x, %v; want the last entry's %d, %x", seq, hash, err, last.Seq, last.Hash)
	}
	// The caller's values are left alone.
	if in[0].Seq != 0 || in[0].Hash != nil || in[0].Body != nil {
		t.Errorf("AppendAudit changed its argument: %+v", in[0])
	}
	// Appending nothing appends nothing.
	mustAppendAudit(t, s)
	if got := mustListAudit(t, s, storage.AuditFilter{}); len(got) != len(in) {
		t.Errorf("after AppendAudit() with no entries: %d entries, want %d", len(got), len(in))
	}
}

func testAuditFilters(t *testing.T, s storage.Store) {
	base := fixture.Now().Add(-time.Hour)
	c1, c2, sub1, sub2 := fixture.ID("c"), fixture.ID("c"), fixture.ID("sub"), fixture.ID("sub")
	in := []storage.AuditEntry{
		auditEntry(base, "token.issued", c1, ""),                    // 1
		auditEntry(base.Add(1*time.Second), "token.issued", c2, ""), // 2
		auditEntry(base.Add(2*time.Second), "login.ok", c1, sub1),   // 3
		auditEntry(base.Add(3*time.Second), "login.ok", c2, sub2),   // 4
		auditEntry(base.Add(4*time.Second), "token.revoked", c1, sub1),
		auditEntry(base.Add(5*time.Second), "token.issued", c1, sub1),
	}
	mustAppendAudit(t, s, in...)
	tests := []struct {
		name string
		f    storage.AuditFilter
		want []int64
	}{
		{"everything", storage.AuditFilter{}, []int64{1, 2, 3, 4, 5, 6}},
		{"after seq", storage.AuditFilter{AfterSeq: 4}, []int64{5, 6}},
		{"after the last", storage.AuditFilter{AfterSeq: 6}, nil},
		{"since", storage.AuditFilter{Since: base.Add(2 * time.Second)}, []int64{3, 4, 5, 6}},
		{"until", storage.AuditFilter{Until: base.Add(2 * time.Second)}, []int64{1, 2}},
		{"since and until", storage.AuditFilter{Since: base.Add(time.Second), Until: base.Add(4 * time.Second)}, []int64{2, 3, 4}},
		{"type", storage.AuditFilter{Type: "token.issued"}, []int64{1, 2, 6}},
		{"client", storage.AuditFilter{ClientID: c1}, []int64{1, 3, 5, 6}},
		{"subject", storage.AuditFilter{Subject: sub1}, []int64{3, 5, 6}},
		{"type and client", storage.AuditFilter{Type: "token.issued", ClientID: c1}, []int64{1, 6}},
		{"client, subject, cursor", storage.AuditFilter{ClientID: c1, Subject: sub1, AfterSeq: 3}, []int64{5, 6}},
		{"type and limit", storage.AuditFilter{Type: "token.issued", Limit: 2}, []int64{1, 2}},
		{"unknown type", storage.AuditFilter{Type: "nothing"}, nil},
		{"unknown client", storage.AuditFilter{ClientID: fixture.ID("c")}, nil},
		{"subject with NUL", storage.AuditFilter{Subject: sub1 + "\x00"}, nil},
		{"client not UTF-8", storage.AuditFilter{ClientID: "\xff"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int64
			for _, e := range mustListAudit(t, s, tt.f) {
				got = append(got, e.Seq)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ListAudit(%+v) = seqs %v, want %v", tt.f, got, tt.want)
			}
		})
	}
}

func testAuditPagination(t *testing.T, s storage.Store) {
	base := fixture.Now().Add(-time.Hour)
	c := fixture.ID("c")
	var in []storage.AuditEntry
	for i := range 23 {
		typ := "token.issued"
		if i%3 == 0 {
			typ = "token.revoked"
		}
		in = append(in, auditEntry(base.Add(time.Duration(i)*time.Second), typ, c, ""))
	}
	mustAppendAudit(t, s, in...)
	tests := []struct {
		name  string
		f     storage.AuditFilter
		total int
	}{
		{"all, pages of 5", storage.AuditFilter{Limit: 5}, 23},
		{"one type, pages of 2", storage.AuditFilter{Type: "token.revoked", Limit: 2}, 8},
		{"client since, pages of 4", storage.AuditFilter{ClientID: c, Since: base.Add(10 * time.Second), Limit: 4}, 13},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.f
			var got []storage.AuditEntry
			for pages := 0; ; pages++ {
				if pages > tt.total {
					t.Fatalf("more than %d pages", tt.total)
				}
				page := mustListAudit(t, s, f)
				if len(page) > f.Limit {
					t.Fatalf("page of %d entries, limit %d", len(page), f.Limit)
				}
				got = append(got, page...)
				if len(page) < f.Limit {
					break
				}
				f.AfterSeq = page[len(page)-1].Seq
			}
			if len(got) != tt.total {
				t.Fatalf("pages hold %d entries, want %d", len(got), tt.total)
			}
			for i := 1; i < len(got); i++ {
				if got[i].Seq <= got[i-1].Seq {
					t.Fatalf("entry %d after entry %d", got[i].Seq, got[i-1].Seq)
				}
			}
			for _, e := range got {
				wantStored(t, e, in[e.Seq-1])
			}
		})
	}
}

func testAuditPageCap(t *testing.T, s storage.Store) {
	base := fixture.Now().Add(-time.Hour)
	in := make([]storage.AuditEntry, storage.MaxAuditPage+5)
	for i := range in {
		in[i] = auditEntry(base, "token.issued", "c", "")
	}
	mustAppendAudit(t, s, in...)
	for _, limit := range []int{0, -1, storage.MaxAuditPage + 1, 1 << 30} {
		if got := mustListAudit(t, s, storage.AuditFilter{Limit: limit}); len(got) != storage.MaxAuditPage {
			t.Errorf("ListAudit(Limit: %d) = %d entries, want %d", limit, len(got), storage.MaxAuditPage)
		}
	}
	if got := mustListAudit(t, s, storage.AuditFilter{AfterSeq: storage.MaxAuditPage}); len(got) != 5 {
		t.Errorf("ListAudit after the first page = %d entries, want 5", len(got))
	}
}

// testAuditOddValues stores text a database may refuse: every entry
// reads back as its canonical form says, and the chain verifies.
func testAuditOddValues(t *testing.T, s storage.Store) {
	at := fixture.Now().Add(-time.Minute)
	tests := []struct {
		name string
		e    storage.AuditEntry
	}{
		{"NUL in a detail", storage.AuditEntry{Details: map[string]string{"client_id": "a\x00b", "x\x00": "\x00"}}},
		{"NUL in client and subject", storage.AuditEntry{ClientID: "c\x00", Subject: "\x00s", Type: "t\x00"}},
		{"invalid UTF-8", storage.AuditEntry{ClientID: "\xff\xfe", Details: map[string]string{"k": "v\xc3"}}},
		{"quotes and escapes", storage.AuditEntry{ClientID: `{"a":"b"}`, Details: map[string]string{`"`: `\u0000`, "<>&": "\u2028"}}},
		{"unicode", storage.AuditEntry{Subject: "日本語", Details: map[string]string{"ü": "🔑"}}},
		{"replacement character", storage.AuditEntry{ClientID: "c\uFFFD"}},
		{"empty", storage.AuditEntry{}},
	}
	for i := range tests {
		tests[i].e.Time = at
		if tests[i].e.Type == "" {
			tests[i].e.Type = "odd"
		}
		mustAppendAudit(t, s, tests[i].e)
	}
	got := mustListAudit(t, s, storage.AuditFilter{})
	if len(got) != len(tests) {
		t.Fatalf("ListAudit() = %d entries, want %d", len(got), len(tests))
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantStored(t, got[i], tt.e)
		})
	}
	if got[0].Details["client_id"] != "a\x00b" || got[0].Details["x\x00"] != "\x00" {
		t.Errorf("details with NUL read back as %q", got[0].Details)
	}
	// Filters find values with NUL, and tell them from U+FFFD.
	for _, f := range []storage.AuditFilter{{ClientID: "c\x00"}, {Subject: "\x00s"}, {Type: "t\x00"}} {
		if es := mustListAudit(t, s, f); len(es) != 1 || es[0].Seq != got[1].Seq {
			t.Errorf("ListAudit(%#v) = %d entries, want entry %d", f, len(es), got[1].Seq)
		}
	}
	for _, limit := range []int{0, 1} {
		f := storage.AuditFilter{ClientID: "c\uFFFD", Limit: limit}
		if es := mustListAudit(t, s, f); len(es) != 1 || es[0].Seq != got[5].Seq {
			t.Errorf("ListAudit(client U+FFFD, limit %d) = %d entries, want entry %d", limit, len(es), got[5].Seq)
		}
	}
	verifyAudit(t, s)
}

// testAuditTimeOutOfRange appends entries whose canonical form cannot
// hold their time: the call fails and appends none of its entries.
func testAuditTimeOutOfRange(t *testing.T, s storage.Store) {
	ctx := context.Background()
	good := auditEntry(fixture.Now(), "token.issued", "c", "")
	tests := []struct {
		name string
		at   time.Time
	}{
		{"year 10000", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"year -1", time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := auditEntry(tt.at, "token.issued", "c", "")
			if err := s.AppendAudit(ctx, good, bad); err == nil {
				t.Errorf("AppendAudit(entry at %v) = nil, want an error", tt.at)
			}
			if _, err := s.DropAuditBefore(ctx, time.Now(), tt.at); err != nil {
				t.Errorf("DropAuditBefore(nothing to drop, now %v) = %v", tt.at, err)
			}
		})
	}
	if es := mustListAudit(t, s, storage.AuditFilter{}); len(es) != 0 {
		t.Errorf("after failed appends: %d entries, want none", len(es))
	}
	mustAppendAudit(t, s, good)
	verifyAudit(t, s)
}

// testAuditConcurrentAppend appends from many goroutines at once: one
// chain without gaps, each entry once, each call's entries together.
func testAuditConcurrentAppend(t *testing.T, s storage.Store) {
	const workers, calls = 16, 20
	at := fixture.Now().Add(-time.Minute)
	var wg sync.WaitGroup
	errs := make(chan error, workers*calls)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				e := auditEntry(at, "token.issued", "c", "")
				e.RequestID = fmt.Sprintf("%d/%d", w, i)
				es := []storage.AuditEntry{e}
				if i%4 == 0 { // some calls append two entries
					e2 := e
					e2.Type = "token.issued.second"
					es = append(es, e2)
				}
				if err := s.AppendAudit(context.Background(), es...); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent AppendAudit = %v", err)
	}
	all := allAudit(t, s)
	want := workers * (calls + (calls+3)/4)
	if len(all) != want {
		t.Fatalf("%d entries, want %d", len(all), want)
	}
	seen := make(map[string]bool)
	for i, e := range all {
		if e.Seq != int64(i+1) {
			t.Fatalf("entry %d has Seq %d: seqs are not contiguous", i+1, e.Seq)
		}
		key := e.RequestID + " " + e.Type
		if seen[key] {
			t.Errorf("entry %q appended twice", key)
		}
		seen[key] = true
		if e.Type == "token.issued.second" && (i == 0 || all[i-1].RequestID != e.RequestID) {
			t.Errorf("entry %d: the second entry of call %s does not follow its first", e.Seq, e.RequestID)
		}
	}
	if n := verifyAudit(t, s); n != int64(want) {
		t.Errorf("verified %d entries, want %d", n, want)
	}
}

// wantCheckpoint checks that e is a checkpoint of the entries through
// dropped.
func wantCheckpoint(t testing.TB, e storage.AuditEntry, through storage.AuditEntry, dropped int, at time.Time) {
	t.Helper()
	want := map[string]string{
		"dropped_through": strconv.FormatInt(through.Seq, 10),
		"last_hash":       hex.EncodeToString(through.Hash),
		"dropped":         strconv.Itoa(dropped),
	}
	if e.Type != storage.AuditCheckpoint || e.Actor != "system" || e.Outcome != "ok" || !e.Time.Equal(at) ||
		!reflect.DeepEqual(e.Details, want) {
		t.Errorf("checkpoint = %+v, want type %s at %v with details %v", e, storage.AuditCheckpoint, at, want)
	}
}

// auditDropCases each need a chain of their own.
var auditDropCases = []struct {
	name string
	// the entries' times, in hours after a base two days ago
	hours []int
	cut   int // DropAuditBefore(base + cut hours)
	// how many leading entries go
	dropped int
}{
	{"leading old entries", []int{0, 1, 2, 10, 11}, 5, 3},
	{"stops at the first entry not older", []int{0, 1, 10, 2, 3}, 5, 2},
	{"every entry", []int{0, 1, 2}, 5, 3},
	{"the cut is exclusive", []int{0, 5, 6}, 5, 1},
	{"nothing older", []int{5, 6, 1}, 5, 0},
	{"no entries", nil, 5, 0},
}

// testAuditDrop drops leading entries twice, each time behind a
// checkpoint, and checks that what remains verifies.
func testAuditDrop(t *testing.T, newStore func(testing.TB) storage.Store) {
	for _, tt := range auditDropCases {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			ctx := context.Background()
			base := fixture.Now().Add(-48 * time.Hour)
			var in []storage.AuditEntry
			for _, h := range tt.hours {
				in = append(in, auditEntry(base.Add(time.Duration(h)*time.Hour), "token.issued", "c", ""))
			}
			mustAppendAudit(t, s, in...)
			all := allAudit(t, s)
			at := fixture.Now()
			n, err := s.DropAuditBefore(ctx, base.Add(time.Duration(tt.cut)*time.Hour), at)
			if err != nil || n != tt.dropped {
				t.Fatalf("DropAuditBefore = %d, %v; want %d", n, err, tt.dropped)
			}
			got := allAudit(t, s)
			if tt.dropped == 0 {
				if !reflect.DeepEqual(got, all) {
					t.Fatalf("after dropping nothing the trail is\n%+v\nwant\n%+v", got, all)
				}
				return
			}
			if len(got) != len(all)-tt.dropped+1 {
				t.Fatalf("after the drop: %d entries, want %d", len(got), len(all)-tt.dropped+1)
			}
			for i, e := range got[:len(got)-1] {
				if want := all[tt.dropped+i]; e.Seq != want.Seq || !bytes.Equal(e.Hash, want.Hash) {
					t.Errorf("kept entry %d = seq %d, want seq %d unchanged", i, e.Seq, want.Seq)
				}
			}
			cp := got[len(got)-1]
			if cp.Seq != int64(len(all)+1) {
				t.Errorf("checkpoint Seq = %d, want %d", cp.Seq, len(all)+1)
			}
			wantCheckpoint(t, cp, all[tt.dropped-1], tt.dropped, at)
			verifyAudit(t, s)

			// Later: new entries, then a drop of everything up to them,
			// the first checkpoint included.
			later := fixture.Now().Add(time.Hour)
			mustAppendAudit(t, s, auditEntry(later, "token.issued", "c", ""), auditEntry(later.Add(time.Second), "token.issued", "c", ""))
			before := allAudit(t, s)
			n, err = s.DropAuditBefore(ctx, later, later)
			if want := len(before) - 2; err != nil || n != want {
				t.Fatalf("second DropAuditBefore = %d, %v; want %d", n, err, want)
			}
			got = allAudit(t, s)
			if len(got) != 3 {
				t.Fatalf("after the second drop: %d entries, want 3", len(got))
			}
			wantCheckpoint(t, got[2], before[len(before)-3], len(before)-2, later)
			if n := verifyAudit(t, s); n != 3 {
				t.Errorf("verified %d entries, want 3", n)
			}
		})
	}
}

// testAuditDropConcurrent drops while others append: every append
// lands in the chain, and it verifies.
func testAuditDropConcurrent(t *testing.T, s storage.Store) {
	ctx := context.Background()
	old := fixture.Now().Add(-time.Hour)
	for range 10 {
		mustAppendAudit(t, s, auditEntry(old, "token.issued", "c", ""))
	}
	var wg sync.WaitGroup
	errs := make([]error, 9)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if err := s.AppendAudit(ctx, auditEntry(fixture.Now(), "token.issued", "c", "")); err != nil {
					errs[i] = err
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, errs[8] = s.DropAuditBefore(ctx, old.Add(time.Second), fixture.Now())
	}()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("goroutine %d: %v", i, err)
		}
	}
	if n := verifyAudit(t, s); n != 8*5+1 {
		t.Errorf("verified %d entries, want %d (the appends and one checkpoint)", n, 8*5+1)
	}
}

func testListTokensBySubject(t *testing.T, s storage.Store) {
	ctx := context.Background()
	c := mustCreateClient(t, s, "c")
	sub, other := fixture.ID("sub"), fixture.ID("sub")
	base := fixture.Now()
	tok := func(kind storage.TokenKind, subject string, issued time.Duration) storage.Token {
		tk := newToken(c.ID, kind)
		tk.Subject, tk.IssuedAt, tk.ExpiresAt = subject, base.Add(issued), base.Add(issued+time.Minute)
		tk.Session = []byte(`{"nonce":"n"}`)
		return tk
	}
	want := []storage.Token{
		tok(storage.RefreshToken, sub, -3*time.Hour), // expired
		tok(storage.AccessToken, sub, -time.Hour),    // expired
		tok(storage.AuthorizeCode, sub, 0),
		tok(storage.AccessToken, sub, time.Second),
	}
	for _, i := range []int{3, 0, 2, 1} {
		mustCreateToken(t, s, want[i])
	}
	want[2].ConsumedAt = base.Add(time.Second)
	if _, err := s.ConsumeToken(ctx, want[2].Kind, want[2].Signature, want[2].ConsumedAt); err != nil {
		t.Fatal(err)
	}
	mustCreateToken(t, s, tok(storage.AccessToken, other, 0))
	mustCreateToken(t, s, tok(storage.AccessToken, sub+"x", 0))

	checkLists(t, "ListTokensBySubject", s.ListTokensBySubject, equalToken, []listCase[storage.Token]{
		{"every record of the subject, by IssuedAt", sub, want},
		{"unknown subject", fixture.ID("sub"), nil},
		{"NUL", sub + "\x00", nil},
		{"not UTF-8", "\xff", nil},
	})
}

// listCase is a key and what a call that lists by it must return, in
// order.
type listCase[T any] struct {
	name string
	key  string
	want []T
}

// checkLists calls list (named call) in a subtest per case and checks its
// answer with equal.
func checkLists[T any](t *testing.T, call string, list func(context.Context, string) ([]T, error),
	equal func(testing.TB, T, T), cases []listCase[T]) {
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := list(context.Background(), tt.key)
			if err != nil {
				t.Fatalf("%s(%q) = %v", call, tt.key, err)
			}
			equalList(t, fmt.Sprintf("%s(%q)", call, tt.key), got, tt.want, equal)
		})
	}
}

func testListBrowserSessions(t *testing.T, s storage.Store) {
	u, other := mustCreateUser(t, s, "u"), mustCreateUser(t, s, "o")
	base := fixture.Now()
	want := []storage.BrowserSession{
		mustCreateSession(t, s, u.ID, base.Add(-time.Hour)), // expired
		mustCreateSession(t, s, u.ID, base.Add(time.Hour)),
		mustCreateSession(t, s, u.ID, base.Add(2*time.Hour)),
	}
	mustCreateSession(t, s, other.ID, base.Add(time.Hour))
	checkLists(t, "ListBrowserSessions", s.ListBrowserSessions, equalSession, []listCase[storage.BrowserSession]{
		{"the user's sessions by AuthTime, expired too", u.ID, want},
		{"unknown user", fixture.ID("u"), nil},
		{"NUL", u.ID + "\x00", nil},
	})
}

// testCreateTokenAudited: of concurrent CreateTokenAudited calls (beside
// AppendAudit calls), some with a taken signature, an unknown client or an
// entry that cannot be sealed, a token exists iff its entry does, and the
// chain stays gapless.
func testCreateTokenAudited(t *testing.T, s storage.Store) {
	c := mustCreateClient(t, s, "c")
	taken := newToken(c.ID, storage.AccessToken)
	mustCreateToken(t, s, taken)
	calls := callTokenAudited(s, c.ID, taken.Signature)
	entries := make(map[string]int)
	all := allAudit(t, s)
	for i, e := range all {
		if e.Seq != int64(i+1) {
			t.Fatalf("entry %d has Seq %d: seqs are not contiguous", i+1, e.Seq)
		}
		entries[e.Details["sig"]]++
	}
	want := 0
	for _, r := range calls {
		if r.kind == "ok" || r.kind == "plain" {
			want++
		}
		checkTokenAudited(t, s, r, entries[r.tok.Signature])
	}
	if entries[taken.Signature] != 0 {
		t.Errorf("calls with a taken signature appended %d entries", entries[taken.Signature])
	}
	if len(all) != want {
		t.Errorf("%d entries, want %d", len(all), want)
	}
	if n := verifyAudit(t, s); n != int64(want) {
		t.Errorf("verified %d entries, want %d", n, want)
	}
}

// auditedCall is one call of callTokenAudited.
type auditedCall struct {
	tok  storage.Token
	kind string // "ok", "taken", "client", "time", "plain"
	err  error
}

// callTokenAudited makes CreateTokenAudited calls from many goroutines at
// once for tokens of client: a tenth each with the signature taken, for
// an unknown client, with an entry that cannot be sealed, and (kind
// "plain") AppendAudit of the entry alone. Each entry's detail "sig" names
// its token.
func callTokenAudited(s storage.Store, client, taken string) []auditedCall {
	ctx := context.Background()
	const workers, calls = 16, 20
	at := fixture.Now().Add(-time.Minute)
	out := make([]auditedCall, workers*calls)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				tok := newToken(client, storage.AccessToken)
				e := auditEntry(at, "token.issued", client, "")
				r := auditedCall{kind: "ok"}
				switch (w*calls + i) % 10 {
				case 1:
					r.kind, tok.Signature = "taken", taken
				case 2:
					r.kind, tok.ClientID = "client", fixture.ID("gone")
				case 3:
					r.kind, e.Time = "time", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
				case 4:
					r.kind = "plain"
				}
				r.tok = tok
				e.RequestID = fmt.Sprintf("%d/%d", w, i)
				e.Details = map[string]string{"sig": tok.Signature}
				if r.kind == "plain" {
					r.err = s.AppendAudit(ctx, e)
				} else {
					r.err = s.CreateTokenAudited(ctx, tok, e)
				}
				out[w*calls+i] = r
			}
		}()
	}
	wg.Wait()
	return out
}

// checkTokenAudited checks the answer of call r, whose token has entries
// entries in the chain, and that its token is stored iff it should be.
func checkTokenAudited(t *testing.T, s storage.Store, r auditedCall, entries int) {
	switch r.kind {
	case "ok", "plain":
		if r.err != nil {
			t.Fatalf("%s call = %v", r.kind, r.err)
		}
		if entries != 1 {
			t.Errorf("token %s: %d entries, want 1", r.tok.Signature, entries)
		}
	case "taken":
		if !errors.Is(r.err, storage.ErrAlreadyExists) {
			t.Errorf("CreateTokenAudited(taken signature) = %v, want ErrAlreadyExists", r.err)
		}
	case "client":
		if !errors.Is(r.err, storage.ErrNotFound) {
			t.Errorf("CreateTokenAudited(unknown client) = %v, want ErrNotFound", r.err)
		}
	case "time":
		if r.err == nil {
			t.Errorf("CreateTokenAudited(entry in year 10000) = nil, want an error")
		}
	}
	if (r.kind == "client" || r.kind == "time") && entries != 0 {
		t.Errorf("failed %s call appended its entry", r.kind)
	}
	_, err := s.GetToken(context.Background(), storage.AccessToken, r.tok.Signature)
	switch {
	case r.kind == "ok" && err != nil:
		t.Errorf("GetToken(stored with its entry) = %v", err)
	case (r.kind == "client" || r.kind == "time" || r.kind == "plain") && !errors.Is(err, storage.ErrNotFound):
		t.Errorf("GetToken(%s call) = %v, want ErrNotFound", r.kind, err)
	}
}
