package devkit

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/idvauth/idvauth/authz/internal/devca"
)

// CertFiles are the paths WriteCert wrote.
type CertFiles struct {
	Certificate, Key string
	JWKS             string // "" when there was no JWKS
}

// WriteCert writes base.key (mode 0600), base.crt and, when jwks is not
// nil, base.jwks.json into dir, which it creates (0700). It overwrites
// nothing: if any of the files exists, it writes none.
func WriteCert(dir, base string, certPEM, keyPEM, jwks []byte) (CertFiles, error) {
	out := CertFiles{Certificate: filepath.Join(dir, base+".crt"), Key: filepath.Join(dir, base+".key")}
	type file struct {
		path string
		data []byte
		mode os.FileMode
	}
	files := []file{{out.Key, keyPEM, 0o600}, {out.Certificate, certPEM, 0o644}}
	if jwks != nil {
		out.JWKS = filepath.Join(dir, base+".jwks.json")
		files = append(files, file{out.JWKS, jwks, 0o644})
	}
	for _, f := range files {
		if _, err := os.Stat(f.path); err == nil {
			return out, fmt.Errorf("%s exists: not overwritten (choose another --out)", f.path)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return out, err
	}
	for _, f := range files {
		if err := writeNew(f.path, f.data, f.mode); err != nil {
			return out, err
		}
	}
	return out, nil
}

// UnignoredInRepo returns the root of the git work tree that holds dir
// when git does not ignore dir, "" otherwise (also when git is missing:
// then it cannot be committed by mistake either).
func UnignoredInRepo(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	root := abs
	for {
		if _, err := os.Stat(filepath.Join(root, ".git")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			return ""
		}
		root = parent
	}
	// git check-ignore exits 0 when the path is ignored, 1 when it is not.
	cmd := exec.Command("git", "-C", root, "check-ignore", "-q", "--", abs+string(filepath.Separator))
	var ee *exec.ExitError
	if err := cmd.Run(); errors.As(err, &ee) && ee.ExitCode() == 1 {
		return root
	}
	return ""
}

// writeNew creates path with mode, failing if it exists.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// The development CA of `idvauth certs`, for trying mutual TLS on one
// machine; see package devca.
type (
	// CertKind is what IssueCert makes.
	CertKind = devca.Kind
	// CertRequest describes a certificate for IssueCert.
	CertRequest = devca.Request
	// IssuedCert is what IssueCert made.
	IssuedCert = devca.Issued
)

// Certificate kinds.
const (
	CertCA     = devca.CA
	CertServer = devca.Server
	CertClient = devca.Client
)

// IssueCert makes the certificate req describes.
func IssueCert(req CertRequest) (IssuedCert, error) { return devca.Issue(req) }
