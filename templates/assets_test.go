package templates

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
)

func TestAssetWebAuthn(t *testing.T) {
	p := newPages(t)
	path, ok := p.AssetPath("webauthn.js")
	if !ok {
		t.Fatal(`AssetPath("webauthn.js") = false, want the script`)
	}
	body, err := fs.ReadFile(files, "static/webauthn.js")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	if want := "/assets/webauthn." + hex.EncodeToString(sum[:6]) + ".js"; path != want {
		t.Errorf(`AssetPath("webauthn.js") = %q, want %q`, path, want)
	}
	a, ok := p.Asset(path)
	if !ok {
		t.Fatalf("Asset(%q) = false, want the script", path)
	}
	if !bytes.Equal(a.Body, body) || a.Name != "webauthn.js" {
		t.Errorf("Asset(%q) = %s with %d bytes, want webauthn.js with the embedded %d bytes", path, a.Name, len(a.Body), len(body))
	}
	if want := "text/javascript; charset=utf-8"; a.ContentType != want {
		t.Errorf("ContentType = %q, want %q", a.ContentType, want)
	}
	if want := `"` + base64.RawURLEncoding.EncodeToString(sum[:]) + `"`; a.ETag != want {
		t.Errorf("ETag = %s, want %s", a.ETag, want)
	}
	if got := p.Assets(); len(got) != 1 || got[0].Path != path {
		t.Errorf("Assets() = %d files, want webauthn.js only", len(got))
	}
}

func TestAssetUnknownPaths(t *testing.T) {
	p := newPages(t)
	path, _ := p.AssetPath("webauthn.js")
	for _, u := range []string{
		"/assets/webauthn.js", // without its hash
		"/assets/webauthn.000000000000.js",
		"/assets/",
		"/assets/static/webauthn.js",
		"/assets/../templates.go",
		"/assets/../style.css",
		"/assets/./" + strings.TrimPrefix(path, "/assets/"),
		"/assets//" + strings.TrimPrefix(path, "/assets/"),
		strings.ToUpper(path),
		path + "/",
		path + "?x",
		"/style.css",
		"webauthn.js",
		"",
	} {
		if _, ok := p.Asset(u); ok {
			t.Errorf("Asset(%q) = true, want false", u)
		}
	}
	if _, ok := p.AssetPath("nope.js"); ok {
		t.Error(`AssetPath("nope.js") = true, want false`)
	}
}

// copyFiles returns the embedded files as a MapFS a test may change.
func copyFiles(t *testing.T) fstest.MapFS {
	t.Helper()
	fsys := fstest.MapFS{}
	err := fs.WalkDir(files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(files, path)
		fsys[path] = &fstest.MapFile{Data: data}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return fsys
}

func TestParseRejectsBadAssets(t *testing.T) {
	for name, file := range map[string]string{
		"unknown type": "static/page.html",
		"no type":      "static/README",
		"sub-folder":   "static/js/x.js",
	} {
		t.Run(name, func(t *testing.T) {
			fsys := copyFiles(t)
			fsys[file] = &fstest.MapFile{Data: []byte("x")}
			if _, err := parse(fsys); err == nil {
				t.Errorf("parse(with %s) error = nil, want an error", file)
			}
		})
	}
}

// A page that loads a script names it by name and gets its hashed path;
// an unknown name fails at parse time, not on a request.
func TestAssetTemplateFunc(t *testing.T) {
	fsys := copyFiles(t)
	fsys["logout.html"] = &fstest.MapFile{Data: []byte(`{{define "title"}}T{{end}}{{define "scripts"}}<script src="{{asset "webauthn.js"}}" defer></script>
{{end}}{{define "content"}}<p>x{{end}}`)}
	p, err := parse(fsys)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := p.Logout(&buf, LogoutData{}); err != nil {
		t.Fatal(err)
	}
	path, _ := p.AssetPath("webauthn.js")
	if want := `<script src="` + path + `" defer></script>`; !strings.Contains(buf.String(), want) {
		t.Errorf("page = %s\nwant it to hold %s", buf.String(), want)
	}

	fsys["logout.html"] = &fstest.MapFile{Data: []byte(`{{define "title"}}T{{end}}{{define "scripts"}}<script src="{{asset "nope.js"}}"></script>{{end}}{{define "content"}}x{{end}}`)}
	if _, err := parse(fsys); err == nil {
		t.Error(`parse(page with asset "nope.js") error = nil, want an error`)
	}
}

// No page loads script yet: they are served under CSPFormAction, which
// has no script-src, and must not need one.
func TestPagesHaveNoScript(t *testing.T) {
	p := newPages(t)
	for _, pg := range append(samplePages(), zeroPages()...) {
		if got := renderPage(t, p, pg); strings.Contains(strings.ToLower(got), "<script") {
			t.Errorf("%s page holds a script element; serve it under CSPScript and update this test", pg.name)
		}
	}
}

func TestCSPScript(t *testing.T) {
	p := newPages(t)
	got := p.CSPScript("https://app.example")
	if want := p.CSP() + "; script-src 'self'; connect-src 'self'; form-action 'self' https://app.example"; got != want {
		t.Errorf("CSPScript() = %q, want %q", got, want)
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "strict-dynamic", "*", "http:", "https:"} {
		if strings.Contains(got, bad+" ") || strings.Contains(got, "'"+bad+"'") {
			t.Errorf("CSPScript() = %q holds %s", got, bad)
		}
	}
	if strings.Contains(p.CSPFormAction(), "script-src") {
		t.Errorf("CSPFormAction() = %q, want no script-src", p.CSPFormAction())
	}
}
