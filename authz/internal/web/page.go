package web

import (
	"bytes"
	"net/http"

	"go.uber.org/zap"
)

// PageHeaders sets the headers of every server-rendered HTML page, with
// the Content-Security-Policy csp: not framed, not cached, no referrer.
func PageHeaders(w http.ResponseWriter, csp string) {
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", csp)
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Pragma", "no-cache")
	hd.Set("X-Content-Type-Options", "nosniff")
}

// WritePage renders a page into a buffer, then writes it with status
// under the policy csp. A render that fails is logged on log and
// answered with a fixed 500 page under the policy strict.
func WritePage(w http.ResponseWriter, r *http.Request, log *zap.Logger, status int, csp, strict string, render func(*bytes.Buffer) error) {
	var buf bytes.Buffer
	if err := render(&buf); err != nil {
		log.Error("render page", RequestField(r.Context()), zap.Error(err))
		PageHeaders(w, strict)
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("<!doctype html><title>Error</title><p>The server met an unexpected condition.</p>\n"))
		return
	}
	PageHeaders(w, csp)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
