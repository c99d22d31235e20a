// Package mfa holds the factor logic of multi-factor sign-in, with no
// HTTP in it: the authentication methods and context classes an ID token
// reports (RFC 8176 amr, idvauth's acr values) and how strong each is,
// TOTP factors (RFC 6238 through github.com/pquerna/otp; secrets sealed at
// rest by keys.Sealer), one-time recovery codes, and the QR code of an
// otpauth:// URI as SVG. authz/login drives the sign-in pages with it.
package mfa
