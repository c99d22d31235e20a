// Package deptest enforces idvauth's dependency table: which package may
// import which, as docs/design.md lays it out. It holds no code, only
// deps_test.go, which runs
//
//	go list -e -deps -json ./...
//
// from the module root and checks every package of the module against a
// list of rules, each with the reason it exists. The rules name packages
// by pattern ("storage/..." is storage and everything under it), so a new
// package is checked as soon as it exists. A failure names the importer,
// the import (and, for a dependency that arrives indirectly, the path it
// arrives by) and the reason:
//
//	github.com/idvauth/idvauth/storage/memory imports net/http (via
//	github.com/idvauth/idvauth/storage/memory → go.uber.org/zap → net/http):
//	storage, keys: no HTTP: the store and the key ring know records, ...
//
// A second test runs the rules on made-up graphs, so that each is seen to
// fire. Change a rule only together with docs/design.md, and say why in
// the commit.
//
// The test checks the platform it runs on; no package under a rule has
// platform-specific files today. It reads every package directory itself,
// so that go test's result cache notices a changed import.
package deptest
