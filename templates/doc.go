// Package templates renders the pages idvauth shows to people: sign-in,
// consent, sign-out confirmation, a plain message and an error page.
//
// The pages are html/template files embedded in the binary and parsed once
// by New; a Pages is then safe for concurrent use and renders without
// parsing or reading files. Every value is escaped for its context by
// html/template, so callers pass plain strings, never HTML.
//
// The pages use no external assets and no inline style attributes, and
// no JavaScript but static files: the embedded static directory (e.g.
// static/webauthn.js, the passkey ceremonies) is served at AssetsPath
// under names that hold a content hash (Pages.Asset, Pages.AssetPath); a
// page that needs one names it with the template function "asset" in its
// "scripts" block and is served under Pages.CSPScript, which adds
// script-src 'self' and connect-src 'self' and nothing else. Every other page runs no script.
//
// All CSS sits in one style element, identical on every page, whose
// SHA-256 hash Pages.CSP names, so the server can serve the pages under a
// strict Content-Security-Policy. The caller sets that header and
// the rest of the response: for example
//
//	var buf bytes.Buffer
//	if err := pages.Login(&buf, data); err != nil { ... }
//	h := w.Header()
//	h.Set("Content-Type", "text/html; charset=utf-8")
//	h.Set("Content-Security-Policy", pages.CSP())
//	h.Set("Cache-Control", "no-store")
//	h.Set("X-Content-Type-Options", "nosniff")
//	h.Set("Referrer-Policy", "no-referrer") // the forms carry CSRF tokens; no Origin check depends on it
//	w.WriteHeader(status)
//	buf.WriteTo(w)
//
// Rendering writes straight to the writer; a caller that wants to choose
// the status code after a possible error renders into a buffer first.
package templates
