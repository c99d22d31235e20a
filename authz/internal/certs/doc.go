// Package certs holds the certificate handling of the mTLS client
// authentication methods: RFC 4514 distinguished names and their
// comparison, client certificates forwarded by a TLS-terminating proxy,
// RFC 8705 thumbprints, and TLS files that are read again when they
// change. It keeps no server state.
package certs
