package authz

import "github.com/idvauth/idvauth/authz/internal/devca"

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
