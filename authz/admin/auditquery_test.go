package admin

import (
	"encoding/hex"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/storage"
)

func TestAuditFilter(t *testing.T) {
	for _, tc := range []struct {
		query   string
		want    storage.AuditFilter
		wantErr string
	}{
		{"", storage.AuditFilter{Limit: DefaultAuditPage}, ""},
		{"since=2026-11-23T10:00:00Z&until=2026-11-24T09:00:00Z&type=token.issued&client_id=c&subject=u_1&cursor=7&limit=1000",
			storage.AuditFilter{Since: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC), Until: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC),
				Type: "token.issued", ClientID: "c", Subject: "u_1", AfterSeq: 7, Limit: 1000}, ""},
		{"type=a&type=b", storage.AuditFilter{}, "The parameter 'type' is given more than once."},
		{"sort=seq", storage.AuditFilter{}, "Unknown parameter 'sort'; known: since, until, type, client_id, subject, cursor, limit."},
		{"since=yesterday", storage.AuditFilter{}, "'since' must be an RFC 3339 time, e.g. 2026-11-23T10:00:00Z."},
		{"until=2026-11-23", storage.AuditFilter{}, "'until' must be an RFC 3339 time, e.g. 2026-11-23T10:00:00Z."},
		{"cursor=-1", storage.AuditFilter{}, "'cursor' must be the next_cursor of an earlier page."},
		{"cursor=x", storage.AuditFilter{}, "'cursor' must be the next_cursor of an earlier page."},
		{"limit=0", storage.AuditFilter{}, "'limit' must be a whole number from 1 to 1000."},
		{"limit=1001", storage.AuditFilter{}, "'limit' must be a whole number from 1 to 1000."},
		{"subject=%00", storage.AuditFilter{}, "A filter value is too long or not valid text."},
		{"client_id=%ff", storage.AuditFilter{}, "A filter value is too long or not valid text."},
	} {
		q, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		got, err := auditFilter(q)
		switch {
		case tc.wantErr != "":
			if err == nil || err.Error() != "invalid_request: "+tc.wantErr {
				t.Errorf("auditFilter(%q) = %v, want invalid_request: %s", tc.query, err, tc.wantErr)
			}
		case err != nil || !reflect.DeepEqual(got, tc.want):
			t.Errorf("auditFilter(%q) = %+v, %v, want %+v", tc.query, got, err, tc.want)
		}
	}
}

func TestAuditVerifyQuery(t *testing.T) {
	for _, tc := range []struct {
		query     string
		wantFrom  *adminapi.AuditAnchor
		wantLimit int64
		wantErr   string
	}{
		{"", nil, 0, ""},
		{"from=3:" + hex.EncodeToString(storage.ZeroAuditHash()) + "&limit=10", &adminapi.AuditAnchor{Seq: 3, Hash: storage.ZeroAuditHash()}, 10, ""},
		{"limit=1&limit=2", nil, 0, "The parameter 'limit' is given more than once."},
		{"to=3", nil, 0, "Unknown parameter 'to'; known: from, limit."},
		{"limit=", nil, 0, "'limit' must be a whole number from 1 to 1000000."},
		{"from=", nil, 0, "'from' must be SEQ:HASH, "},
	} {
		q, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		from, limit, err := auditVerifyQuery(q)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.HasPrefix(err.Error(), "invalid_request: "+tc.wantErr) {
				t.Errorf("auditVerifyQuery(%q) = %v, want invalid_request: %s", tc.query, err, tc.wantErr)
			}
		case err != nil || !reflect.DeepEqual(from, tc.wantFrom) || limit != tc.wantLimit:
			t.Errorf("auditVerifyQuery(%q) = %v, %d, %v, want %v, %d", tc.query, from, limit, err, tc.wantFrom, tc.wantLimit)
		}
	}
}
