// Package keys holds idvauth's signing keys: generation, encryption at rest
// (AES-256-GCM under keys derived from the operator's secrets), the key
// ring that picks the active signer per algorithm, JWS signing and
// verification, and the public JSON Web Key Set.
//
// keys knows nothing of HTTP or OAuth; it signs and verifies bytes.
package keys
