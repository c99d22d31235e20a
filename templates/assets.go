package templates

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// AssetsPath is the URL path under which the pages' static files are
// served: AssetsPath + "webauthn.1a2b3c4d5e6f.js". The name holds the
// first 12 hex digits of the file's SHA-256, so a file can be cached for
// good and a new release never meets a stale copy.
const AssetsPath = "/assets/"

// Asset is one static file of the pages, as the server sends it.
type Asset struct {
	// Name is the file's name in the embedded static directory, e.g.
	// "webauthn.js"; pages refer to it by this name.
	Name string
	// Path is its public URL path: AssetsPath, the name with the content
	// hash before the extension.
	Path string
	// ContentType is the Content-Type header to send.
	ContentType string
	// ETag is a strong entity tag: the quoted base64 SHA-256 of Body.
	ETag string
	// Body is the file's content; callers must not modify it.
	Body []byte
}

// assetTypes are the Content-Types of the extensions a static file may
// have (RFC 9239 for JavaScript); a file with another one is refused at
// start-up rather than served with a guessed type.
var assetTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
}

// loadAssets reads every file of the static directory of fsys.
func loadAssets(fsys fs.FS) (map[string]Asset, error) {
	byName := map[string]Asset{}
	err := fs.WalkDir(fsys, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := strings.TrimPrefix(p, "static/")
		ext := path.Ext(name)
		ct, ok := assetTypes[ext]
		if !ok || strings.Contains(name, "/") {
			return fmt.Errorf("templates: static file %s: only top-level .js and .css files are served", p)
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return fmt.Errorf("templates: %w", err)
		}
		sum := sha256.Sum256(body)
		byName[name] = Asset{
			Name:        name,
			Path:        AssetsPath + strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:6]) + ext,
			ContentType: ct,
			ETag:        `"` + base64.RawURLEncoding.EncodeToString(sum[:]) + `"`,
			Body:        body,
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return byName, nil
}

// Asset returns the static file served at the URL path urlPath (which
// starts with AssetsPath), and false for any other path: an unknown name,
// a name without its current hash, or one with dot segments.
func (p *Pages) Asset(urlPath string) (Asset, bool) {
	a, ok := p.assetsByPath[urlPath]
	return a, ok
}

// AssetPath returns the public URL path of the static file name (e.g.
// "webauthn.js"), and false if there is none. Pages use it through the
// template function "asset".
func (p *Pages) AssetPath(name string) (string, bool) {
	a, ok := p.assets[name]
	return a.Path, ok
}

// Assets returns every static file, sorted by name.
func (p *Pages) Assets() []Asset {
	list := make([]Asset, 0, len(p.assets))
	for _, a := range p.assets {
		list = append(list, a)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	return list
}
