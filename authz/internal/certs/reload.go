package certs

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Reloading is a value loaded from files and loaded again when one of them
// changes (checked at most once a second, on use). A failed reload keeps
// the previous value and is logged. Build it with NewReloading; it is safe
// for concurrent use.
type Reloading[T any] struct {
	paths []string
	load  func() (T, error)
	log   *zap.Logger

	mu      sync.Mutex
	cur     T
	stamp   string
	checked time.Time
}

// NewReloading loads the value with load, which reads paths, and returns
// it wrapped; it fails if the files cannot be read or load fails.
func NewReloading[T any](log *zap.Logger, load func() (T, error), paths ...string) (*Reloading[T], error) {
	r := &Reloading[T]{paths: paths, load: load, log: log}
	stamp, err := r.fileStamp()
	if err != nil {
		return nil, err
	}
	if r.cur, err = load(); err != nil {
		return nil, err
	}
	r.stamp, r.checked = stamp, time.Now()
	return r, nil
}

// fileStamp identifies the files' current versions.
func (r *Reloading[T]) fileStamp() (string, error) {
	var b strings.Builder
	for _, p := range r.paths {
		fi, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%d/%d;", fi.ModTime().UnixNano(), fi.Size())
	}
	return b.String(), nil
}

// Get returns the current value, loading it again first if a file
// changed since the last look.
func (r *Reloading[T]) Get() (T, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) < time.Second {
		return r.cur, nil
	}
	r.checked = time.Now()
	stamp, err := r.fileStamp()
	if err != nil || stamp == r.stamp {
		return r.cur, nil
	}
	v, err := r.load()
	if err != nil {
		r.log.Warn("reload failed; keeping the previous version", zap.Strings("files", r.paths), zap.Error(err))
		return r.cur, nil
	}
	r.cur, r.stamp = v, stamp
	r.log.Info("reloaded", zap.Strings("files", r.paths))
	return v, nil
}

// LoadKeyPair returns a loader of a PEM certificate chain and its key.
func LoadKeyPair(certFile, keyFile string) func() (*tls.Certificate, error) {
	return func() (*tls.Certificate, error) {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("TLS certificate: %w", err)
		}
		return &c, nil
	}
}

// LoadCertPool returns a loader of a PEM file of CA certificates.
func LoadCertPool(file string) func() (*x509.CertPool, error) {
	return func() (*x509.CertPool, error) {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("TLS client CA: %w", err)
		}
		p := x509.NewCertPool()
		if !p.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("TLS client CA: %s holds no PEM certificate", file)
		}
		return p, nil
	}
}

// ServerConfig is the TLS configuration of a listener serving cert: TLS
// 1.2 at least, only AEAD cipher suites with forward secrecy (TLS 1.3
// suites are all such), the certificate read again when its files change.
// suites, if not nil, replaces the TLS 1.2 suites (a profile's stricter
// list); TLS 1.3 is not affected. With requestClientCerts, clients are
// asked for a certificate (not required: each client's registered method
// decides). nil if cert is nil.
func ServerConfig(cert *Reloading[*tls.Certificate], requestClientCerts bool, suites []uint16) *tls.Config {
	if cert == nil {
		return nil
	}
	if suites == nil {
		suites = []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		}
	}
	c := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   slices.Clone(suites),
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert.Get() },
	}
	if requestClientCerts {
		c.ClientAuth = tls.RequestClientCert
	}
	return c
}

// LoadListener reads a TLS listener's certificate and key (certFile,
// keyFile; none if certFile is empty) and the CAs of its client
// certificates (caFile; none if empty), each reloaded when its files
// change.
func LoadListener(log *zap.Logger, certFile, keyFile, caFile string) (cert *Reloading[*tls.Certificate], cas *Reloading[*x509.CertPool], err error) {
	if certFile != "" {
		if cert, err = NewReloading(log, LoadKeyPair(certFile, keyFile), certFile, keyFile); err != nil {
			return nil, nil, err
		}
	}
	if caFile != "" {
		if cas, err = NewReloading(log, LoadCertPool(caFile), caFile); err != nil {
			return nil, nil, err
		}
	}
	return cert, cas, nil
}
