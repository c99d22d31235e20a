// Package testutil is the harness of the tests of package authz: Start
// runs a server on loopback ports for a test, on a memory store or on
// PostgreSQL, and Backends runs a test on both; Eventually waits for a
// condition, with a deadline; Clock is a clock a test moves by hand; and
// NewCert makes the certificates the mutual TLS tests present.
//
// Every helper takes the test, calls t.Helper and cleans up with
// t.Cleanup.
package testutil
