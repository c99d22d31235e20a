package console

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/adminauth"
	"github.com/idvauth/idvauth/keys"
)

// Manage is what the management pages need beyond the admin API; its
// zero value shows no token figures and no rotation schedule.
type Manage struct {
	// Stats returns the token responses this server sent in the last
	// hour and the token requests it refused (its own, not the other
	// replicas'); nil: the dashboard shows none.
	Stats func() (issued, refused int64)
	// KeySchedule is the signing keys' automatic rotation
	// (settings.Config.KeySchedule); Every 0: by hand only.
	KeySchedule keys.Schedule
}

// manageData is the page data of the management pages (keys, audit,
// clients' edit, people's export, the dashboard's figures).
type manageData struct {
	// Stats is this server's token answers of the last hour (dashboard).
	Stats *tokenStats
	// KeyRows are the signing keys with their ages and next steps.
	KeyRows []keyRow
	// Head is the audit trail's last entry (dashboard).
	Head *adminapi.AuditHeadJSON
	// Verified is the result of an audit verification; Anchor its
	// SEQ:HASH to keep.
	Verified *adminapi.AuditVerification
	Anchor   string
	// Filter is the audit page's filter as typed; NextPage the link to
	// the page after this one ("" on the last).
	Filter   auditFilter
	NextPage string
	// Pending is a change held for a second operator (four-eyes).
	Pending *pendingView
	// Edit is the client edit form as shown (or as typed, after an
	// error).
	Edit *clientForm
}

// tokenStats are the figures of Manage.Stats.
type tokenStats struct{ Issued, Refused int64 }

// pendingView is a four-eyes request as a page shows it.
type pendingView struct {
	ID, Action, Target, Expires string
}

// manageRoutes adds the management pages' routes.
func (h *Handler) manageRoutes(m *http.ServeMux, v views) {
	m.Handle("POST "+Prefix+"/keys/rotate", h.signedIn(v.rotateKeys))
	m.Handle("POST "+Prefix+"/keys/{kid}/retire", h.signedIn(v.retireKey))
	m.Handle("POST "+Prefix+"/audit/verify", h.signedIn(v.verifyAudit))
	m.Handle("GET "+Prefix+"/clients/{id}/edit", h.signedIn(v.editClient))
	m.Handle("POST "+Prefix+"/clients/{id}/edit", h.signedIn(v.updateClient))
	m.Handle("GET "+Prefix+"/people/{id}/export", h.signedIn(v.exportPerson))
}

// pendingOf returns the four-eyes request that err says a change was
// held as, if it was.
func pendingOf(err error) (*pendingView, bool) {
	var p *adminapi.Pending
	if !errors.As(err, &p) {
		return nil, false
	}
	return &pendingView{ID: p.Request.ID, Action: p.Request.Action, Target: p.Request.Target,
		Expires: adminapi.UnixTime(p.Request.ExpiresAt)}, true
}

// refuse answers a form the console itself refuses (a typed confirmation
// that does not match, a value that cannot be read): 400, nothing done.
func (h views) refuse(w http.ResponseWriter, r *http.Request, c *op, title, text string) {
	d := c.data(title)
	d.Error = text
	h.render(w, r, http.StatusBadRequest, "message", d)
}

// ago says how long d is, roughly, for people.
func ago(d time.Duration) string {
	switch {
	case d < 0:
		return "0 minutes"
	case d < 2*time.Hour:
		return plural(int64(d/time.Minute), "minute")
	case d < 48*time.Hour:
		return plural(int64(d/time.Hour), "hour")
	}
	return plural(int64(d/(24*time.Hour)), "day")
}

func plural(n int64, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// renewToken gives the operator of r a new admin API token now, in their
// session cookie and in c: the one they hold may have just stopped
// working (signed by a key whose tokens they revoked).
func (h *Handler) renewToken(w http.ResponseWriter, r *http.Request, c *op) error {
	st, rec, ok, err := h.readSession(r)
	if err != nil {
		return err
	} else if !ok {
		return errors.New("console: the session ended")
	}
	if err := h.issueToken(w, r, &st, rec, c.o, adminauth.RoleScopes(c.o.Role)); err != nil {
		return err
	}
	api, err := h.apiAs(r, st.Tok)
	if err != nil {
		return err
	}
	c.api, c.fresh = api, true
	return nil
}
