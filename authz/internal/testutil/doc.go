// Package testutil holds test helpers that need no server: Eventually
// waits for a condition, with a deadline; Clock is a clock a test moves by
// hand; and NewCert makes the certificates the mutual TLS tests present.
// The harness that starts servers lives in package authz's tests
// (harness_test.go), since it needs authz, which the internal leaves must
// not import.
//
// Every helper takes the test, calls t.Helper and cleans up with
// t.Cleanup.
package testutil
