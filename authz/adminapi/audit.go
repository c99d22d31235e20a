package adminapi

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/idvauth/idvauth/storage"
)

// Audit event types: the Type of every entry the server writes, and what
// the type filter of GET /admin/audit takes.
const (
	EventTokenIssued       = "token.issued"
	EventTokenRefused      = "token.refused"
	EventTokenIntrospected = "token.introspected"
	EventTokenRevoked      = "token.revoked"
	EventClientCreated     = "client.created"
	EventClientUpdated     = "client.updated"
	EventClientDeleted     = "client.deleted"
	EventClientSecret      = "client.secret_rotated"
	// EventClientLocked: failed client authentications from one address
	// reached the limit; that client ID is refused from there for a while.
	EventClientLocked   = "client.locked"
	EventKeyCreated     = "key.created"
	EventKeyActivated   = "key.activated"
	EventKeyRetired     = "key.retired"
	EventKeyRemoved     = "key.removed"
	EventLoginSucceeded = "login.succeeded"
	EventLoginFailed    = "login.failed"
	// EventMFASucceeded and EventMFAFailed are second-factor attempts
	// (details: factor, and action "enroll" for an enrollment);
	// EventMFAReset is an operator removing a person's factors.
	EventMFASucceeded     = "login.mfa_succeeded"
	EventMFAFailed        = "login.mfa_failed"
	EventMFAReset         = "user.mfa_reset"
	EventConsentGiven     = "consent.given"
	EventConsentWithdrawn = "consent.withdrawn"
	EventUserCreated      = "user.created"
	EventUserDeleted      = "user.deleted"
	EventUserErased       = "user.erased"
	// EventRequestPushed: a client pushed an authorization request
	// (RFC 9126), accepted or refused; the entry names the parameters,
	// never their values.
	EventRequestPushed = "authorization_request.pushed"
	// EventUserinfoRead: a client read a person's claims at /userinfo.
	EventUserinfoRead = "userinfo.read"
	// EventUserExported: everything held about a person was read out.
	EventUserExported = "user.exported"
	// Changes to a person's account, by themselves on /account (details
	// "via": "account") or by an operator: EventUserUpdated lists the
	// changed fields' names in "fields", never their values.
	EventUserUpdated          = "user.updated"
	EventPasswordChanged      = "user.password_changed"
	EventPasswordResetIssued  = "user.password_reset_issued"
	EventFactorAdded          = "user.factor_added"
	EventFactorRemoved        = "user.factor_removed"
	EventRecoveryCodesRenewed = "user.recovery_codes_renewed"
	EventSessionEnded         = "user.session_ended"
	// EventAdminRequest is an admin API call that changed nothing (a read,
	// or a refused change).
	EventAdminRequest = "admin.request"
	// EventLogout: a person's browser session was logged out (details:
	// the clients told by back-channel logout). EventBackchannelLogout is
	// one delivery of a logout token to a client (outcome: delivered,
	// retry, failed, dropped).
	EventLogout            = "logout.completed"
	EventBackchannelLogout = "logout.backchannel"
	// EventAuditCheckpoint stands for entries dropped by retention.
	EventAuditCheckpoint = "audit.checkpoint"
)

// AuditEntryJSON is an audit entry in the admin API.
type AuditEntryJSON struct {
	Seq       int64             `json:"seq"`
	Time      string            `json:"time"`
	Type      string            `json:"type"`
	Actor     string            `json:"actor"`
	RequestID string            `json:"request_id,omitempty"`
	ClientID  string            `json:"client_id,omitempty"`
	Subject   string            `json:"subject,omitempty"`
	IP        string            `json:"ip,omitempty"`
	Outcome   string            `json:"outcome"`
	Details   map[string]string `json:"details,omitempty"`
	PrevHash  string            `json:"prev_hash"`
	Hash      string            `json:"hash"`
}

// AuditEntryOf is e as the admin API shows it (and as audit shipping
// sends it).
func AuditEntryOf(e storage.AuditEntry) AuditEntryJSON {
	return AuditEntryJSON{
		Seq: e.Seq, Time: e.Time.UTC().Format(time.RFC3339Nano), Type: e.Type, Actor: e.Actor, RequestID: e.RequestID,
		ClientID: e.ClientID, Subject: e.Subject, IP: e.IP, Outcome: e.Outcome, Details: e.Details,
		PrevHash: hex.EncodeToString(e.PrevHash), Hash: hex.EncodeToString(e.Hash),
	}
}

// AuditPage is the answer of GET /admin/audit: entries in order, and the
// cursor of the next page ("" on the last page).
type AuditPage struct {
	Entries    []AuditEntryJSON `json:"entries"`
	NextCursor string           `json:"next_cursor"`
}

// MaxAuditPage is the most entries one page of GET /admin/audit holds: the
// largest limit it takes.
const MaxAuditPage = 1000

// AuditVerification is the answer of GET /admin/audit/verify.
type AuditVerification struct {
	// OK: every entry checked is intact and linked to the one before;
	// when Complete, the chain also ends at its head.
	OK bool `json:"ok"`
	// Complete: the check reached the head of the chain. Only a call
	// with a limit can end before it; continue it from LastSeq:LastHash.
	Complete bool `json:"complete"`
	// Entries is how many entries were checked.
	Entries int64 `json:"entries"`
	// FirstSeq and LastSeq bound the entries that were checked; LastHash
	// is the hash of the last (keep it: a later verification from
	// LastSeq:LastHash shows whether the chain up to it was rewritten,
	// and one whose chain no longer holds it, that entries were removed
	// from the end). With from and nothing after it, LastSeq:LastHash is
	// from.
	FirstSeq int64  `json:"first_seq,omitempty"`
	LastSeq  int64  `json:"last_seq,omitempty"`
	LastHash string `json:"last_hash,omitempty"`
	// BrokenAt and Reason name the first broken link when !OK.
	BrokenAt int64  `json:"broken_at,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// AuditAnchor is an audit entry checked before, and the hash it had then:
// a verification can start after it.
type AuditAnchor struct {
	Seq  int64
	Hash []byte
}

// MaxAuditVerifyLimit bounds the limit of one GET /admin/audit/verify.
const MaxAuditVerifyLimit = 1_000_000

// ParseAuditAnchor reads SEQ:HASH, an entry's seq and its hash in hex, as
// a verification prints them.
func ParseAuditAnchor(v string) (AuditAnchor, error) {
	seq, h, ok := strings.Cut(v, ":")
	n, err := strconv.ParseInt(seq, 10, 64)
	if !ok || err != nil || n < 1 || len(h) != 64 || strings.ToLower(h) != h {
		return AuditAnchor{}, errors.New("must be SEQ:HASH, an entry's seq and its 64-hex-digit hash, as audit verify prints them (e.g. 42:" + strings.Repeat("0", 64) + ")")
	}
	hash, err := hex.DecodeString(h)
	if err != nil {
		return AuditAnchor{}, errors.New("must be SEQ:HASH with HASH in hex (lower case)")
	}
	return AuditAnchor{Seq: n, Hash: hash}, nil
}

// AuditQuery selects the entries of GET /admin/audit; a zero field does
// not filter, and the zero AuditQuery selects every entry.
type AuditQuery struct {
	Since    time.Time // at or after
	Until    time.Time // before
	Type     string    // an Event name
	ClientID string
	Subject  string // a person's user ID
}

func (q AuditQuery) values() url.Values {
	v := url.Values{}
	for _, t := range []struct {
		name string
		t    time.Time
	}{{"since", q.Since}, {"until", q.Until}} {
		if !t.t.IsZero() {
			v.Set(t.name, t.t.UTC().Format(time.RFC3339Nano))
		}
	}
	for _, p := range [][2]string{{"type", q.Type}, {"client_id", q.ClientID}, {"subject", q.Subject}} {
		if p[1] != "" {
			v.Set(p[0], p[1])
		}
	}
	return v
}

// rawAuditPage is an AuditPage with its entries as sent.
type rawAuditPage struct {
	Entries    []json.RawMessage `json:"entries"`
	NextCursor string            `json:"next_cursor"`
}

// ListAudit reads the entries q selects, oldest first, with GET
// /admin/audit page after page, and hands each to each: decoded, and as
// sent (a copy). It stops after limit entries (0: after the last page) or
// at the first error, of a call or of each, and returns how many entries
// it handed on.
func (c *Client) ListAudit(ctx context.Context, q AuditQuery, limit int, each func(AuditEntryJSON, json.RawMessage) error) (int, error) {
	v, n := q.values(), 0
	for {
		size := MaxAuditPage
		if limit > 0 && limit-n < size {
			size = limit - n
		}
		v.Set("limit", strconv.Itoa(size))
		p, _, err := call[rawAuditPage](ctx, c, http.MethodGet, "/admin/audit", v, nil)
		if err != nil {
			return n, err
		}
		for _, raw := range p.Entries {
			var e AuditEntryJSON
			if err := json.Unmarshal(raw, &e); err != nil {
				return n, errAnswer(err)
			}
			if err := each(e, raw); err != nil {
				return n, err
			}
			n++
		}
		if p.NextCursor == "" || (limit > 0 && n >= limit) {
			return n, nil
		}
		if len(p.Entries) == 0 || p.NextCursor == v.Get("cursor") {
			return n, errAnswer(fmt.Errorf("next_cursor %q does not move on", p.NextCursor))
		}
		v.Set("cursor", p.NextCursor)
	}
}

// VerifyAudit has the server check the audit trail's hash chain (GET
// /admin/audit/verify): from its start, or after from, a SEQ:HASH that a
// verification returned before (see ParseAuditAnchor); and at most limit
// entries (1 to MaxAuditVerifyLimit; 0: to the head). An incomplete
// answer continues from its LastSeq:LastHash.
func (c *Client) VerifyAudit(ctx context.Context, from string, limit int64) (AuditVerification, []byte, error) {
	q := url.Values{}
	if limit != 0 {
		q.Set("limit", strconv.FormatInt(limit, 10))
	}
	if from != "" {
		q.Set("from", from)
	}
	return call[AuditVerification](ctx, c, http.MethodGet, "/admin/audit/verify", q, nil)
}
