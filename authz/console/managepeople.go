package console

import (
	"net/http"
	"regexp"
)

// unsafeInName are the characters kept out of a download's file name.
var unsafeInName = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// exportPerson downloads everything held about a person, as the admin
// API exports it (GET /admin/users/{id}/export, audited there): an
// attachment, never cached.
func (h views) exportPerson(w http.ResponseWriter, r *http.Request, c *op) {
	ctx, cancel := within(r)
	defer cancel()
	id := r.PathValue("id")
	_, raw, err := c.api.ExportUser(ctx, id)
	if err != nil {
		h.apiError(w, r, c, err)
		return
	}
	name := unsafeInName.ReplaceAllString(id, "_")
	if len(name) > 64 {
		name = name[:64]
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Content-Disposition", `attachment; filename="person-`+name+`.json"`)
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(raw)
}
