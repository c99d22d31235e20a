package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// AuditEntry is one event of the audit trail. Entries form a hash chain:
// each one's Hash is the SHA-256 of the previous entry's Hash followed by
// its own canonical form (Body), so a changed, removed or inserted entry
// breaks every link after it. An entry never holds a secret, a token, a
// password or personal data; people appear by opaque ID only.
type AuditEntry struct {
	// Seq is the entry's place in the chain, from 1 upwards without gaps;
	// set by the store.
	Seq int64 `json:"seq"`
	// Time is when the event happened (UTC, microsecond precision).
	Time time.Time `json:"time"`
	// Type names the event, e.g. "token.issued"; see authz.
	Type string `json:"type"`
	// Actor is who caused the event: "client:ID", "user:ID", "admin",
	// "system" or "anonymous".
	Actor string `json:"actor"`
	// RequestID is the HTTP request's id, if the event came from one.
	RequestID string `json:"request_id,omitempty"`
	// ClientID is the client the event concerns, if any.
	ClientID string `json:"client_id,omitempty"`
	// Subject is the opaque ID of the person the event concerns, if any.
	Subject string `json:"subject,omitempty"`
	// IP is the client address of the request, if any.
	IP string `json:"ip,omitempty"`
	// Outcome is "ok", or the error code the request was refused with.
	Outcome string `json:"outcome"`
	// Details are further facts (grant, scope, aud, jti, kid, ...).
	Details map[string]string `json:"details,omitempty"`

	// PrevHash is the previous entry's Hash (32 zero bytes for the first
	// entry ever); Hash is SHA-256(PrevHash || Body). Both set by the
	// store.
	PrevHash []byte `json:"prev_hash"`
	Hash     []byte `json:"hash"`
	// Body is the canonical form the hash covers (see Canonical); set by
	// the store. Entries read back are decoded from it, so what a reader
	// sees is what the chain vouches for.
	Body []byte `json:"-"`
}

// AuditCheckpoint is the type of the entry that retention appends before it
// drops the leading entries up to Details["dropped_through"] (a Seq), whose
// last Hash it records in Details["last_hash"] (hex). It lets the chain
// that remains verify.
const AuditCheckpoint = "audit.checkpoint"

// NewAuditCheckpoint returns the checkpoint, at at, of dropped entries
// whose last is the entry through with hash lastHash: the entry a store's
// DropAuditBefore appends, and AuditVerifier.Vouch reads.
func NewAuditCheckpoint(at time.Time, through int64, lastHash []byte, dropped int) AuditEntry {
	return AuditEntry{
		Time: at, Type: AuditCheckpoint, Actor: "system", Outcome: "ok",
		Details: map[string]string{
			"dropped_through": strconv.FormatInt(through, 10),
			"last_hash":       hex.EncodeToString(lastHash),
			"dropped":         strconv.Itoa(dropped),
		},
	}
}

// auditBody is the canonical form: fixed field order, UTC time with
// microseconds (what PostgreSQL keeps), details sorted by key.
type auditBody struct {
	Time      string            `json:"time"`
	Type      string            `json:"type"`
	Actor     string            `json:"actor"`
	RequestID string            `json:"request_id,omitempty"`
	ClientID  string            `json:"client_id,omitempty"`
	Subject   string            `json:"subject,omitempty"`
	IP        string            `json:"ip,omitempty"`
	Outcome   string            `json:"outcome"`
	Details   map[string]string `json:"details,omitempty"`
}

const auditTimeLayout = "2006-01-02T15:04:05.000000Z07:00"

// Canonical returns the canonical form of e's event fields (everything but
// Seq and the hashes). Time is truncated to microseconds. Invalid UTF-8 in
// a string becomes U+FFFD, one per bad byte (as encoding/json does), before
// encoding, so that the canonical form of a decoded canonical form is
// itself; of Details keys that then coincide, the last in byte order wins.
func (e AuditEntry) Canonical() []byte { return e.event().body() }

// Sealed returns e as a store keeps it: its event fields as decoding its
// canonical form gives them back (Time in UTC truncated to microseconds,
// invalid UTF-8 replaced, empty Details nil, Details copied), Body set to
// that canonical form, and Seq and the hashes cleared. It is
// DecodeAuditBody(e.Canonical()) without the decoding, and fails where
// that fails: for a Time outside the years 0 to 9999, which the canonical
// layout cannot hold.
func (e AuditEntry) Sealed() (AuditEntry, error) {
	s := e.event()
	if err := checkYear(e.Seq, s.Time); err != nil {
		return AuditEntry{}, err
	}
	s.Body = s.body()
	return s, nil
}

// event returns e's event fields as its canonical form holds them: Time
// in UTC truncated to microseconds, invalid UTF-8 replaced, Details
// copied (nil if empty).
func (e AuditEntry) event() AuditEntry {
	var d map[string]string
	if len(e.Details) > 0 {
		d = validDetails(maps.Clone(e.Details))
	}
	return AuditEntry{
		Time: e.Time.UTC().Truncate(time.Microsecond), Type: validText(e.Type), Actor: validText(e.Actor),
		RequestID: validText(e.RequestID), ClientID: validText(e.ClientID), Subject: validText(e.Subject), IP: validText(e.IP),
		Outcome: validText(e.Outcome), Details: d,
	}
}

// body is the canonical form of e, an entry event returned.
func (e AuditEntry) body() []byte {
	b, err := json.Marshal(auditBody{
		Time: e.Time.Format(auditTimeLayout), Type: e.Type, Actor: e.Actor, RequestID: e.RequestID, ClientID: e.ClientID,
		Subject: e.Subject, IP: e.IP, Outcome: e.Outcome, Details: e.Details,
	})
	if err != nil { // strings and a map of strings always marshal
		panic("storage: marshal audit entry: " + err.Error())
	}
	return b
}

// checkYear refuses a time (in UTC) that the canonical layout cannot hold.
func checkYear(seq int64, t time.Time) error {
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return fmt.Errorf("audit entry %d: body time: year %d out of range", seq, y)
	}
	return nil
}

// validText replaces each byte of s that is not part of valid UTF-8 with
// U+FFFD. encoding/json writes such a byte as the escape \ufffd but the
// rune U+FFFD as itself: without this, re-encoding a decoded body would
// change it.
func validText(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// validDetails is m with validText applied to keys and values; m itself if
// nothing changes.
func validDetails(m map[string]string) map[string]string {
	clean := true
	for k, v := range m {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			clean = false
			break
		}
	}
	if clean {
		return m
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(map[string]string, len(m))
	for _, k := range keys {
		out[validText(k)] = validText(m[k])
	}
	return out
}

// DecodeAuditBody fills e's event fields from body, the canonical form a
// store kept, and sets e.Body. It fails if body is not one JSON object of
// the canonical form's fields with a time in its layout (which
// verification reports as a broken entry). It does not check that body is
// canonical (field order, spacing, escapes): AuditVerifier does, by
// comparing body with the Canonical of what it decoded.
func DecodeAuditBody(e *AuditEntry, body []byte) error {
	var b auditBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return fmt.Errorf("audit entry %d: body is not valid: %w", e.Seq, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("audit entry %d: body is not valid: data after the entry", e.Seq)
	}
	t, err := time.Parse(auditTimeLayout, b.Time)
	if err != nil {
		return fmt.Errorf("audit entry %d: body time: %w", e.Seq, err)
	}
	// In UTC, as Canonical writes it, the time must still fit the layout.
	if err := checkYear(e.Seq, t); err != nil {
		return err
	}
	e.Time, e.Type, e.Actor, e.RequestID, e.ClientID, e.Subject, e.IP, e.Outcome, e.Details =
		t.UTC(), b.Type, b.Actor, b.RequestID, b.ClientID, b.Subject, b.IP, b.Outcome, b.Details
	e.Body = body
	return nil
}

// AuditHash is the chain hash of an entry with body after prev.
func AuditHash(prev, body []byte) []byte {
	h := sha256.New()
	h.Write(prev)
	h.Write(body)
	return h.Sum(nil)
}

// ZeroAuditHash returns the PrevHash of the first entry ever: sha256.Size
// zero bytes, in a new slice on every call, so no caller can change
// another's.
func ZeroAuditHash() []byte { return make([]byte, sha256.Size) }

// AuditFilter selects audit entries. Zero fields select everything.
type AuditFilter struct {
	// AfterSeq returns entries with Seq > AfterSeq (a cursor).
	AfterSeq int64
	// Since and Until bound Time: Since <= Time < Until.
	Since, Until time.Time
	Type         string
	ClientID     string
	Subject      string
	// Limit caps the number of entries; a backend may cap it further
	// (MaxAuditPage).
	Limit int
}

// MaxAuditPage is the most entries one ListAudit returns.
const MaxAuditPage = 1000

// AuditStore keeps the audit trail. It has no method that changes or
// removes one entry: entries are appended, and retention drops whole
// leading segments behind a checkpoint.
type AuditStore interface {
	// AppendAudit appends entries to the chain in order and returns once
	// they are durable (committed): a caller that answers a request after
	// AppendAudit returned knows the entry survives a crash. Entries of
	// concurrent calls, from this process or from other replicas, all land
	// in one chain; a backend may commit several calls' entries together.
	// It sets nothing in the caller's values. It fails, appending none of
	// entries, if an entry's canonical form does not decode (a Time
	// outside the years 0 to 9999).
	AppendAudit(ctx context.Context, entries ...AuditEntry) error
	// CreateTokenAudited stores t (as CreateToken does, with its errors)
	// and appends e (as AppendAudit does) in one step: when it returns nil
	// both are durable, and otherwise neither exists. Issuance uses it to
	// commit a token and its entry once instead of twice.
	CreateTokenAudited(ctx context.Context, t Token, e AuditEntry) error
	// ListAudit returns the entries f selects in Seq order, decoded from
	// their bodies, with Seq, PrevHash, Hash and Body set. An entry whose
	// body does not decode (a tampered one) has only those four set, so
	// that AuditVerifier can name it.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
	// DropAuditBefore drops the leading entries older than before: it
	// appends a checkpoint entry (type AuditCheckpoint, at now) recording
	// the last dropped Seq and its Hash, then removes every entry up to that
	// Seq, in one transaction. It returns how many it removed (zero and no
	// checkpoint if none is older than before).
	DropAuditBefore(ctx context.Context, before, now time.Time) (int, error)
	// AuditHead returns the Seq and Hash of the last entry ever appended
	// (0 and ZeroAuditHash() before the first). It is kept apart from the
	// entries, so that entries removed from the end of the chain, which
	// the hashes alone cannot show, are seen by comparing with it.
	AuditHead(ctx context.Context) (int64, []byte, error)
}

// AuditBreak is the first broken link a verification found.
type AuditBreak struct {
	Seq    int64
	Reason string
}

func (b *AuditBreak) Error() string {
	return "audit chain broken at entry " + strconv.FormatInt(b.Seq, 10) + ": " + b.Reason
}

// AuditVerifier checks a chain fed to it in Seq order, one page after
// another. The zero value is ready to use.
type AuditVerifier struct {
	n         int64
	firstSeq  int64
	firstPrev []byte
	last      *AuditEntry
	// vouched: a checkpoint covers the entries before firstSeq.
	vouched bool
}

// Anchor starts the verifier at e, an entry checked before whose hash
// the caller kept (hash): Add then takes the entries after it, and
// Finish does not ask for the entries before it. It returns an
// *AuditBreak if e was changed since, or does not match its own hash.
// It must come before any Add.
func (v *AuditVerifier) Anchor(e AuditEntry, hash []byte) error {
	if _, err := checkEntry(e); err != nil {
		return err
	}
	if !bytes.Equal(e.Hash, hash) {
		return &AuditBreak{Seq: e.Seq, Reason: "its hash is not the one kept for it (the chain was rewritten up to here)"}
	}
	e.Details = nil
	v.last, v.firstSeq, v.firstPrev, v.vouched = &e, e.Seq+1, e.Hash, true
	return nil
}

// checkEntry checks e on its own: a canonical body that its hash covers.
// It returns the decoded body.
func checkEntry(e AuditEntry) (AuditEntry, error) {
	brk := func(reason string) error { return &AuditBreak{Seq: e.Seq, Reason: reason} }
	var check AuditEntry
	check.Seq = e.Seq
	if err := DecodeAuditBody(&check, e.Body); err != nil {
		return check, brk("its body is not a canonical entry")
	}
	if !bytes.Equal(check.Canonical(), e.Body) {
		return check, brk("its body is not in canonical form")
	}
	if !bytes.Equal(AuditHash(e.PrevHash, e.Body), e.Hash) {
		return check, brk("its hash does not match its content (changed entry)")
	}
	return check, nil
}

// Add checks the next entry. It returns an *AuditBreak for the first
// broken link; after one, the verifier's state is undefined.
func (v *AuditVerifier) Add(e AuditEntry) error {
	brk := func(reason string) error { return &AuditBreak{Seq: e.Seq, Reason: reason} }
	check, err := checkEntry(e)
	if err != nil {
		return err
	}
	if v.last == nil {
		v.firstSeq, v.firstPrev = e.Seq, e.PrevHash
		if e.Seq == 1 {
			if !bytes.Equal(e.PrevHash, ZeroAuditHash()) {
				return brk("the first entry does not start the chain")
			}
			v.vouched = true
		}
	} else {
		if e.Seq != v.last.Seq+1 {
			return &AuditBreak{Seq: v.last.Seq + 1, Reason: fmt.Sprintf("entries %d to %d are missing (deleted entries)", v.last.Seq+1, e.Seq-1)}
		}
		if !bytes.Equal(e.PrevHash, v.last.Hash) {
			return brk("it does not follow the previous entry (an entry before it was changed, removed or inserted)")
		}
	}
	v.Vouch(check)
	v.n++
	e.Details = nil
	v.last = &e
	return nil
}

// Vouch takes cp, if it is the retention checkpoint of the entries
// before the first one added, as accounting for them, and reports
// whether they are accounted for. Add calls it for every entry; a
// verification that does not reach cp (one checked in parts) can find it
// first and call Vouch, then Finish at any point: cp's own place in the
// chain is checked when Add reaches it.
func (v *AuditVerifier) Vouch(cp AuditEntry) bool {
	if !v.vouched && v.firstSeq != 0 && cp.Type == AuditCheckpoint {
		through, err := strconv.ParseInt(cp.Details["dropped_through"], 10, 64)
		if err == nil && through == v.firstSeq-1 && cp.Details["last_hash"] == hex.EncodeToString(v.firstPrev) {
			v.vouched = true
		}
	}
	return v.vouched
}

// Finish reports whether what was fed is a whole chain: it fails if the
// first entry is not the first ever and no checkpoint vouches for the
// entries dropped before it. It returns the number of entries checked.
func (v *AuditVerifier) Finish() (int64, error) {
	if v.last != nil && !v.vouched {
		return v.n, &AuditBreak{Seq: v.firstSeq, Reason: fmt.Sprintf("entries before %d are missing and no checkpoint accounts for them (deleted leading entries)", v.firstSeq)}
	}
	return v.n, nil
}

// ErrAuditBroken matches every *AuditBreak with errors.Is.
var ErrAuditBroken = errors.New("audit chain broken")

// Is makes errors.Is(err, ErrAuditBroken) true for an *AuditBreak.
func (b *AuditBreak) Is(target error) bool { return target == ErrAuditBroken }
