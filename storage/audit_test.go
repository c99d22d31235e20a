package storage_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"maps"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/idvauth/idvauth/storage"
)

var auditTime = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func TestCanonical(t *testing.T) {
	tests := []struct {
		name string
		e    storage.AuditEntry
		want string
	}{
		{"minimal", storage.AuditEntry{Time: auditTime, Type: "t", Actor: "system", Outcome: "ok"},
			`{"time":"2026-11-23T12:00:00.000000Z","type":"t","actor":"system","outcome":"ok"}`},
		{"every field, details sorted", storage.AuditEntry{Time: auditTime, Type: "token.issued", Actor: "client:c",
			RequestID: "r", ClientID: "c", Subject: "s", IP: "192.0.2.1", Outcome: "ok",
			Details: map[string]string{"scope": "identity.verify", "grant": "client_credentials", "aud": "idv-api"}},
			`{"time":"2026-11-23T12:00:00.000000Z","type":"token.issued","actor":"client:c","request_id":"r","client_id":"c",` +
				`"subject":"s","ip":"192.0.2.1","outcome":"ok","details":{"aud":"idv-api","grant":"client_credentials","scope":"identity.verify"}}`},
		{"seq and hashes left out", storage.AuditEntry{Seq: 7, Time: auditTime, PrevHash: []byte{1}, Hash: []byte{2}, Body: []byte("x")},
			`{"time":"2026-11-23T12:00:00.000000Z","type":"","actor":"","outcome":""}`},
		{"time to UTC microseconds", storage.AuditEntry{Time: time.Date(2026, 11, 23, 13, 0, 0, 123456789, time.FixedZone("CET", 3600))},
			`{"time":"2026-11-23T12:00:00.123456Z","type":"","actor":"","outcome":""}`},
		{"empty details left out", storage.AuditEntry{Time: auditTime, Details: map[string]string{}},
			`{"time":"2026-11-23T12:00:00.000000Z","type":"","actor":"","outcome":""}`},
		{"NUL and HTML escaped", storage.AuditEntry{Time: auditTime, ClientID: "a\x00<b>&", Details: map[string]string{"k": "\x00"}},
			`{"time":"2026-11-23T12:00:00.000000Z","type":"","actor":"","client_id":"a\u0000\u003cb\u003e\u0026","outcome":"","details":{"k":"\u0000"}}`},
		{"invalid UTF-8 as U+FFFD", storage.AuditEntry{Time: auditTime, Subject: "a\xffb\xc3", Details: map[string]string{"\xfe": "\xff"}},
			`{"time":"2026-11-23T12:00:00.000000Z","type":"","actor":"","subject":"a` + "\uFFFD" + `b` + "\uFFFD" + `","outcome":"",` +
				`"details":{"` + "\uFFFD" + `":"` + "\uFFFD" + `"}}`},
		{"colliding keys: the last in byte order wins", storage.AuditEntry{Time: auditTime, Details: map[string]string{"\xfe": "1", "\xff": "2"}},
			`{"time":"2026-11-23T12:00:00.000000Z","type":"","actor":"","outcome":"","details":{"` + "\uFFFD" + `":"2"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.e.Canonical()
			if string(got) != tt.want {
				t.Errorf("Canonical() = %s, want %s", got, tt.want)
			}
			// The canonical form of the decoded form is the form itself.
			var d storage.AuditEntry
			if err := storage.DecodeAuditBody(&d, got); err != nil {
				t.Fatalf("DecodeAuditBody(%s) = %v", got, err)
			}
			if again := d.Canonical(); !bytes.Equal(again, got) {
				t.Errorf("Canonical(DecodeAuditBody(%s)) = %s", got, again)
			}
			if !bytes.Equal(d.Body, got) {
				t.Errorf("DecodeAuditBody set Body %s, want %s", d.Body, got)
			}
			checkSealed(t, tt.e, d)
		})
	}
}

// checkSealed checks that e.Sealed() is decoded, the entry that decoding
// e's canonical form gives, and leaves e alone.
func checkSealed(t *testing.T, e, decoded storage.AuditEntry) {
	t.Helper()
	before := maps.Clone(e.Details)
	s, err := e.Sealed()
	if err != nil {
		t.Fatalf("Sealed() = %v", err)
	}
	if !reflect.DeepEqual(s, decoded) {
		t.Errorf("Sealed() = %#v, want the decoded canonical form %#v", s, decoded)
	}
	if s.Details != nil {
		for k := range s.Details {
			s.Details[k] = "changed"
		}
		if !maps.Equal(e.Details, before) {
			t.Errorf("Sealed() shares its Details with the entry")
		}
	}
}

func TestSealedTimeRange(t *testing.T) {
	for _, at := range []time.Time{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 12, 31, 23, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 30, 0, 0, time.FixedZone("", -3600))} {
		e := storage.AuditEntry{Time: at}
		var d storage.AuditEntry
		decodeErr := storage.DecodeAuditBody(&d, e.Canonical())
		if _, err := e.Sealed(); (err == nil) != (decodeErr == nil) {
			t.Errorf("time %v: Sealed() = %v, but decoding the canonical form = %v", at, err, decodeErr)
		}
	}
}

func TestDecodeAuditBody(t *testing.T) {
	good := `{"time":"2026-11-23T12:00:00.000000Z","type":"t","actor":"system","client_id":"c","outcome":"ok","details":{"k":"v\u0000"}}`
	var e storage.AuditEntry
	if err := storage.DecodeAuditBody(&e, []byte(good)); err != nil {
		t.Fatal(err)
	}
	if !e.Time.Equal(auditTime) || e.Time.Location() != time.UTC || e.Type != "t" || e.Actor != "system" ||
		e.ClientID != "c" || e.Outcome != "ok" || e.Details["k"] != "v\x00" {
		t.Errorf("DecodeAuditBody(%s) = %+v", good, e)
	}
	bad := []struct {
		name, body string
	}{
		{"empty", ``},
		{"not JSON", `not json`},
		{"array", `[]`},
		{"unknown field", `{"time":"2026-11-23T12:00:00.000000Z","type":"t","actor":"a","outcome":"ok","seq":1}`},
		{"no time", `{"type":"t","actor":"a","outcome":"ok"}`},
		{"time without microseconds", `{"time":"2026-11-23T12:00:00Z","type":"t","actor":"a","outcome":"ok"}`},
		{"data after the object", `{"time":"2026-11-23T12:00:00.000000Z","type":"t","actor":"a","outcome":"ok"} {}`},
		{"details not strings", `{"time":"2026-11-23T12:00:00.000000Z","type":"t","actor":"a","outcome":"ok","details":{"k":1}}`},
		{"truncated", good[:len(good)-1]},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			var e storage.AuditEntry
			if err := storage.DecodeAuditBody(&e, []byte(tt.body)); err == nil {
				t.Errorf("DecodeAuditBody(%q) = nil, want an error", tt.body)
			}
		})
	}
}

// chain builds entries as a store would: n events from seq first on,
// after prev.
func chain(first int64, prev []byte, events ...storage.AuditEntry) []storage.AuditEntry {
	out := make([]storage.AuditEntry, len(events))
	for i, e := range events {
		body := e.Canonical()
		d := storage.AuditEntry{Seq: first + int64(i), PrevHash: prev, Hash: storage.AuditHash(prev, body)}
		if err := storage.DecodeAuditBody(&d, body); err != nil {
			panic(err)
		}
		out[i] = d
		prev = d.Hash
	}
	return out
}

func events(n int) []storage.AuditEntry {
	out := make([]storage.AuditEntry, n)
	for i := range out {
		out[i] = storage.AuditEntry{Time: auditTime.Add(time.Duration(i) * time.Second), Type: "token.issued",
			Actor: "client:c", ClientID: "c", Outcome: "ok", RequestID: strconv.Itoa(i)}
	}
	return out
}

func checkpoint(through storage.AuditEntry, dropped int) storage.AuditEntry {
	return storage.AuditEntry{Time: auditTime.Add(time.Hour), Type: storage.AuditCheckpoint, Actor: "system", Outcome: "ok",
		Details: map[string]string{
			"dropped_through": strconv.FormatInt(through.Seq, 10),
			"last_hash":       hex.EncodeToString(through.Hash),
			"dropped":         strconv.Itoa(dropped),
		}}
}

// afterDrop is a chain of 5 whose first 3 entries were dropped behind a
// checkpoint (seq 6) made by mutate: entries 4 to 6, and 7 after it.
func afterDrop(mutate func(cp *storage.AuditEntry)) []storage.AuditEntry {
	full := chain(1, storage.ZeroAuditHash(), events(5)...)
	cp := checkpoint(full[2], 3)
	if mutate != nil {
		mutate(&cp)
	}
	rest := chain(6, full[4].Hash, cp, events(1)[0])
	return append(full[3:], rest...)
}

func TestAuditVerifier(t *testing.T) {
	whole := func() []storage.AuditEntry { return chain(1, storage.ZeroAuditHash(), events(6)...) }
	tests := []struct {
		name    string
		entries func() []storage.AuditEntry
		wantSeq int64 // 0: verifies
		inAdd   bool  // the break shows in Add, not Finish
		wantN   int64
	}{
		{"empty", func() []storage.AuditEntry { return nil }, 0, false, 0},
		{"whole chain", whole, 0, false, 6},
		{"one entry", func() []storage.AuditEntry { return whole()[:1] }, 0, false, 1},
		{"changed field", func() []storage.AuditEntry {
			es := whole()
			es[2].Body = bytes.Replace(es[2].Body, []byte(`"client_id":"c"`), []byte(`"client_id":"x"`), 1)
			return es
		}, 3, true, 0},
		{"changed field and hash", func() []storage.AuditEntry {
			es := whole()
			es[2].Body = bytes.Replace(es[2].Body, []byte(`"client_id":"c"`), []byte(`"client_id":"x"`), 1)
			es[2].Hash = storage.AuditHash(es[2].PrevHash, es[2].Body)
			return es
		}, 4, true, 0},
		{"changed hash", func() []storage.AuditEntry {
			es := whole()
			es[4].Hash = storage.AuditHash(nil, nil)
			return es
		}, 5, true, 0},
		{"body not canonical", func() []storage.AuditEntry {
			es := whole()
			es[1].Body = append(es[1].Body, ' ')
			es[1].Hash = storage.AuditHash(es[1].PrevHash, es[1].Body)
			return es
		}, 2, true, 0},
		{"body not JSON", func() []storage.AuditEntry {
			es := whole()
			es[1].Body = []byte{0, 0xff}
			return es
		}, 2, true, 0},
		{"deleted middle entries", func() []storage.AuditEntry {
			es := whole()
			return append(es[:2:2], es[4:]...)
		}, 3, true, 0},
		{"swapped entries", func() []storage.AuditEntry {
			es := whole()
			es[2], es[3] = es[3], es[2]
			es[2].Seq, es[3].Seq = 3, 4
			return es
		}, 3, true, 0},
		{"inserted entry", func() []storage.AuditEntry {
			es := whole()
			forged := chain(3, es[1].Hash, events(1)...)
			out := append(es[:2:2], forged...)
			for _, e := range es[2:] {
				e.Seq++
				out = append(out, e)
			}
			return out
		}, 4, true, 0},
		{"first entry after a non-zero hash", func() []storage.AuditEntry {
			return chain(1, storage.AuditHash(nil, nil), events(2)...)
		}, 1, true, 0},
		{"deleted leading entries", func() []storage.AuditEntry { return whole()[3:] }, 4, false, 3},
		{"dropped behind a checkpoint", func() []storage.AuditEntry { return afterDrop(nil) }, 0, false, 4},
		{"only the checkpoint left", func() []storage.AuditEntry {
			full := chain(1, storage.ZeroAuditHash(), events(3)...)
			return chain(4, full[2].Hash, checkpoint(full[2], 3))
		}, 0, false, 1},
		{"checkpoint with another hash", func() []storage.AuditEntry {
			return afterDrop(func(cp *storage.AuditEntry) { cp.Details["last_hash"] = strings.Repeat("00", 32) })
		}, 4, false, 4},
		{"checkpoint through another seq", func() []storage.AuditEntry {
			return afterDrop(func(cp *storage.AuditEntry) { cp.Details["dropped_through"] = "2" })
		}, 4, false, 4},
		{"checkpoint of another type", func() []storage.AuditEntry {
			return afterDrop(func(cp *storage.AuditEntry) { cp.Type = "audit.note" })
		}, 4, false, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v storage.AuditVerifier
			var err error
			for _, e := range tt.entries() {
				if err = v.Add(e); err != nil {
					break
				}
			}
			if err != nil && !tt.inAdd {
				t.Fatalf("Add = %v, want no break until Finish", err)
			}
			var n int64
			if err == nil {
				n, err = v.Finish()
			}
			if tt.wantSeq == 0 {
				if err != nil || n != tt.wantN {
					t.Fatalf("verify = %d, %v; want %d, nil", n, err, tt.wantN)
				}
				return
			}
			var brk *storage.AuditBreak
			if !errors.As(err, &brk) || brk.Seq != tt.wantSeq || !errors.Is(err, storage.ErrAuditBroken) {
				t.Fatalf("verify = %v, want a break at entry %d", err, tt.wantSeq)
			}
			if !tt.inAdd && n != tt.wantN {
				t.Errorf("Finish counted %d entries, want %d", n, tt.wantN)
			}
		})
	}
}

// decodeStable decodes c, a canonical form, and checks that the canonical
// form of what it decoded is c again.
func decodeStable(t *testing.T, c []byte) storage.AuditEntry {
	t.Helper()
	var d storage.AuditEntry
	if err := storage.DecodeAuditBody(&d, c); err != nil {
		t.Fatalf("the canonical form %q does not decode: %v", c, err)
	}
	if again := d.Canonical(); !bytes.Equal(again, c) {
		t.Fatalf("Canonical is not stable: %q then %q", c, again)
	}
	return d
}

// firstEntry is body as the first entry of a chain.
func firstEntry(body []byte) storage.AuditEntry {
	return storage.AuditEntry{Seq: 1, PrevHash: storage.ZeroAuditHash(), Hash: storage.AuditHash(storage.ZeroAuditHash(), body), Body: body}
}

func FuzzDecodeAuditBody(f *testing.F) {
	for _, e := range events(2) {
		f.Add(e.Canonical())
	}
	f.Add(checkpoint(chain(1, storage.ZeroAuditHash(), events(1)...)[0], 1).Canonical())
	f.Add(storage.AuditEntry{Time: auditTime, ClientID: "a\x00\xff", Details: map[string]string{"\xfe": "<&>"}}.Canonical())
	f.Add([]byte(`{"time":"2026-11-23T12:00:00.000000+01:00","type":"t","actor":"a","outcome":"ok"}`))
	f.Add([]byte(`{"outcome":"ok","actor":"a","type":"t","time":"2026-11-23T12:00:00.000000Z"}`))
	f.Add([]byte(`{"time":"2026-11-23T12:00:00.000000Z","details":{"a":"1","a":"2"}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var e storage.AuditEntry
		if storage.DecodeAuditBody(&e, body) != nil {
			return
		}
		c := e.Canonical()
		decodeStable(t, c)
		// A canonical body verifies as the first entry of a chain.
		var v storage.AuditVerifier
		err := v.Add(firstEntry(body))
		if bytes.Equal(c, body) != (err == nil) {
			t.Fatalf("body %q: canonical %t, but verifier said %v", body, bytes.Equal(c, body), err)
		}
	})
}

func FuzzCanonical(f *testing.F) {
	f.Add("token.issued", "c", "grant", "client_credentials", int64(0))
	f.Add("t\x00", "\xff\xfe", "\xfe", "<\u2028>", int64(123456789))
	f.Add("", "", "", "", int64(-1))
	f.Fuzz(func(t *testing.T, typ, clientID, key, value string, nanos int64) {
		e := storage.AuditEntry{Time: auditTime.Add(time.Duration(nanos)), Type: typ, Actor: "system", ClientID: clientID,
			Outcome: "ok", Details: map[string]string{key: value, key + "\xff": value + "\xff"}}
		c := e.Canonical()
		checkSealed(t, e, decodeStable(t, c))
		var v storage.AuditVerifier
		if err := v.Add(firstEntry(c)); err != nil {
			t.Fatalf("verifier refused the canonical form %q: %v", c, err)
		}
	})
}

// TestAuditVerifierAnchor checks a verification that starts after an
// entry checked before: the kept hash must match, the entry must match
// its own hash, and the links after it are checked as ever.
func TestAuditVerifierAnchor(t *testing.T) {
	es := chain(1, storage.ZeroAuditHash(), events(6)...)
	var v storage.AuditVerifier
	if err := v.Anchor(es[2], es[2].Hash); err != nil {
		t.Fatalf("Anchor(entry 3, its hash) = %v", err)
	}
	for _, e := range es[3:] {
		if err := v.Add(e); err != nil {
			t.Fatalf("Add(%d) after the anchor = %v", e.Seq, err)
		}
	}
	if n, err := v.Finish(); n != 3 || err != nil {
		t.Errorf("Finish = %d, %v; want the 3 entries after the anchor", n, err)
	}

	var brk *storage.AuditBreak
	v = storage.AuditVerifier{}
	if err := v.Anchor(es[2], es[1].Hash); !errors.As(err, &brk) || brk.Seq != 3 || !strings.Contains(brk.Reason, "not the one kept") {
		t.Errorf("Anchor with another hash = %v, want a break at 3", err)
	}
	// A rewritten anchor whose stored hash is the kept one.
	changed := es[2]
	changed.Body = bytes.Replace(changed.Body, []byte(`"client_id":"c"`), []byte(`"client_id":"x"`), 1)
	v = storage.AuditVerifier{}
	if err := v.Anchor(changed, es[2].Hash); !errors.As(err, &brk) || brk.Seq != 3 || !strings.Contains(brk.Reason, "changed entry") {
		t.Errorf("Anchor of a changed entry = %v, want a break at 3", err)
	}
	// A gap right after the anchor.
	v = storage.AuditVerifier{}
	if err := v.Anchor(es[2], es[2].Hash); err != nil {
		t.Fatal(err)
	}
	if err := v.Add(es[4]); !errors.As(err, &brk) || brk.Seq != 4 {
		t.Errorf("Add(5) right after anchor 3 = %v, want entry 4 missing", err)
	}
}
