package console

import (
	"context"
	"net/http"
	"time"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/adminauth"
	"github.com/idvauth/idvauth/keys"
)

// keyRow is a signing key with what the pages say about it.
type keyRow struct {
	adminapi.KeyJSON
	// Age is how long ago it was made; Next what happens to it next and
	// when, by the rotation schedule.
	Age, Next string
	// Retirable: it is not removed yet.
	Retirable bool
}

// keyRows describes the keys of kl at now, under schedule sc.
func keyRows(kl []adminapi.KeyJSON, sc keys.Schedule, now time.Time) []keyRow {
	at := func(s string) time.Time {
		t, _ := time.Parse(time.RFC3339, s)
		return t
	}
	// The next key of an algorithm signs when its active key rotates.
	rotates := map[string]time.Time{}
	for _, k := range kl {
		if k.State == keys.StateActive && sc.Every > 0 && k.ActivatedAt != "" {
			rotates[k.Alg] = at(k.ActivatedAt).Add(sc.Every)
		}
	}
	when := func(t time.Time) string {
		if !t.After(now) {
			return "due now"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC") + " (in " + ago(t.Sub(now)) + ")"
	}
	rows := make([]keyRow, 0, len(kl))
	for _, k := range kl {
		row := keyRow{KeyJSON: k, Age: ago(now.Sub(at(k.CreatedAt))), Retirable: k.State != keys.StateRemoved}
		t, scheduled := rotates[k.Alg]
		switch {
		case k.State == keys.StateActive && scheduled:
			row.Next = "retires " + when(t)
		case k.State == keys.StateActive:
			row.Next = "rotates by hand only"
		case k.State == keys.StateNext && scheduled:
			row.Next = "signs " + when(t)
		case k.State == keys.StateRetired && k.RetiredAt != "":
			row.Next = "leaves the JWKS " + when(at(k.RetiredAt).Add(sc.Retain))
		}
		rows = append(rows, row)
	}
	return rows
}

// dashboardFigures adds the dashboard's figures to d: this server's
// tokens of the last hour, the signing keys, and the audit head when the
// role may read the trail.
func (h views) dashboardFigures(ctx context.Context, c *op, d *pageData) error {
	if st := h.cfg.Manage.Stats; st != nil {
		issued, refused := st()
		d.Stats = &tokenStats{Issued: issued, Refused: refused}
	}
	d.KeyRows = keyRows(d.Keys, h.cfg.Manage.KeySchedule, h.now())
	if c.can[adminauth.AuditRead] {
		head, _, err := adminapi.AuditHead(ctx, c.api)
		if err != nil {
			return err
		}
		d.Head, d.Script = &head, h.pages.scriptPath
	}
	return nil
}

// keysPage shows the signing keys, with notice (after a change) or the
// request a change is held as.
func (h views) keysPage(w http.ResponseWriter, r *http.Request, c *op, status int, notice string, pending *pendingView) {
	ctx, cancel := within(r)
	defer cancel()
	kl, _, err := c.api.ListKeys(ctx)
	if err != nil {
		h.apiError(w, r, c, err)
		return
	}
	d := c.data("Signing keys")
	d.Keys, d.Notice, d.Pending = kl.Keys, notice, pending
	d.KeyRows = keyRows(kl.Keys, h.cfg.Manage.KeySchedule, h.now())
	h.render(w, r, status, "keys", d)
}

// rotateKeys makes a new key of every algorithm sign now.
func (h views) rotateKeys(w http.ResponseWriter, r *http.Request, c *op) {
	ctx, cancel := within(r)
	defer cancel()
	if _, _, err := c.api.RotateKeys(ctx, adminapi.RotateKeysRequest{}); err != nil {
		if p, ok := pendingOf(err); ok {
			h.keysPage(w, r, c, http.StatusAccepted, "", p)
			return
		}
		h.apiError(w, r, c, err)
		return
	}
	h.keysPage(w, r, c, http.StatusOK, "A new key of each algorithm signs from now; the keys before it are retired.", nil)
}

// retireKey retires a key; with revoke_tokens only once its key ID was
// typed to confirm, since every token it signed stops working.
func (h views) retireKey(w http.ResponseWriter, r *http.Request, c *op) {
	ctx, cancel := within(r)
	defer cancel()
	kid, f := r.PathValue("kid"), r.PostForm
	revoke := f.Get("revoke_tokens") != ""
	if revoke && f.Get("confirm") != kid {
		h.refuse(w, r, c, "Not retired", "To revoke a key's tokens, type its key ID exactly to confirm. Nothing was changed.")
		return
	}
	if _, _, err := c.api.RetireKey(ctx, kid, adminapi.RetireKeyRequest{RevokeTokens: revoke}); err != nil {
		if p, ok := pendingOf(err); ok {
			h.keysPage(w, r, c, http.StatusAccepted, "", p)
			return
		}
		h.apiError(w, r, c, err)
		return
	}
	notice := "Key " + kid + " is retired: it signs no more, and stays published until the tokens it signed expire."
	if revoke {
		notice = "Key " + kid + " is retired and withdrawn: every token it signed stops working."
		// The console's own token may be one of them.
		if err := h.renewToken(w, r, c); err != nil {
			h.unavailable(w, r, err)
			return
		}
	}
	h.keysPage(w, r, c, http.StatusOK, notice, nil)
}
